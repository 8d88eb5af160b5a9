//! The load client of the bench and the gateway's load example: SOAP 1.1 over keep-alive
//! HTTP/1.1, plain or TLS, on loopback only.
//!
//! Deliberately minimal (one `write` of a prebuilt request, reads until the `Content-Length`
//! body is complete, `httparse` for the head): the load generator shares two cores with the
//! system it measures, and a general-purpose client (hyper with a task per connection cost
//! ~12 µs per call) would take throughput away from the system under test. Anything it does
//! not expect (chunked answers, a closed connection) is an error, never a guess.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tessera_types::{Code, Reply, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The gateway's SOAP endpoint path.
pub const SOAP_PATH: &str = "/ws/reservation";

/// Largest response accepted (a list of all slots of a big workload is tens of KiB).
const RESPONSE_MAX: usize = 1 << 20;

/// Why a call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("bad response: {0}")]
    Response(String),
    #[error("HTTP {status}, fault: {fault}")]
    Fault { status: u16, fault: String },
    #[error("HTTP {0}")]
    Status(u16),
}

/// A byte stream HTTP goes over: plain TCP or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// One keep-alive connection and what has been read from it but not used yet.
struct Connection {
    stream: Box<dyn Io>,
    buf: Vec<u8>,
}

/// SOAP 1.1 calls over pooled keep-alive connections: a call takes an idle connection (or
/// opens one) and puts it back once the response is read, so `n` concurrent callers settle
/// on `n` connections, each carrying one call at a time. Clones share the pool and counters.
#[derive(Clone)]
pub struct SoapClient {
    addr: SocketAddr,
    path: String,
    tls: Option<tokio_rustls::TlsConnector>,
    /// Extra header lines sent with every call (HTTP Basic credentials).
    auth_header: String,
    idle: Arc<Mutex<Vec<Connection>>>,
    faults: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
}

impl SoapClient {
    /// A plain-HTTP client of the endpoint `addr` + `path`. Panics on a non-loopback address:
    /// load from tests and benchmarks stays on this host.
    pub fn new(addr: SocketAddr, path: &str) -> SoapClient {
        assert!(addr.ip().is_loopback(), "SOAP load stays on loopback");
        SoapClient {
            addr,
            path: path.to_owned(),
            tls: None,
            auth_header: String::new(),
            idle: Arc::new(Mutex::new(Vec::new())),
            faults: Arc::new(AtomicU64::new(0)),
            connections: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The same over TLS (trusting only `ca_pem`, server name `localhost`) with HTTP Basic
    /// credentials on every call.
    pub fn secure(
        addr: SocketAddr,
        path: &str,
        ca_pem: &[u8],
        user: &str,
        password: &str,
    ) -> Result<SoapClient, CallError> {
        use base64::Engine as _;
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| CallError::Tls(format!("CA certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| CallError::Tls(format!("CA certificate: {e}")))?;
        }
        // The gateway's provider (ring), deprecated by rustls only for lacking post-quantum
        // key exchange; see tessera_gateway::server::tls::crypto_provider for why.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| CallError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Ok(SoapClient {
            tls: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
            auth_header: format!("Authorization: Basic {credentials}\r\n"),
            ..SoapClient::new(addr, path)
        })
    }

    /// Answers that were SOAP faults, whatever their HTTP status.
    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }

    /// Connections opened so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    async fn connect(&self) -> Result<Connection, CallError> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|source| CallError::Io {
                what: "connecting to the gateway",
                source,
            })?;
        let _ = stream.set_nodelay(true);
        self.connections.fetch_add(1, Ordering::Relaxed);
        let stream: Box<dyn Io> = match &self.tls {
            None => Box::new(stream),
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from("localhost")
                    .map_err(|e| CallError::Tls(e.to_string()))?;
                Box::new(
                    tls.connect(name, stream)
                        .await
                        .map_err(|e| CallError::Tls(format!("handshake: {e}")))?,
                )
            }
        };
        Ok(Connection {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one whole HTTP request on a pooled connection: (status, body).
    pub async fn call(&self, http: &[u8]) -> Result<(u16, Vec<u8>), CallError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let (mut conn, reused) = match pooled {
            Some(c) => (c, true),
            None => (self.connect().await?, false),
        };
        let answer = match exchange(&mut conn, http).await {
            Ok(answer) => answer,
            // The gateway may have closed an idle keep-alive connection: one fresh try.
            Err(_) if reused => {
                conn = self.connect().await?;
                exchange(&mut conn, http).await?
            }
            Err(e) => return Err(e),
        };
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        Ok(answer)
    }

    /// `GET /health`: the same connections and HTTP server as a SOAP call, with no XML and
    /// no cluster behind it.
    pub async fn health(&self) -> Result<(), CallError> {
        let http = format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        match self.call(http.as_bytes()).await? {
            (200, _) => Ok(()),
            (status, _) => Err(CallError::Status(status)),
        }
    }

    /// POSTs a SOAP 1.1 envelope; the response body of an HTTP 200 that is not a fault.
    pub async fn post(&self, envelope: &str) -> Result<String, CallError> {
        let mut http = String::with_capacity(envelope.len() + 160);
        let _ = write!(
            http,
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/xml; charset=utf-8\r\n\
             SOAPAction: \"\"\r\n{}Content-Length: {}\r\n\r\n{envelope}",
            self.path,
            self.addr,
            self.auth_header,
            envelope.len()
        );
        let (status, body) = self.call(http.as_bytes()).await?;
        let text = String::from_utf8(body).map_err(|_| CallError::Response("not UTF-8".into()))?;
        if text.contains("Fault>") {
            self.faults.fetch_add(1, Ordering::Relaxed);
            return Err(CallError::Fault {
                status,
                fault: element(&text, "faultstring").unwrap_or("?").to_owned(),
            });
        }
        if status != 200 {
            return Err(CallError::Status(status));
        }
        Ok(text)
    }

    /// One call of `request`; its reply's code (the bench's workload needs no more).
    pub async fn submit(&self, request: &Request) -> Result<Reply, CallError> {
        self.code_of(&envelope(request)).await
    }

    /// [`submit`](Self::submit) with a `wsa:MessageID`: a retry with the same `id` gets the
    /// first answer.
    pub async fn submit_once(&self, request: &Request, id: &str) -> Result<Reply, CallError> {
        self.code_of(&envelope_with_message_id(request, id)).await
    }

    async fn code_of(&self, envelope: &str) -> Result<Reply, CallError> {
        let text = self.post(envelope).await?;
        let result = text
            .find("<result>")
            .map(|i| &text[i..])
            .ok_or_else(|| CallError::Response("HTTP 200 without a <result>".into()))?;
        let code = element(result, "code")
            .ok_or_else(|| CallError::Response("<result> without a <code>".into()))?;
        let code = Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == code)
            .ok_or_else(|| CallError::Response(format!("unknown code {code:?}")))?;
        Ok(Reply::code(code))
    }
}

/// Sends one request on `conn` and reads its response: (status, body).
async fn exchange(conn: &mut Connection, request: &[u8]) -> Result<(u16, Vec<u8>), CallError> {
    conn.stream
        .write_all(request)
        .await
        .map_err(|source| CallError::Io {
            what: "sending",
            source,
        })?;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut head = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = head
            .parse(&conn.buf)
            .map_err(|e| CallError::Response(format!("head: {e}")))?
        {
            let status = head.code.unwrap_or(0);
            let length = head
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    CallError::Response(format!("HTTP {status} without a Content-Length"))
                })?;
            if length > RESPONSE_MAX {
                return Err(CallError::Response(format!("{length} bytes")));
            }
            if conn.buf.len() >= head_len + length {
                let body = conn.buf[head_len..head_len + length].to_vec();
                conn.buf.drain(..head_len + length);
                return Ok((status, body));
            }
        }
        if conn.buf.len() > RESPONSE_MAX {
            return Err(CallError::Response("too large".into()));
        }
        let mut chunk = [0u8; 8192];
        let n = conn
            .stream
            .read(&mut chunk)
            .await
            .map_err(|source| CallError::Io {
                what: "receiving",
                source,
            })?;
        if n == 0 {
            return Err(CallError::Response(
                "the gateway closed the connection".into(),
            ));
        }
        conn.buf.extend_from_slice(&chunk[..n]);
    }
}

/// The text of the first `<name>...</name>` in `xml` (unprefixed, as the gateway writes).
pub fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + len])
}

/// The W3C WS-Addressing namespace.
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";

/// [`envelope`] with WS-Addressing headers: an Action and the `wsa:MessageID` `id`, which makes
/// the cluster execute the call at most once.
pub fn envelope_with_message_id(request: &Request, id: &str) -> String {
    envelope(request).replacen(
        "<soap:Body>",
        &format!(
            "<soap:Header><wsa:Action xmlns:wsa=\"{WSA_NS}\">urn:tessera:reservation:v1#{op}\
             </wsa:Action><wsa:MessageID xmlns:wsa=\"{WSA_NS}\">{id}</wsa:MessageID>\
             </soap:Header><soap:Body>",
            op = request.operation()
        ),
        1,
    )
}

/// `request` as a SOAP 1.1 envelope, shaped like the golden requests in
/// `gateway/tests/golden/soap11/` (typed arguments need no XML escaping: IDs, event types and
/// numbers only).
pub fn envelope(request: &Request) -> String {
    let op = request.operation();
    let mut s = String::with_capacity(512);
    s.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope \
         xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:t=\"urn:tessera:reservation:v1\">\n  <soap:Body>\n",
    );
    let _ = writeln!(s, "    <t:{op}>");
    for (name, value) in request.arguments() {
        let _ = writeln!(s, "      <t:{name}>{value}</t:{name}>");
    }
    let _ = writeln!(s, "    </t:{op}>");
    s.push_str("  </soap:Body>\n</soap:Envelope>\n");
    s
}
