//! The non-SOAP routes: the WSDL, health, status, and the answer to a wrong method.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Backend, Gateway};

/// `GET /ws/reservation?wsdl` (any letter case, as `?WSDL` is also common). Any other GET is
/// not a SOAP call: SOAP 1.2's GET binding is not offered.
pub(crate) async fn wsdl<B: Backend>(
    State(gateway): State<Arc<Gateway<B>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let asks_for_wsdl = query.as_deref().is_some_and(|q| {
        let first = q.split('&').next().unwrap_or("");
        let key = first.split('=').next().unwrap_or("");
        key.eq_ignore_ascii_case("wsdl")
    });
    if !asks_for_wsdl {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(ALLOW, HeaderValue::from_static("POST"))],
            "POST SOAP envelopes to this URL; GET ?wsdl for the service description\n",
        )
            .into_response();
    }
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        gateway.wsdl.clone(),
    )
        .into_response()
}

/// Any method but GET and POST on the endpoint.
pub(crate) async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(ALLOW, HeaderValue::from_static("GET, POST"))],
        "POST SOAP envelopes to this URL; GET ?wsdl for the service description\n",
    )
        .into_response()
}

/// The gateway process is up and serving. Says nothing about the cluster: see `/status`.
pub(crate) async fn health() -> Response {
    json(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

pub(crate) async fn status<B: Backend>(State(gateway): State<Arc<Gateway<B>>>) -> Response {
    let status = gateway.backend.status().await;
    match serde_json::to_vec(&status) {
        Ok(body) => json(StatusCode::OK, body),
        Err(_) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"error":"status not serializable"}"#.to_vec(),
        ),
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}
