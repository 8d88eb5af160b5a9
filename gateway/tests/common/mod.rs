//! Helpers shared by the gateway's integration tests: an in-process app over a
//! [`LocalBackend`], calls through the router without sockets, a real server on a loopback
//! port with a raw HTTP/1.1 client for what a router call cannot show, and schema validation
//! (libxml2 through lxml, `tests/tools/xmlcheck.py`).

#![allow(dead_code)] // Each test binary uses a different subset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tessera_gateway::{router, Config, SoapVersion};
use tessera_testkit::LocalBackend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

pub const S11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const S12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const CT11: &str = "text/xml; charset=utf-8";
pub const CT12: &str = "application/soap+xml; charset=utf-8";

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A gateway over a fresh in-memory backend, and that backend.
pub fn app() -> (Router, Arc<LocalBackend>) {
    app_with(Config::default())
}

pub fn app_with(config: Config) -> (Router, Arc<LocalBackend>) {
    let backend = Arc::new(LocalBackend::new());
    (router(backend.clone(), config), backend)
}

/// What came back from one call.
#[derive(Debug)]
pub struct HttpReply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends one request through the router (no sockets).
pub async fn send(app: &Router, request: Request<Body>) -> HttpReply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    HttpReply {
        status,
        headers,
        body,
    }
}

/// POSTs `body` to the endpoint with `content_type` and any extra headers.
pub async fn post(
    app: &Router,
    content_type: &str,
    extra: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> HttpReply {
    let mut request = Request::post("/ws/reservation").header("content-type", content_type);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    send(app, request.body(Body::from(body.into())).unwrap()).await
}

pub fn content_type(version: SoapVersion) -> &'static str {
    match version {
        SoapVersion::Soap11 => CT11,
        SoapVersion::Soap12 => CT12,
    }
}

/// A canonical envelope of `version` around `payload`, with `t` bound to the service
/// namespace.
pub fn envelope(version: SoapVersion, payload: &str) -> String {
    let ns = match version {
        SoapVersion::Soap11 => S11,
        SoapVersion::Soap12 => S12,
    };
    format!(
        "<s:Envelope xmlns:s=\"{ns}\" xmlns:t=\"urn:tessera:reservation:v1\"><s:Body>{payload}\
         </s:Body></s:Envelope>"
    )
}

pub const ADD_SLOT: &str = "<t:addReservationSlot><t:adminID>MTLA0001</t:adminID>\
     <t:eventType>Concerts</t:eventType><t:eventID>MTLE101226</t:eventID>\
     <t:capacity>3</t:capacity></t:addReservationSlot>";

pub const SCHEDULE: &str = "<t:getEventSchedule><t:participantID>MTLP0001</t:participantID>\
     </t:getEventSchedule>";

/// Validates a response envelope (lxml, via tests/tools/xmlcheck.py) against the SOAP envelope schema of its
/// version, which imports `wsdl/reservation.xsd` and requires every Body child and fault
/// detail to be one of its elements.
pub fn validate(version: SoapVersion, xml: &[u8]) {
    let schema = manifest_dir().join("tests/schema").join(match version {
        SoapVersion::Soap11 => "soap11.xsd",
        SoapVersion::Soap12 => "soap12.xsd",
    });
    assert_valid(&schema, xml);
}

/// The XML checker: `tests/tools/xmlcheck.py` (lxml) under the suites' Python
/// ([`tessera_testkit::python`]), validating against `schema` if given.
pub fn xml_checker(schema: Option<&Path>) -> Command {
    let mut cmd = Command::new(tessera_testkit::python());
    cmd.arg(manifest_dir().join("../tests/tools/xmlcheck.py"));
    if let Some(schema) = schema {
        cmd.arg(schema);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs the checker on `xml` and returns its status and error lines (`-:LINE: message`).
/// A checker that cannot run fails the test loudly: schema validity is part of what these
/// tests prove.
pub fn check_xml(schema: Option<&Path>, xml: &[u8]) -> (bool, String) {
    let mut child = xml_checker(schema).spawn().unwrap_or_else(|e| {
        panic!("cannot run the XML checker ({e}): run ./tests/run, which creates .venv with lxml")
    });
    child.stdin.take().unwrap().write_all(xml).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the XML checker needs lxml: run ./tests/run (it creates .venv) or set TESSERA_PYTHON\n{stderr}"
    );
    (output.status.success(), stderr)
}

/// Validates `xml` against `schema`; fails the test if it does not validate.
pub fn assert_valid(schema: &Path, xml: &[u8]) -> String {
    let (ok, stderr) = check_xml(Some(schema), xml);
    assert!(
        ok,
        "schema {} rejects the document:\n{stderr}\n{}",
        schema.display(),
        String::from_utf8_lossy(xml)
    );
    stderr
}

/// The checker's error lines for `xml` against `schema` (empty when valid).
pub fn schema_errors(schema: &Path, xml: &[u8]) -> String {
    check_xml(Some(schema), xml).1
}

/// A real gateway on a loopback port. Dropping it stops the server task.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub backend: Arc<LocalBackend>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(config: Config) -> Server {
    let (app, backend) = app_with(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = tessera_gateway::serve(listener, app).await;
    });
    Server {
        addr,
        backend,
        task,
    }
}

/// A raw HTTP/1.1 exchange: writes `head` and `body` as given, reads until the server closes
/// or 5 s pass, and splits status, headers and body.
pub async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> HttpReply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and close before reading everything (oversize bodies).
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    parse_response(&response)
}

/// A POST with `Connection: close` and a Content-Length.
pub async fn raw_post(addr: std::net::SocketAddr, content_type: &str, body: &[u8]) -> HttpReply {
    let head = format!(
        "POST /ws/reservation HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    raw(addr, &head, body).await
}

fn parse_response(bytes: &[u8]) -> HttpReply {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let code: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = axum::http::HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.append(
                axum::http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                value.trim().parse().unwrap(),
            );
        }
    }
    let mut body = bytes[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        body = dechunk(&body);
    }
    HttpReply {
        status: StatusCode::from_u16(code).unwrap(),
        headers,
        body,
    }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&bytes[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&bytes[end + 2..end + 2 + size]);
        bytes = &bytes[end + 2 + size + 2..];
    }
}

/// A fresh CA and a certificate for `localhost`/127.0.0.1 signed by it, written to `dir`:
/// (CA certificate PEM, cert path, key path).
pub fn test_pki(dir: &Path) -> (Vec<u8>, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca_cert.pem().into_bytes(), cert_path, key_path)
}

/// A gateway on a loopback port with explicit listener options, bound to `bind`.
pub async fn start_with(
    config: Config,
    options: tessera_gateway::server::ServeOptions,
    bind: &str,
) -> Server {
    let (app, backend) = app_with(config);
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = tessera_gateway::server::serve_with(listener, app, options, std::future::pending())
            .await;
    });
    Server {
        addr,
        backend,
        task,
    }
}

/// A TLS connection to `addr` trusting only `ca_pem`, for server name `localhost`.
pub async fn tls_connect(
    addr: std::net::SocketAddr,
    ca_pem: &[u8],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        tessera_gateway::server::tls::crypto_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// [`raw`] over TLS.
pub async fn raw_tls(
    addr: std::net::SocketAddr,
    ca_pem: &[u8],
    head: &str,
    body: &[u8],
) -> HttpReply {
    let mut stream = tls_connect(addr, ca_pem).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    parse_response(&response)
}

/// A TCP connection to `addr` from the loopback address `from` (127.0.0.0/8 has many), so
/// that tests can act as several client addresses.
pub async fn connect_from(from: &str, addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// One request with `Connection: close` from loopback address `from`.
pub async fn raw_from(
    from: &str,
    addr: std::net::SocketAddr,
    head: &str,
    body: &[u8],
) -> HttpReply {
    let mut stream = connect_from(from, addr).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    parse_response(&response)
}

/// The head of a SOAP POST with `Connection: close`, a Content-Length and `extra` header
/// lines (each ending in CRLF).
pub fn post_head(content_type: &str, body_len: usize, extra: &str) -> String {
    format!(
        "POST /ws/reservation HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
         Content-Length: {body_len}\r\nConnection: close\r\n{extra}\r\n"
    )
}
