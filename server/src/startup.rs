//! Builds the application: store, secrets, EHR registry, sessions, the EHR launch, backend, Leptos routes,
//! static files, security headers and, when enabled, the sandbox EHR under `/sandbox` (registered as an EHR,
//! with its seeded practitioners as practice members). One function used by `main` and by the tests (which listen on port 0);
//! [`SandboxApplication`] is the sandbox EHR alone (`cloudcgm sandbox`).

use crate::backend::AppBackend;
use crate::config::Config;
use crate::demo_seed::seed_demo;
use crate::ehr_registry::{Ehr, EhrAuth, EhrRegistry};
use crate::sandbox::{self, SandboxConfig, SandboxState};
use crate::secrets::AppSecrets;
use crate::state::{AccessSettings, AppState};
use crate::store::access::{AccessStore, Role};
use crate::store::sqlite::SqliteStore;
use crate::web::{csrf, headers, session};
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
    /// Stores, secrets and registry, as the handlers see them.
    pub state: Arc<AppState>,
}

impl Application {
    /// Opens the store (running migrations), seeds demo data when configured, binds the listener, and opens
    /// (and seeds, with the demo data) the sandbox EHR when enabled.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_with_clock(config, Arc::new(crate::clock::SystemClock)).await
    }

    /// [`Application::build`] with the clock jobs and order schedules use (tests simulate weeks with it).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> anyhow::Result<Application> {
        let store = Arc::new(SqliteStore::connect(&config.database_url).await?);
        if config.seed_demo {
            seed_demo(store.as_ref(), chrono::Utc::now()).await?;
        }
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let origin = origin_for(config.public_origin.as_deref(), listener.local_addr()?);
        let sandbox_origin = config
            .sandbox_origin
            .clone()
            .unwrap_or_else(|| origin.clone());
        let sandbox = if config.sandbox {
            // The sandbox registers CloudCGM at {origin}/launch and /callback.
            let mut sandbox_config =
                SandboxConfig::new(sandbox_origin.clone(), config.sandbox_database_url.clone());
            sandbox_config.app_origin = origin.clone();
            sandbox_config.clients_file = config.sandbox_clients_file.clone();
            sandbox_config.seed = config.seed_demo;
            Some(SandboxState::open(sandbox_config).await?)
        } else {
            None
        };
        let secrets = Arc::new(AppSecrets::load(config.dev_secrets_file.as_deref())?);
        let mut ehrs = match &config.ehrs_file {
            Some(path) => EhrRegistry::from_file(path)?,
            None => EhrRegistry::default(),
        };
        if let Some(sandbox) = &sandbox {
            ehrs.add(sandbox_ehr(sandbox, &sandbox_origin).await?)?;
        }
        for ehr in ehrs.all() {
            for member in &ehr.members {
                store
                    .ensure_member(&ehr.id, &member.fhir_user, member.role)
                    .await?;
            }
        }
        if config.seed_demo {
            let added = crate::portal::seed_demo_accounts(store.as_ref(), store.as_ref()).await?;
            if added > 0 {
                tracing::info!(added, "demo portal accounts created");
            }
        }
        let mut state = AppState::new(
            store.clone(),
            store.clone(),
            store.clone(),
            secrets,
            Arc::new(ehrs),
            AccessSettings {
                code_ttl: chrono::Duration::hours(config.code_ttl_hours),
                demo_mode: config.demo_mode,
                origin: origin.clone(),
            },
        )?;
        state.clock = clock;
        let state = Arc::new(state);
        let sessions = session::layer(store.pool().clone()).await?;
        let router = router(&config, state.clone(), sessions, sandbox.clone())?;
        Ok(Application {
            state,
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

    /// Serves until ctrl-c / SIGTERM. Handlers see the peer address (rate limits per address).
    /// The job worker and the order ticker run beside the server and stop with it.
    pub async fn run(self) -> std::io::Result<()> {
        let background = [
            crate::jobs::spawn_worker(self.state.clone()),
            crate::jobs::sync_orders::spawn_ticker(self.state.clone()),
        ];
        let served = self.run_without_jobs().await;
        for task in background {
            task.abort();
        }
        served
    }

    /// Serves HTTP only: tests that drive the jobs themselves (with a manual clock) use this.
    pub async fn run_without_jobs(self) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
    }
}

/// The mounted sandbox as a registered EHR: CloudCGM authenticates with its client key (the sandbox
/// fetches `{origin}/.well-known/jwks.json`), the sandbox's pages may frame CloudCGM, users it vouches for
/// become clinicians, and its seeded first practitioner (Maya Patel) is the practice admin.
async fn sandbox_ehr(sandbox: &SandboxState, origin: &str) -> anyhow::Result<Ehr> {
    let mut members = Vec::new();
    for (i, (npi, _, _)) in sandbox::seed::PRACTITIONERS.iter().enumerate() {
        let found = sandbox
            .fhir
            .find_by_identifier("Practitioner", sandbox::seed::NPI_SYSTEM, npi)
            .await?;
        if let Some(p) = found.into_iter().next() {
            members.push(crate::ehr_registry::Member {
                fhir_user: format!("Practitioner/{}", p.id),
                role: if i == 0 { Role::Admin } else { Role::Clinician },
            });
        }
    }
    let mut frame_origins = vec![origin.to_string()];
    // A local demo is often opened as localhost and as 127.0.0.1: both are the same sandbox.
    for (a, b) in [
        ("://127.0.0.1", "://localhost"),
        ("://localhost", "://127.0.0.1"),
    ] {
        if origin.contains(a) {
            frame_origins.push(origin.replacen(a, b, 1));
        }
    }
    Ok(Ehr {
        id: "sandbox".into(),
        name: "CloudCGM sandbox EHR".into(),
        iss: sandbox.config.fhir_base(),
        client_id: "cloudcgm".into(),
        auth: EhrAuth::PrivateKeyJwt,
        frame_origins,
        enroll_unknown_users_as: Some(Role::Clinician),
        members,
    })
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

/// The whole HTTP surface. CloudCGM's own routes (launch, pages, server functions, exports) run inside the
/// session layer and the CSRF check; the sandbox, when given, is merged as its own router under `/sandbox`
/// (its token and FHIR endpoints take cross-origin POSTs by design) and keeps its own CSP, which the
/// `if_not_present` layer below leaves alone.
pub fn router(
    config: &Config,
    state: Arc<AppState>,
    sessions: tower_sessions::SessionManagerLayer<tower_sessions_sqlx_store::SqliteStore>,
    sandbox: Option<SandboxState>,
) -> anyhow::Result<Router> {
    let options = leptos_options(config);
    let backend = BackendHandle(Arc::new(AppBackend::with_state(state.clone())));
    let context = move || provide_context(backend.clone());
    let routes = generate_route_list(App);
    let csp = headers::content_security_policy(&state.ehrs.frame_origins())?;
    let csrf_origin = csrf::CsrfOrigin(Arc::from(state.settings.origin.as_str()));
    let cloudcgm = Router::new()
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler_with_context(context, shell))
        .with_state(options)
        .merge(crate::launch::router(state.clone()))
        .merge(crate::admin::router(state.clone()))
        .merge(crate::report_download::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            csrf_origin,
            csrf::check,
        ))
        .layer(sessions)
        // Outside the session layer, which writes its cookie on the way out.
        .layer(axum::middleware::from_fn(session::partition_cookie));
    let mut app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(cloudcgm);
    if let Some(sandbox) = sandbox {
        app = app.merge(sandbox::mount(sandbox));
    }
    Ok(app
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            csp,
        )))
}
