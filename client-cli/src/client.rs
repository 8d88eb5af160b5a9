//! One SOAP call: the envelope for a validated request, the HTTP exchange, and what the
//! answer means. Used by the operation subcommands, the shell and the demo alike.

use std::fmt;
use std::time::Duration;

use tessera_types::Request;

use crate::http::{HttpClient, HttpReply, TransportError};
use crate::soap::{self, Outcome, Version};

/// The gateway, as one client sees it.
#[derive(Debug, Clone)]
pub struct Gateway {
    http: HttpClient,
    pub version: Version,
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
    pub fn new(url: reqwest::Url, version: Version, timeout: Duration) -> Result<Self, CallError> {
        let http = HttpClient::new(url, timeout).map_err(CallError::Transport)?;
        Ok(Gateway { http, version })
    }

    pub fn url(&self) -> &str {
        self.http.url()
    }

    /// Sends `request`; never fails by itself: the exchange says what happened.
    pub async fn send(&self, request: &Request) -> Exchange {
        let operation = request.operation();
        let envelope = soap::envelope(self.version, request);
        let headers = self.version.headers(operation);
        let reply = self.http.post(&headers, envelope.clone()).await;
        Exchange {
            operation,
            url: self.http.url().to_owned(),
            request_headers: headers,
            request: envelope,
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
