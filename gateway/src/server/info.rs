//! The non-SOAP routes: the WSDL, health, status, and the answer to a wrong method.

use std::sync::Arc;

use axum::extract::{RawQuery, Request, State};
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::endpoint::{client_ip, CHALLENGE};
use super::{Backend, Gateway};
use crate::metrics::{Metrics, CONTENT_TYPE as METRICS_CONTENT_TYPE};
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
/// the operator routes (`/status`, `/metrics`, the dashboard): they name hosts, pids and
/// replica states. `Err` is the 401 or 403 to answer.
pub(crate) async fn operator_only<B: Backend>(
    gateway: &Gateway<B>,
    parts: &axum::http::request::Parts,
) -> Result<(), Response> {
    let Some(authenticator) = &gateway.config.auth else {
        return Ok(());
    };
    let authorization = parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let peer = client_ip(&parts.extensions);
    let metrics = gateway.config.metrics.as_deref();
    match authenticator
        .authenticate(authorization, &WsSecurity::Absent, peer)
        .await
    {
        Ok(user) if user.is_operator() => Ok(()),
        Ok(user) => {
            let path = parts.uri.path();
            tracing::warn!(user = %user.name, %peer, path, "forbidden: the operator grant is needed");
            if let Some(m) = metrics {
                m.forbidden();
            }
            let body = serde_json::json!({
                "error": format!("the operator grant is needed to read {path}")
            });
            Err(json(StatusCode::FORBIDDEN, body.to_string().into_bytes()))
        }
        Err(refusal) => {
            if let Some(m) = metrics {
                m.auth_failure(refusal.fault);
            }
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
            Err(response)
        }
    }
}

/// The cluster's status as JSON (operator only).
pub(crate) async fn status<B: Backend>(
    State(gateway): State<Arc<Gateway<B>>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    if let Err(refused) = operator_only(&gateway, &parts).await {
        return refused;
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

/// `GET /metrics` (operator only): 404 when the gateway collects no metrics.
pub(crate) async fn metrics<B: Backend>(
    State(gateway): State<Arc<Gateway<B>>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    if let Err(refused) = operator_only(&gateway, &parts).await {
        return refused;
    }
    match &gateway.config.metrics {
        Some(m) => render_metrics(m),
        None => (
            StatusCode::NOT_FOUND,
            "metrics are off ([gateway] metrics = false)\n",
        )
            .into_response(),
    }
}

/// The registry in the Prometheus text format.
pub(crate) fn render_metrics(metrics: &Metrics) -> Response {
    match metrics.render() {
        Ok(text) => (
            [(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE))],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics could not be rendered\n",
            )
                .into_response()
        }
    }
}

pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}
