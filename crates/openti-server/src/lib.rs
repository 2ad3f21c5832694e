//! The HTTP face of OpenTI: the token endpoint, the custom TI API v1.0, telemetry ingestion
//! and the alert stream, as axum routers over the shared [`AppState`]. No SQL lives here:
//! handlers speak to the store trait, the OData engine and the detection engine.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod detection;
pub mod error;
pub mod identity;
pub mod ingest;
pub mod portal;
pub mod query;
pub mod state;
pub mod telemetry_stats;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use state::{AppState, Config, SharedState};

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(axum::extract::State(state): axum::extract::State<SharedState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.store.list_tenants().await {
        Ok(_) => "ready".into_response(),
        Err(e) => (axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Every route of the service.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(detection::metrics))
        .route("/{tenant}/oauth2/token", post(token::token))
        .route("/{tenant}/discovery/keys", get(token::jwks))
        .route("/{tenant}/.well-known/openid-configuration", get(token::openid_configuration))
        .route("/ingest/v1/events", post(ingest::ingest))
        .merge(portal::router(state.clone()))
        .fallback(api::dispatch)
        .layer(CatchPanicLayer::custom(|_| {
            error::ApiError::new(openti_model::ErrorCode::InternalServerError, "an internal error occurred").into_response_boxed()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            // Only method and path: query strings and headers may carry secrets.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

impl error::ApiError {
    fn into_response_boxed(self) -> axum::response::Response {
        axum::response::IntoResponse::into_response(self)
    }
}

/// Serves until `shutdown` resolves, then writes the telemetry statistics still pending:
/// every request answered by then has added its own.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let flusher = state.stats.start_flushing(state.config.stats_flush_interval);
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    flusher.stop().await;
    state.stats.flush_all().await;
    served
}
