//! HTTP: POST one envelope to the gateway and read the whole answer, with one deadline. Every
//! failure becomes a [`TransportError`] that names the URL and says what to try.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

/// Largest response read; a listing of 100,000 slots is about 12 MB.
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// What came back.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    /// Status line text, e.g. `Internal Server Error`.
    pub reason: String,
    pub content_type: String,
    pub body: String,
}

/// Why no reply came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// Nothing accepts connections there.
    Unreachable { url: String, detail: String },
    /// The gateway did not answer within the deadline.
    Timeout { url: String, after: Duration },
    /// Anything else: the connection broke, the answer was too large or not text.
    Failed { url: String, detail: String },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Unreachable { url, detail } => write!(
                f,
                "cannot reach the Tessera gateway at {url} ({detail}).\n\
                 Is the service running? Start a local cluster and its gateway with `tesserad \
                 up`, or point --url (or TESSERA_URL) at a running gateway."
            ),
            TransportError::Timeout { url, after } => write!(
                f,
                "no answer from the gateway at {url} within {}s; the call may still take \
                 effect. Retry with a larger --timeout, or check the cluster with `tessera \
                 status`.",
                after.as_secs_f64()
            ),
            TransportError::Failed { url, detail } => {
                write!(f, "the call to the gateway at {url} failed: {detail}")
            }
        }
    }
}

impl std::error::Error for TransportError {}

/// The innermost cause's text, which is the informative one (e.g. "Connection refused").
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    // "Connection refused (os error 111)" → "Connection refused"
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    url: Url,
    timeout: Duration,
}

impl HttpClient {
    pub fn new(url: Url, timeout: Duration) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // The gateway is on this host or the LAN: a proxy from the environment would only
            // get in the way.
            .no_proxy()
            .user_agent(concat!("tessera-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Failed {
                url: url.to_string(),
                detail: root_cause(&e),
            })?;
        Ok(HttpClient {
            client,
            url,
            timeout,
        })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    fn classify(&self, e: &reqwest::Error) -> TransportError {
        let url = self.url.to_string();
        if e.is_timeout() {
            TransportError::Timeout {
                url,
                after: self.timeout,
            }
        } else if e.is_connect() {
            TransportError::Unreachable {
                url,
                detail: root_cause(e),
            }
        } else {
            TransportError::Failed {
                url,
                detail: root_cause(e),
            }
        }
    }

    /// POSTs `body` with `headers` and reads the whole answer.
    pub async fn post(
        &self,
        headers: &[(&'static str, String)],
        body: String,
    ) -> Result<HttpReply, TransportError> {
        let mut request = self.client.post(self.url.clone()).body(body);
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let mut response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(&e))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(TransportError::Failed {
                    url: self.url.to_string(),
                    detail: format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = String::from_utf8(bytes).map_err(|_| TransportError::Failed {
            url: self.url.to_string(),
            detail: format!("HTTP {status}: the response body is not UTF-8"),
        })?;
        Ok(HttpReply {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            content_type,
            body,
        })
    }
}
