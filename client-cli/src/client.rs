//! One SOAP call: the envelope for a validated request, the HTTP exchange, and what the
//! answer means. Used by the operation subcommands, the shell and the demo alike.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use tessera_types::Request;

use crate::http::{Basic, HttpClient, HttpReply, TransportError};
use crate::soap::wsse::UsernameToken;
use crate::soap::{self, Outcome, SoapFault, Version};

/// Who the client says it is, and how.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// A WS-Security UsernameToken instead of HTTP Basic.
    pub ws_security: bool,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"(hidden)")
            .field("ws_security", &self.ws_security)
            .finish()
    }
}

/// The gateway, as one client sees it.
#[derive(Debug, Clone)]
pub struct Gateway {
    http: HttpClient,
    pub version: Version,
    /// Set when credentials go in a UsernameToken rather than HTTP Basic.
    token_credentials: Option<Credentials>,
    /// Whether requests carry an HTTP Basic header (shown, hidden, by `--raw`).
    basic_shown: bool,
    /// Further attempts of a call that timed out or did not get through.
    retries: u32,
}

/// Pause before the first retry; doubled each time, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A fresh `urn:uuid:` (version 4) message id for one call and its retries.
pub fn new_message_id() -> String {
    let mut b = [0u8; 16];
    // Without the OS's randomness, a time-based fallback still differs per call.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Whether an attempt may be repeated with the same message id: no answer came back, the
/// gateway shed the call before doing anything (503), or the cluster behind it did not
/// answer in time (a Server / Receiver fault: `Timeout`, "may" or "will take effect", or
/// `Unavailable`), which a retry with the same id settles without executing anything twice.
fn worth_retrying(reply: &Result<HttpReply, TransportError>, fault: Option<&SoapFault>) -> bool {
    match (reply, fault) {
        (Err(TransportError::Untrusted { .. }), _) => false,
        (Err(_), _) => true,
        (Ok(r), _) if r.status == 503 => true,
        (Ok(_), Some(f)) => match f.code.as_str() {
            "Server" => true,
            "Receiver" => matches!(f.subcode.as_deref(), Some("Timeout" | "Unavailable")),
            _ => false,
        },
        (Ok(_), _) => false,
    }
}

/// The SOAP fault an attempt was answered with, if any (only faults about the cluster, sent
/// with HTTP 500, matter to a retry; an answer is not parsed twice).
fn fault_of(exchange: &Exchange) -> Option<SoapFault> {
    let reply = exchange.reply.as_ref().ok().filter(|r| r.status == 500)?;
    match soap::parse(&reply.body, exchange.operation) {
        Ok(Outcome::Fault(f)) => Some(f),
        _ => None,
    }
}

/// A call as it went over the wire: what `--raw` prints.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub operation: &'static str,
    pub url: String,
    pub request_headers: Vec<(&'static str, String)>,
    pub request: String,
    pub reply: Result<HttpReply, TransportError>,
}

/// Why a call has no outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    Transport(TransportError),
    /// Something answered, but not with a SOAP response to this call.
    Protocol {
        url: String,
        status: u16,
        detail: String,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Transport(e) => e.fmt(f),
            CallError::Protocol {
                url,
                status,
                detail,
            } => write!(
                f,
                "unexpected answer from {url} (HTTP {status}): {detail}. Is --url the Tessera \
                 gateway's SOAP endpoint (…/ws/reservation)?"
            ),
        }
    }
}

impl Gateway {
    pub fn new(
        url: reqwest::Url,
        version: Version,
        timeout: Duration,
        cacert: Option<&Path>,
        credentials: Option<Credentials>,
    ) -> Result<Self, CallError> {
        let (basic, token_credentials) = match credentials {
            Some(c) if c.ws_security => (None, Some(c)),
            Some(c) => (
                Some(Basic {
                    user: c.user,
                    password: c.password,
                }),
                None,
            ),
            None => (None, None),
        };
        let basic_shown = basic.is_some();
        let http = HttpClient::new(url, timeout, cacert, basic).map_err(CallError::Transport)?;
        Ok(Gateway {
            http,
            version,
            token_credentials,
            basic_shown,
            retries: 0,
        })
    }

    /// Repeats a call that timed out or did not get through up to `retries` more times
    /// (pausing 0.2 s, then twice as long each time, at most 2 s), with the same message id.
    pub fn with_retries(self, retries: u32) -> Self {
        Gateway { retries, ..self }
    }

    pub fn url(&self) -> &str {
        self.http.url()
    }

    /// Sends `request` with a message id of its own, repeating it (same id: it takes effect
    /// at most once) while no answer comes back, as [`with_retries`](Self::with_retries)
    /// allows. Never fails by itself: the exchange (of the last attempt) says what happened.
    pub async fn send(&self, request: &Request) -> Exchange {
        let message_id = new_message_id();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let exchange = self.attempt(request, &message_id).await;
            let fault = fault_of(&exchange);
            if attempt >= self.retries || !worth_retrying(&exchange.reply, fault.as_ref()) {
                return exchange;
            }
            attempt += 1;
            let why = match (&exchange.reply, &fault) {
                (Err(e), _) => e.to_string(),
                (Ok(r), Some(f)) => format!("HTTP {}: {}", r.status, f.reason),
                (Ok(r), None) => format!("HTTP {} {}", r.status, r.reason),
            };
            let first_line = why.lines().next().unwrap_or("");
            eprintln!(
                "tessera: retry {attempt} of {} in {:.1}s with the same wsa:MessageID (it takes effect at most once): {first_line}",
                self.retries,
                backoff.as_secs_f64()
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn attempt(&self, request: &Request, message_id: &str) -> Exchange {
        let operation = request.operation();
        let headers = self.version.headers(operation);
        let id = Some(message_id);
        // What `--raw` shows never holds the password: a copy of the envelope with the
        // token's password hidden, and the Basic header named but not shown. Each attempt
        // has a token of its own (the gateway refuses a nonce it has seen).
        let (envelope, shown) = match &self.token_credentials {
            Some(c) => {
                let token = UsernameToken::new(&c.user, &c.password);
                let hidden = UsernameToken {
                    password: "(hidden)".into(),
                    ..token.clone()
                };
                (
                    soap::envelope_with(self.version, request, Some(&token), id),
                    soap::envelope_with(self.version, request, Some(&hidden), id),
                )
            }
            None => {
                let envelope = soap::envelope_with(self.version, request, None, id);
                (envelope.clone(), envelope)
            }
        };
        let reply = self.http.post(&headers, envelope).await;
        let mut request_headers = headers;
        if self.basic_shown {
            request_headers.push(("Authorization", "Basic (hidden)".to_owned()));
        }
        Exchange {
            operation,
            url: self.http.url().to_owned(),
            request_headers,
            request: shown,
            reply,
        }
    }

    /// Sends `request` and interprets the answer.
    pub async fn call(&self, request: &Request) -> Result<Outcome, CallError> {
        self.send(request).await.outcome()
    }
}

impl Exchange {
    /// What the answer means: a result, a fault, or an error.
    pub fn outcome(&self) -> Result<Outcome, CallError> {
        let reply = self
            .reply
            .as_ref()
            .map_err(|e| CallError::Transport(e.clone()))?;
        soap::parse(&reply.body, self.operation).map_err(|detail| {
            let body = reply.body.trim();
            let detail = if reply.status != 200 && !body.starts_with('<') {
                // Not XML at all (e.g. 415, 405 or a proxy's page): show its first line.
                let first = body.lines().next().unwrap_or("").chars().take(200);
                format!(
                    "{} {}: {}",
                    reply.status,
                    reply.reason,
                    first.collect::<String>()
                )
            } else {
                detail
            };
            CallError::Protocol {
                url: self.url.clone(),
                status: reply.status,
                detail,
            }
        })
    }
}
