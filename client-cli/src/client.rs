//! One SOAP call: the envelope for a validated request, the HTTP exchange, and what the
//! answer means. Used by the operation subcommands, the shell and the demo alike.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use tessera_types::Request;

use crate::http::{Basic, HttpClient, HttpReply, TransportError};
use crate::soap::wsse::UsernameToken;
use crate::soap::{self, Outcome, Version};

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
        })
    }

    pub fn url(&self) -> &str {
        self.http.url()
    }

    /// Sends `request`; never fails by itself: the exchange says what happened.
    pub async fn send(&self, request: &Request) -> Exchange {
        let operation = request.operation();
        let headers = self.version.headers(operation);
        // What `--raw` shows never holds the password: a copy of the envelope with the
        // token's password hidden, and the Basic header named but not shown.
        let (envelope, shown) = match &self.token_credentials {
            Some(c) => {
                let token = UsernameToken::new(&c.user, &c.password);
                let hidden = UsernameToken {
                    password: "(hidden)".into(),
                    ..token.clone()
                };
                (
                    soap::envelope_with(self.version, request, Some(&token)),
                    soap::envelope_with(self.version, request, Some(&hidden)),
                )
            }
            None => {
                let envelope = soap::envelope(self.version, request);
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
