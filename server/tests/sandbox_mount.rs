//! The sandbox EHR where people meet it: mounted under `/sandbox` inside CloudCGM's own router (`serve
//! --sandbox`, implied by `--seed-demo`) on a real port, and alone as `cloudcgm sandbox` (a subprocess).
//! Checks the redirects to the launcher, discovery, the seeded launcher, that the sandbox's pages keep
//! their own CSP under CloudCGM's security-header layers, that Leptos' fallback never answers for a sandbox
//! path, and CORS on the API only.

mod support;

use support::app_config;

use cloudcgm::demo::demo_patients;
use cloudcgm_server::startup::Application;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_SECURITY_POLICY,
    CONTENT_TYPE, LOCATION,
};
use reqwest::StatusCode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Mounted {
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn spawn_with_sandbox() -> Mounted {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = app_config(dir.path(), true, true);
    let app = Application::build(config).await.expect("app builds");
    let addr = app.local_addr().expect("bound");
    assert_eq!(app.origin, format!("http://{addr}"));
    tokio::spawn(app.run());
    Mounted {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        _dir: dir,
    }
}

impl Mounted {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }
}

fn header(r: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The `value` of the first radio input named `name` on the launcher.
fn first_choice(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker).expect("a choice");
    let rest = &html[at..];
    let value = rest.find("value=\"").expect("a value") + 7;
    let len = rest[value..].find('"').expect("a closing quote");
    rest[value..value + len].to_string()
}

#[tokio::test]
async fn serve_with_the_sandbox_mounts_it_under_sandbox_with_seeded_patients_and_discovery() {
    let app = spawn_with_sandbox().await;

    for path in ["/sandbox", "/sandbox/"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(header(&r, LOCATION), "/sandbox/ehr", "{path}");
    }

    let r = app
        .get("/sandbox/fhir/.well-known/smart-configuration")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let discovery: Value = r.json().await.expect("JSON");
    let fhir_base = format!("{}/sandbox/fhir", app.base);
    assert_eq!(discovery["issuer"], fhir_base.as_str());
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{}/sandbox/auth/authorize", app.base).as_str()
    );
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/sandbox/auth/token", app.base).as_str()
    );

    let r = app.get("/sandbox/ehr").await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = header(&r, CONTENT_SECURITY_POLICY).to_string();
    assert!(
        csp.contains("script-src 'none'"),
        "the EHR's own CSP: {csp}"
    );
    let html = r.text().await.expect("body");
    for demo in demo_patients() {
        assert!(
            html.contains(&format!("{} {}", demo.given, demo.family).replace('\'', "&#39;")),
            "{} {} on the launcher",
            demo.given,
            demo.family
        );
        assert!(html.contains(&demo.birth_date.format("%Y-%m-%d").to_string()));
    }
    assert!(html.contains("Maya Patel") && html.contains("SBX-100231"));
    assert!(
        html.contains("value=\"fhirclient-demo\""),
        "the independent client can be launched"
    );
}

/// CloudCGM's root layer sets its CSP (`frame-ancestors 'none'`) only where none is present: the chart, which
/// frames the app, keeps its own `frame-src` with the app's origin.
#[tokio::test]
async fn the_mounted_chart_keeps_its_own_csp_and_cloudcgm_pages_keep_theirs() {
    let app = spawn_with_sandbox().await;
    let launcher = app.get("/sandbox/ehr").await.text().await.expect("body");
    let practitioner = first_choice(&launcher, "practitioner");
    let patient = first_choice(&launcher, "patient");

    let r = app
        .get(&format!(
            "/sandbox/ehr/{practitioner}/patients/{patient}?app=fhirclient-demo"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = header(&r, CONTENT_SECURITY_POLICY).to_string();
    assert!(
        csp.contains("frame-src 'self' http://127.0.0.1:9090"),
        "{csp}"
    );
    assert!(!csp.contains("wasm-unsafe-eval"), "not CloudCGM's: {csp}");
    let html = r.text().await.expect("body");
    let iss = format!(
        "iss={}",
        format!("{}/sandbox/fhir", app.base)
            .replace(':', "%3A")
            .replace('/', "%2F")
    );
    assert!(
        html.contains(&iss),
        "the launch's iss is the mounted FHIR base"
    );

    let r = app.get("/sandbox/ehr/orders-of-nobody").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(header(&r, CONTENT_SECURITY_POLICY).contains("script-src 'none'"));
    let body = r.text().await.expect("body");
    assert!(
        body.contains("Sandbox EHR"),
        "the sandbox's 404, not Leptos'"
    );

    let r = app.get("/sandbox/fhir/NoSuchThing/1/x").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(header(&r, CONTENT_TYPE).starts_with("application/fhir+json"));

    let r = app.get("/health").await;
    // CloudCGM's pages may be framed by the mounted sandbox EHR (both local spellings) and nobody else.
    let localhost = app.base.replace("127.0.0.1", "localhost");
    assert!(
        header(&r, CONTENT_SECURITY_POLICY)
            .contains(&format!("frame-ancestors 'self' {} {localhost};", app.base)),
        "{}",
        header(&r, CONTENT_SECURITY_POLICY)
    );
}

#[tokio::test]
async fn cors_is_on_the_api_for_browser_apps_and_never_on_the_pages() {
    let app = spawn_with_sandbox().await;
    let preflight = |path: &'static str, method: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.base))
            .header("Origin", "http://127.0.0.1:9090")
            .header("Access-Control-Request-Method", method)
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    for (path, method) in [
        ("/sandbox/auth/token", "POST"),
        ("/sandbox/fhir/.well-known/smart-configuration", "GET"),
    ] {
        let r = preflight(path, method).await.expect("preflight");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(header(&r, ACCESS_CONTROL_ALLOW_ORIGIN), "*", "{path}");
        assert!(r.headers().get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    }
    let r = app
        .client
        .get(format!("{}/sandbox/ehr", app.base))
        .header("Origin", "http://127.0.0.1:9090")
        .send()
        .await
        .expect("page");
    assert!(r.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

/// `cloudcgm sandbox` ends its child when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn cloudcgm_sandbox_runs_the_sandbox_alone_at_the_same_paths() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudcgm"))
        .args([
            "sandbox",
            "--addr",
            "127.0.0.1:0",
            "--seed",
            "--database-url",
        ])
        .arg(format!(
            "sqlite://{}/sandbox.db?mode=rwc",
            dir.path().display()
        ))
        .args(["--app-origin", "http://cloudcgm.test:3000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cloudcgm sandbox starts");
    let stdout = child.stdout.take().expect("stdout");
    let _server = Server(child);
    // "Sandbox EHR (test data only): http://127.0.0.1:PORT/sandbox/ehr"
    // The reader stays alive until the end: a closed pipe would end the server at its next line.
    let (line, _stdout) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).map(|_| (line, reader))
    })
    .await
    .expect("join")
    .expect("first line");
    let launcher = line
        .split_once(": ")
        .map(|(_, url)| url.trim().to_string())
        .expect("the launcher URL is printed");
    assert!(launcher.ends_with("/sandbox/ehr"), "{line}");
    let origin = launcher.trim_end_matches("/sandbox/ehr").to_string();

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client.get(format!("{origin}/")).send().await.expect("root");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&r, LOCATION), "/sandbox/ehr");

    let html = client
        .get(&launcher)
        .send()
        .await
        .expect("launcher")
        .text()
        .await
        .expect("body");
    assert!(html.contains("Elena Fischer") && html.contains("James Carter"));

    let discovery: Value = client
        .get(format!(
            "{origin}/sandbox/fhir/.well-known/smart-configuration"
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        discovery["issuer"],
        format!("{origin}/sandbox/fhir").as_str()
    );
}
