//! HTTP and HTTPS: POST one envelope to the gateway and read the whole answer, with one
//! deadline. Every failure becomes a [`TransportError`] that names the URL and says what to try.

use std::fmt;
use std::path::Path;
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
    /// The gateway's TLS certificate could not be verified.
    Untrusted { url: String, detail: String },
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
            TransportError::Untrusted { url, detail } => write!(
                f,
                "the TLS certificate of the gateway at {url} could not be verified ({detail}). \
                 If it is signed by your own CA (e.g. the ca.pem of `tesserad dev-cert`), pass \
                 that CA with --cacert FILE (or TESSERA_CACERT)."
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

/// The certificate verification failure in `e`'s causes, if that is what went wrong.
fn certificate_error(e: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let rustls_error = c.downcast_ref::<rustls::Error>().or_else(|| {
            c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(why)) = rustls_error {
            return Some(format!("{why:?}"));
        }
        // hyper-util boxes the handshake error where it cannot be downcast; rustls's text is
        // stable ("invalid peer certificate: UnknownIssuer").
        let text = c.to_string();
        if let Some(why) = text.strip_prefix("invalid peer certificate: ") {
            return Some(why.to_owned());
        }
        cause = c.source();
    }
    None
}

/// HTTP Basic credentials for every request.
#[derive(Clone)]
pub struct Basic {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Basic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Basic({}, (hidden))", self.user)
    }
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    url: Url,
    timeout: Duration,
    basic: Option<Basic>,
}

impl HttpClient {
    /// A client for `url`. `cacert`: PEM of the only CA to trust for https:// (else the
    /// system's). `basic`: credentials sent with every request.
    pub fn new(
        url: Url,
        timeout: Duration,
        cacert: Option<&Path>,
        basic: Option<Basic>,
    ) -> Result<Self, TransportError> {
        // reqwest is built without a default crypto provider (no aws-lc-rs, no C toolchain):
        // ring is installed for the process once; a second install is refused harmlessly.
        // (rustls deprecates ring for lacking post-quantum key exchange: see
        // tessera_gateway::server::tls::crypto_provider for why it is still the choice.)
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let failed = |detail: String| TransportError::Failed {
            url: url.to_string(),
            detail,
        };
        let mut builder = reqwest::Client::builder();
        if let Some(path) = cacert {
            let pem = std::fs::read(path)
                .map_err(|e| failed(format!("cannot read --cacert {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                failed(format!(
                    "--cacert {}: not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(failed(format!(
                    "--cacert {} holds no PEM certificate",
                    path.display()
                )));
            }
            builder = builder.tls_certs_only(certs);
        }
        let client = builder
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
            basic,
        })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    fn classify(&self, e: &reqwest::Error) -> TransportError {
        let url = self.url.to_string();
        if let Some(detail) = certificate_error(e) {
            TransportError::Untrusted { url, detail }
        } else if e.is_timeout() {
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
        if let Some(basic) = &self.basic {
            request = request.basic_auth(&basic.user, Some(&basic.password));
        }
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
