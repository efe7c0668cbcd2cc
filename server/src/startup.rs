//! Builds the application: store, backend, Leptos routes, static files, security headers and, when enabled,
//! the sandbox EHR under `/sandbox`. One function used by `main` and by the tests (which listen on port 0);
//! [`SandboxApplication`] is the sandbox EHR alone (`cloudcgm sandbox`).

use crate::backend::AppBackend;
use crate::config::Config;
use crate::demo_seed::seed_demo;
use crate::sandbox::{self, SandboxConfig, SandboxState};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use axum::http::{header, HeaderValue};
use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use cloudcgm_app::backend::BackendHandle;
use cloudcgm_app::{shell, App};
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// A bound, ready-to-run server.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    pub store: Arc<SqliteStore>,
    /// The mounted sandbox EHR, when enabled.
    pub sandbox: Option<SandboxState>,
    /// The origin the application announces (the sandbox's `iss` is `{origin}/sandbox/fhir`).
    pub origin: String,
}

impl Application {
    /// Opens the store (running migrations), seeds demo data when configured, binds the listener, and opens
    /// (and seeds, with the demo data) the sandbox EHR when enabled.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = Arc::new(SqliteStore::connect(&config.database_url).await?);
        if config.seed_demo {
            seed_demo(store.as_ref(), chrono::Utc::now()).await?;
        }
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let origin = origin_for(config.public_origin.as_deref(), listener.local_addr()?);
        let sandbox = if config.sandbox {
            // Same origin as CloudCGM: the sandbox registers CloudCGM at {origin}/launch and /callback.
            let mut sandbox_config =
                SandboxConfig::new(origin.clone(), config.sandbox_database_url.clone());
            sandbox_config.clients_file = config.sandbox_clients_file.clone();
            sandbox_config.seed = config.seed_demo;
            Some(SandboxState::open(sandbox_config).await?)
        } else {
            None
        };
        let router = router(&config, store.clone(), sandbox.clone());
        Ok(Application {
            listener,
            router,
            store,
            sandbox,
            origin,
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

/// The public origin: the configured one, else `http://{bound address}` (with a warning when that is the
/// unspecified address, which no browser can use).
fn origin_for(configured: Option<&str>, bound: SocketAddr) -> String {
    if let Some(origin) = configured {
        return origin.trim_end_matches('/').to_string();
    }
    if bound.ip().is_unspecified() {
        tracing::warn!(
            %bound,
            "listening on all interfaces without a public origin: set CLOUDCGM_PUBLIC_ORIGIN \
             (or --public-origin / --origin) so SMART URLs and form checks use the address browsers reach"
        );
    }
    format!("http://{bound}")
}

/// How `cloudcgm sandbox` runs the sandbox EHR alone.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub addr: SocketAddr,
    /// `None`: `http://{bound address}`.
    pub origin: Option<String>,
    pub database_url: String,
    /// CloudCGM's origin, substituted for `{app}` in the client registry.
    pub app_origin: String,
    pub clients_file: Option<PathBuf>,
    pub seed: bool,
}

/// The sandbox EHR alone on its own listener, at the same `/sandbox/...` paths as when mounted.
pub struct SandboxApplication {
    listener: tokio::net::TcpListener,
    router: Router,
    pub state: SandboxState,
}

impl SandboxApplication {
    pub async fn build(settings: SandboxSettings) -> anyhow::Result<SandboxApplication> {
        let listener = tokio::net::TcpListener::bind(settings.addr).await?;
        let origin = origin_for(settings.origin.as_deref(), listener.local_addr()?);
        let mut config = SandboxConfig::new(origin, settings.database_url);
        config.app_origin = settings.app_origin.trim_end_matches('/').to_string();
        config.clients_file = settings.clients_file;
        config.seed = settings.seed;
        let state = SandboxState::open(config).await?;
        let router = sandbox::mount(state.clone())
            .route("/", get(|| async { Redirect::to(sandbox::LAUNCHER_PATH) }))
            .route("/health", get(|| async { "ok" }))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ));
        Ok(SandboxApplication {
            listener,
            router,
            state,
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

/// The whole HTTP surface. The sandbox, when given, is merged as its own router under `/sandbox` (so the
/// Leptos fallback never sees its paths); its pages carry their own CSP, which the `if_not_present` layer
/// below leaves alone.
pub fn router(config: &Config, store: Arc<dyn Store>, sandbox: Option<SandboxState>) -> Router {
    let options = leptos_options(config);
    let backend = BackendHandle(Arc::new(AppBackend::new(store, config.demo_mode)));
    let context = move || provide_context(backend.clone());
    let routes = generate_route_list(App);
    let mut app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler_with_context(context, shell))
        .with_state(options);
    if let Some(sandbox) = sandbox {
        app = app.merge(sandbox::mount(sandbox));
    }
    app.layer(SetResponseHeaderLayer::overriding(
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
}
