//! The non-SOAP routes: the WSDL, health, status, and the answer to a wrong method.

use std::sync::Arc;

use axum::extract::{RawQuery, Request, State};
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::endpoint::{client_ip, CHALLENGE};
use super::{Backend, Gateway};
use crate::soap::WsSecurity;

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

/// With authentication on, only principals with the `operator` grant (HTTP Basic) may read
/// the cluster's status: it names hosts, pids and replica states.
pub(crate) async fn status<B: Backend>(
    State(gateway): State<Arc<Gateway<B>>>,
    request: Request,
) -> Response {
    if let Some(authenticator) = &gateway.config.auth {
        let (parts, _) = request.into_parts();
        let authorization = parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
        let peer = client_ip(&parts.extensions);
        match authenticator
            .authenticate(authorization, &WsSecurity::Absent, peer)
            .await
        {
            Ok(user) if user.is_operator() => {}
            Ok(user) => {
                tracing::warn!(user = %user.name, %peer, "forbidden: /status needs the operator grant");
                return json(
                    StatusCode::FORBIDDEN,
                    br#"{"error":"the operator grant is needed to read /status"}"#.to_vec(),
                );
            }
            Err(refusal) => {
                let body = serde_json::json!({ "error": refusal.fault.reason() });
                let mut response = json(StatusCode::UNAUTHORIZED, body.to_string().into_bytes());
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
                if let Some(secs) = refusal.retry_after_secs {
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from(secs));
                }
                return response;
            }
        }
    }
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
