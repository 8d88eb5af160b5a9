//! `POST /ws/reservation`: one SOAP call from bytes to bytes.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tessera_types::Code;
use tokio::time::timeout_at;
use tracing::level_filters::LevelFilter;
use tracing::{debug, info, info_span, warn, Instrument, Span};

use super::backend::{Backend, BackendError};
use super::listen::ClientAddr;
use super::request_id;
use super::Gateway;
use crate::auth::{self, Refusal};
use crate::metrics::Metrics;
use crate::soap::{self, Fault, FaultClass, Operation, SoapVersion};

/// The `WWW-Authenticate` challenge of every 401.
pub(crate) const CHALLENGE: &str = "Basic realm=\"tessera\"";

pub(crate) async fn call<B: Backend>(
    State(gateway): State<Arc<Gateway<B>>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let peer = client_ip(&parts.extensions);
    handle(gateway, parts.headers, peer, body).await
}

/// The client's address; unspecified for requests that did not come through the listener
/// (tests calling the router directly).
pub(crate) fn client_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ClientAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// One call as it goes: what its log lines and metrics need.
struct CallLog<'a> {
    started: Instant,
    request_id: &'a str,
    version: Option<SoapVersion>,
    op: Option<Operation>,
    seq: Option<u64>,
    metrics: Option<&'a Metrics>,
    /// The per-call line goes to the access log (`info` on target `access`) instead of
    /// `debug`.
    access_log: bool,
}

/// The per-call line: `debug`, or `info` on the `access` target when the access log is on;
/// in the call's span, which is made only when the filter's most verbose level reaches the
/// line's. (That level counts per-span directives such as `[soap]=debug`, which an
/// `enabled!` check made outside the span would miss.)
macro_rules! call_line {
    ($log:expr, $($field:tt)*) => {
        if $log.access_log {
            if LevelFilter::current() >= LevelFilter::INFO {
                $log.span().in_scope(|| info!(target: "access", $($field)*));
            }
        } else if LevelFilter::current() >= LevelFilter::DEBUG {
            $log.span().in_scope(|| debug!($($field)*));
        }
    };
}

impl CallLog<'_> {
    fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The call's span (`soap`, with what is known of the call so far), for the lines written
    /// about it. Made per line, not per call: at the default level a call writes none, and a
    /// span for every call, its fields formatted as they were recorded, cost the gateway
    /// 4-9 µs of its 41-47 µs per call (`docs/performance.md`, "The call's span").
    fn span(&self) -> Span {
        info_span!(
            "soap",
            request_id = self.request_id,
            version = self.version.map(version_name),
            op = self.op.map(Operation::name),
            seq = self.seq,
        )
    }
}

async fn handle<B: Backend>(
    gateway: Arc<Gateway<B>>,
    headers: HeaderMap,
    peer: IpAddr,
    body: Body,
) -> Response {
    let mut log = CallLog {
        started: Instant::now(),
        request_id: request_id::for_log(&headers),
        version: None,
        op: None,
        seq: None,
        metrics: gateway.config.metrics.as_deref(),
        access_log: gateway.config.access_log,
    };
    let started = log.started;

    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let version = match content_type.map(SoapVersion::from_content_type) {
        Some(Ok(version)) => version,
        // Neither version can be assumed, so the answer is plain HTTP.
        Some(Err(_)) | None => {
            call_line!(log, status = 415, "unsupported content type");
            return unsupported_media_type();
        }
    };
    log.version = Some(version);

    let limit = gateway.config.limits.max_body_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return fault(&log, version, &Fault::TooLarge);
    }
    // The body is read under its own, shorter deadline and before the call takes a slot: a
    // client trickling bodies holds connections (capped per address), never the slots every
    // other caller needs.
    let body_deadline = tokio::time::Instant::from_std(started + gateway.config.body_timeout);
    let bytes = match timeout_at(body_deadline, read_body(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(fault_)) => return fault(&log, version, &fault_),
        Err(_) => return fault(&log, version, &Fault::RequestTimeout),
    };

    // Shed load before doing any work for the call.
    let Ok(_permit) = gateway.in_flight.clone().try_acquire_owned() else {
        return fault(&log, version, &Fault::Overloaded);
    };
    let _in_flight = log.metrics.map(Metrics::call_in_flight);
    let deadline = tokio::time::Instant::now() + gateway.config.request_timeout;

    let call = match soap::parse_call(&bytes, version, &gateway.config.limits) {
        Ok(call) => call,
        Err(rejected) => return fault(&log, rejected.version, &rejected.fault),
    };
    let operation = Operation::of(&call.request);
    log.op = Some(operation);

    if let Some(authenticator) = &gateway.config.auth {
        let authorization = headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
        // The authenticator logs refusals: in the call's span, so that they carry its id.
        let checked = authenticator
            .authenticate(authorization, &call.security, peer)
            .instrument(log.span());
        let user = match timeout_at(deadline, checked).await {
            Ok(Ok(user)) => user,
            Ok(Err(refusal)) => return unauthenticated(&log, call.version, refusal),
            // Password checks queued past the deadline (a flood of uncached credentials): shed
            // like any overload; the call has not taken effect.
            Err(_) => return fault(&log, call.version, &Fault::Overloaded),
        };
        if let Err(field) = auth::authorize(&user, &call.request) {
            log.span()
                .in_scope(|| warn!(user = %user.name, %peer, field, "forbidden"));
            if let Some(m) = log.metrics {
                m.forbidden();
            }
            return fault(&log, call.version, &Fault::Forbidden { field });
        }
    }

    // The same request id the call's log line carries, for the managers' lines about it.
    let request_id = log.request_id.to_owned();
    let read_only = call.request.is_read_only();
    let ordered = tessera_types::Call {
        request: call.request,
        message_id: call
            .addressing
            .message_id
            .as_ref()
            .map(|(id, _)| id.clone()),
    };
    let submitted = gateway.backend.submit_traced(ordered, request_id);
    let answer = match timeout_at(deadline, submitted).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(BackendError::Unavailable(why))) => {
            return unavailable(&log, call.version, &why, Fault::Unavailable);
        }
        Ok(Err(BackendError::NoAnswer(why))) => {
            return unavailable(&log, call.version, &why, in_doubt(read_only, None));
        }
        Ok(Err(BackendError::Late { seq, why })) => {
            log.seq = Some(seq);
            return unavailable(&log, call.version, &why, in_doubt(read_only, Some(seq)));
        }
        Ok(Err(BackendError::Overloaded)) => return fault(&log, call.version, &Fault::Overloaded),
        Err(_) => return fault(&log, call.version, &in_doubt(read_only, None)),
    };
    log.seq = Some(answer.seq);
    if answer.reply.code == Code::MessageIdReused {
        return fault(&log, call.version, &Fault::MessageIdReused);
    }

    let mut out = Vec::new();
    soap::write_response_to(
        call.version,
        operation,
        &answer.reply,
        answer.seq,
        &call.addressing,
        &mut out,
    );
    if let Some(m) = log.metrics {
        m.call(log.op, Some(answer.reply.code), log.seconds());
    }
    call_line!(
        log,
        status = 200,
        code = answer.reply.code.as_str(),
        micros = elapsed_micros(started),
        "call answered"
    );
    soap_response(StatusCode::OK, call.version, out)
}

/// Reads the whole body, at most `limit` bytes of it.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Fault> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Fault::TooLarge),
        // The connection broke or the chunked framing was wrong; the client will hardly read
        // this answer, but it is the sender's fault.
        Err(_) => Err(Fault::Malformed("the request body could not be read")),
    }
}

fn fault(log: &CallLog<'_>, version: SoapVersion, fault: &Fault) -> Response {
    let status = fault.http_status(version);
    let subcode = fault.subcode().unwrap_or(match fault.class() {
        FaultClass::VersionMismatch => "VersionMismatch",
        FaultClass::MustUnderstand => "MustUnderstand",
        FaultClass::Sender => "Sender",
        FaultClass::Receiver => "Receiver",
    });
    let micros = elapsed_micros(log.started);
    if let Some(m) = log.metrics {
        m.fault(subcode);
        m.call(log.op, None::<Code>, log.seconds());
    }
    call_line!(log, status, fault = subcode, micros, "call faulted");
    let mut out = Vec::new();
    soap::write_fault(version, fault, &mut out);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = soap_response(status, version, out);
    match fault {
        Fault::Overloaded => {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        Fault::Unauthenticated(_) => {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
        }
        _ => {}
    }
    response
}

/// The fault for a call the cluster may have ordered (or did, as `ordered`) but did not
/// answer: never "did not take effect" for a write; a read changes nothing, whatever became of
/// it.
fn in_doubt(read_only: bool, ordered: Option<u64>) -> Fault {
    if read_only {
        Fault::Unavailable
    } else {
        Fault::Timeout { ordered }
    }
}

/// The cluster gave no answer: `answer` says whether the call may still take effect.
fn unavailable(log: &CallLog<'_>, version: SoapVersion, why: &str, answer: Fault) -> Response {
    // The first in each summary period is a warning with the cause; the rest are counted in
    // the periodic summary (a cluster that is down would otherwise write a line per call).
    let first = log.metrics.is_none_or(Metrics::first_unavailable_of_period);
    log.span().in_scope(|| {
        if first {
            warn!(error = %why, "backend unavailable (further ones are counted in the periodic summary)");
        } else {
            debug!(error = %why, "backend unavailable");
        }
    });
    fault(log, version, &answer)
}

/// The 401 fault for a refused caller, with `Retry-After` when it was throttled.
fn unauthenticated(log: &CallLog<'_>, version: SoapVersion, refusal: Refusal) -> Response {
    if let Some(m) = log.metrics {
        m.auth_failure(refusal.fault);
    }
    let mut response = fault(log, version, &Fault::Unauthenticated(refusal.fault));
    if let Some(secs) = refusal.retry_after_secs {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn soap_response(status: StatusCode, version: SoapVersion, body: Vec<u8>) -> Response {
    (
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(version.content_type()),
        )],
        body,
    )
        .into_response()
}

fn unsupported_media_type() -> Response {
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        [(
            ACCEPT,
            HeaderValue::from_static("text/xml, application/soap+xml"),
        )],
        "send SOAP 1.1 as text/xml or SOAP 1.2 as application/soap+xml, in UTF-8\n",
    )
        .into_response()
}

fn version_name(version: SoapVersion) -> &'static str {
    match version {
        SoapVersion::Soap11 => "1.1",
        SoapVersion::Soap12 => "1.2",
    }
}

fn elapsed_micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
