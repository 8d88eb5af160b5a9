//! `GET /dashboard`: one page that shows the cluster live, its assets embedded in the binary
//! (no CDN, nothing fetched from anywhere but this gateway).
//!
//! | route | what |
//! |---|---|
//! | `GET /dashboard` | the page (`index.html`) |
//! | `GET /dashboard/app.js`, `/dashboard/style.css` | its script and style |
//! | `GET /dashboard/state` | what the page shows, as JSON; the page polls it every second |
//! | `POST /dashboard/chaos` | `{"replica": N, "action": "byzantine"}`: fault injection, only when the gateway runs with `--chaos` |
//!
//! Every route needs the `operator` grant when authentication is on. The fault injection
//! route takes only `application/json`, which a form on another site cannot send without a
//! CORS preflight that this gateway never answers, so another page open in the same browser
//! cannot inject faults.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use serde::Deserialize;

use crate::server::info::{json, operator_only};
use crate::server::{Backend, Gateway};

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// The page may load only what this gateway serves.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The actions the page may ask for.
pub const ACTIONS: [&str; 5] = ["byzantine", "crash", "hang", "heal", "corrupt-state"];

pub(crate) fn routes<B: Backend>() -> Router<Arc<Gateway<B>>> {
    Router::new()
        .route("/dashboard", get(asset::<B>))
        .route("/dashboard/app.js", get(asset::<B>))
        .route("/dashboard/style.css", get(asset::<B>))
        .route("/dashboard/state", get(state::<B>))
        .route("/dashboard/chaos", post(chaos::<B>))
}

fn with_headers(mut response: Response, content_type: &'static str) -> Response {
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    response
}

async fn asset<B: Backend>(State(gateway): State<Arc<Gateway<B>>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if let Err(refused) = operator_only(&gateway, &parts).await {
        return refused;
    }
    let (body, content_type) = match parts.uri.path() {
        "/dashboard/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/dashboard/style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => (INDEX, "text/html; charset=utf-8"),
    };
    with_headers(body.into_response(), content_type)
}

async fn state<B: Backend>(State(gateway): State<Arc<Gateway<B>>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if let Err(refused) = operator_only(&gateway, &parts).await {
        return refused;
    }
    let cluster = gateway.backend.dashboard().await;
    let chart = gateway
        .config
        .history
        .as_ref()
        .map(|h| h.points())
        .unwrap_or_default();
    let body = serde_json::json!({
        "cluster": cluster,
        "chart": chart,
        "chaos": gateway.config.dashboard_chaos,
        "metrics": gateway.config.metrics.is_some(),
    });
    with_headers(
        json(StatusCode::OK, body.to_string().into_bytes()),
        "application/json",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChaosRequest {
    replica: u8,
    action: String,
}

/// A request body larger than this is not a fault injection request.
const CHAOS_BODY_MAX: usize = 1024;

async fn chaos<B: Backend>(State(gateway): State<Arc<Gateway<B>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(refused) = operator_only(&gateway, &parts).await {
        return refused;
    }
    let refuse = |status: StatusCode, why: &str| {
        let body = serde_json::json!({ "ok": false, "detail": why });
        json(status, body.to_string().into_bytes())
    };
    if !gateway.config.dashboard_chaos {
        return refuse(
            StatusCode::FORBIDDEN,
            "fault injection is off: start the cluster with tesserad up --chaos",
        );
    }
    let is_json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !is_json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send {\"replica\": N, \"action\": ...} as application/json",
        );
    }
    let bytes = match http_body_util::Limited::new(body, CHAOS_BODY_MAX)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "the body could not be read"),
    };
    let Ok(ask) = serde_json::from_slice::<ChaosRequest>(&bytes) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "expected {\"replica\": 1..4, \"action\": \"byzantine\"|\"crash\"|\"hang\"|\"heal\"|\"corrupt-state\"}",
        );
    };
    if !(1..=4).contains(&ask.replica) || !ACTIONS.contains(&ask.action.as_str()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "replica must be 1..4 and action one of byzantine, crash, hang, heal, corrupt-state",
        );
    }
    tracing::warn!(
        replica = ask.replica,
        action = %ask.action,
        "fault injection asked for from the dashboard"
    );
    match gateway.backend.chaos(ask.replica, ask.action).await {
        Ok(detail) => json(
            StatusCode::OK,
            serde_json::json!({ "ok": true, "detail": detail })
                .to_string()
                .into_bytes(),
        ),
        Err(why) => refuse(StatusCode::BAD_GATEWAY, &why),
    }
}
