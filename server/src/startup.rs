//! Builds the application: store, backend, Leptos routes, static files and security headers. One function
//! used by `main` and by the tests (which listen on port 0).

use crate::backend::AppBackend;
use crate::config::Config;
use crate::demo_seed::seed_demo;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use cloudcgm_app::backend::BackendHandle;
use cloudcgm_app::{shell, App};
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// A bound, ready-to-run server.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    pub store: Arc<SqliteStore>,
}

impl Application {
    /// Opens the store (running migrations), seeds demo data when configured, and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = Arc::new(SqliteStore::connect(&config.database_url).await?);
        if config.seed_demo {
            seed_demo(store.as_ref(), chrono::Utc::now()).await?;
        }
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let router = router(&config, store.clone());
        Ok(Application {
            listener,
            router,
            store,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until ctrl-c / SIGTERM.
    pub async fn run(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown_signal())
            .await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// The Leptos options for our site layout (what cargo-leptos writes under `site_root/pkg`).
pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("cloudcgm")
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .env(Env::PROD)
        .site_addr(config.addr)
        .build()
}

/// The whole HTTP surface.
pub fn router(config: &Config, store: Arc<dyn Store>) -> Router {
    let options = leptos_options(config);
    let backend = BackendHandle(Arc::new(AppBackend::new(store, config.demo_mode)));
    let context = move || provide_context(backend.clone());
    let routes = generate_route_list(App);
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler_with_context(context, shell))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        // Hydration bootstraps from an inline module script and the charts carry inline styles.
        // frame-ancestors stays 'none' until EHR origins are registered (issue 4 widens it per EHR).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
                 style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
                 frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ))
        .with_state(options)
}
