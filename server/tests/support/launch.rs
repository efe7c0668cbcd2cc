//! A CloudCGM test server with the sandbox EHR mounted, driven like a browser: launches from the sandbox chart
//! with the redirects followed by hand, server functions called with our Origin, and lookups of the seeded
//! sandbox data. Used by the launch/linking tests and the submission tests.

use super::app_config;
use chrono::{Duration, Utc};
use cloudcgm_server::clock::ManualClock;
use cloudcgm_server::portal;
use cloudcgm_server::sandbox::auth::LaunchContext;
use cloudcgm_server::sandbox::{seed, SandboxState};
use cloudcgm_server::startup::Application;
use cloudcgm_server::state::AppState;
use cloudcgm_server::store::PatientId;
use leptos::server_fn::ServerFn;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::Url;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct TestApp {
    pub base: String,
    pub state: Arc<AppState>,
    pub sandbox: SandboxState,
    pub http: reqwest::Client,
    /// Every response body and header this test saw, for the leak checks.
    pub seen: Mutex<String>,
    /// The task serving HTTP; [`TestApp::stop_serving`] ends it.
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    pub _dir: tempfile::TempDir,
}

pub async fn spawn() -> TestApp {
    spawn_app(None).await
}

/// The app on a manual clock, serving HTTP only: the test runs the jobs itself, step by simulated step.
pub async fn spawn_on_clock(clock: Arc<ManualClock>) -> TestApp {
    spawn_app(Some(clock)).await
}

async fn spawn_app(clock: Option<Arc<ManualClock>>) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    // Demo mode off: only the launch may open a report.
    let config = app_config(dir.path(), false, true);
    let app = match &clock {
        Some(clock) => Application::build_with_clock(config, clock.clone())
            .await
            .expect("app builds"),
        None => Application::build(config).await.expect("app builds"),
    };
    let sandbox = app.sandbox.clone().expect("sandbox mounted");
    let state = app.state.clone();
    let base = app.origin.clone();
    let server = if clock.is_some() {
        tokio::spawn(app.run_without_jobs())
    } else {
        tokio::spawn(app.run())
    };
    TestApp {
        base,
        state,
        sandbox,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        seen: Mutex::new(String::new()),
        server,
        _dir: dir,
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// The session cookie a response set: the `name=value` pair and the whole header.
pub fn session_cookie(headers: &HeaderMap) -> (String, String) {
    let set_cookie = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .find(|c| c.starts_with("cloudcgm_session="))
        .expect("a session cookie");
    let pair = set_cookie.split(';').next().expect("pair").to_string();
    (pair, set_cookie)
}

/// A launch as the browser holds it.
pub struct Launched {
    pub cookie: String,
    pub handle: String,
    pub set_cookie: String,
}

impl TestApp {
    /// Stops serving HTTP and returns once the listener is closed; the stores stay open. A crash test hands
    /// the port and the databases to a `cloudcgm` process this way.
    pub async fn stop_serving(&self) {
        self.server.abort();
        while !self.server.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        let mut seen = self.seen.lock().expect("seen");
        seen.push_str(&format!("{headers:?}\n{body}\n"));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, url: &str, cookie: Option<&str>) -> Answer {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.base)
        };
        let mut request = self.http.get(url);
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        self.send(request).await
    }

    /// Calls a server function the way a hydrated page does (form body, our Origin).
    pub async fn call<F: ServerFn>(&self, cookie: &str, form: &[(&str, &str)]) -> Answer {
        let request = self
            .http
            .post(format!("{}{}", self.base, F::PATH))
            .header("cookie", cookie)
            .header("origin", &self.base)
            .form(form);
        self.send(request).await
    }

    pub async fn sandbox_id(&self, resource: &str, system: &str, value: &str) -> String {
        self.sandbox
            .fhir
            .find_by_identifier(resource, system, value)
            .await
            .expect("lookup")
            .into_iter()
            .next()
            .expect("seeded")
            .id
    }

    pub async fn practitioner(&self, index: usize) -> String {
        let npi = seed::PRACTITIONERS[index].0;
        let id = self.sandbox_id("Practitioner", seed::NPI_SYSTEM, npi).await;
        format!("Practitioner/{id}")
    }

    pub async fn ehr_patient(&self, key: &str) -> String {
        self.sandbox_id("Patient", seed::MRN_SYSTEM, &seed::mrn(key))
            .await
    }

    pub async fn cloudcgm_patient(&self, key: &str) -> PatientId {
        self.state
            .patients
            .demo_patients()
            .await
            .expect("patients")
            .into_iter()
            .find(|o| o.patient.demo_key.as_deref() == Some(key))
            .expect("demo patient")
            .patient
            .id
    }

    /// A sharing code for `patient` that expires at `expires_at`, issued as the portal does.
    pub async fn issue_code(
        &self,
        patient: PatientId,
        expires_at: chrono::DateTime<Utc>,
    ) -> String {
        let issued = Utc::now() - Duration::minutes(1);
        portal::issue_code(&self.state, patient, issued, expires_at)
            .await
            .expect("code issued")
    }

    /// Starts CloudCGM's launch from the sandbox chart of `patient_key` as practitioner `who` and follows
    /// `/launch` → the sandbox's authorize endpoint; returns the session cookie `/launch` set and the
    /// callback URL the EHR sent the browser to.
    pub async fn start_launch(&self, who: usize, patient_key: &str) -> (String, String) {
        let context = LaunchContext {
            fhir_user: self.practitioner(who).await,
            patient: self.ehr_patient(patient_key).await,
            encounter: None,
            need_patient_banner: true,
        };
        let launch = self
            .sandbox
            .auth
            .create_launch("cloudcgm", context)
            .await
            .expect("launch id");
        let iss = self.sandbox.config.fhir_base();
        let mut url = Url::parse(&format!("{}/launch", self.base)).expect("url");
        url.query_pairs_mut()
            .append_pair("iss", &iss)
            .append_pair("launch", &launch);
        let start = self.get(url.as_str(), None).await;
        assert_eq!(start.status, 303, "{}", start.body);
        let authorize = Url::parse(&start.location()).expect("authorize URL");
        let q: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
        assert_eq!(q["aud"], iss, "aud is exactly the iss");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["redirect_uri"], format!("{}/callback", self.base));
        assert!(q["scope"].split(' ').any(|s| s == "fhirUser"));
        let to_callback = self.get(authorize.as_str(), None).await;
        assert!(
            to_callback.status == 302 || to_callback.status == 303,
            "{}",
            to_callback.body
        );
        let callback = to_callback.location();
        assert!(
            callback.starts_with(&format!("{}/callback?", self.base)),
            "{callback}"
        );
        (session_cookie(&start.headers).0, callback)
    }

    /// A whole launch: [`TestApp::start_launch`], then the callback in the same browser → `/ehr/{handle}`.
    pub async fn launch(&self, who: usize, patient_key: &str) -> Launched {
        let (started, callback) = self.start_launch(who, patient_key).await;
        let done = self.get(&callback, Some(&started)).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let (cookie, set_cookie) = session_cookie(&done.headers);
        assert_ne!(cookie, started, "the session id changes at sign-in");
        let handle = done
            .location()
            .strip_prefix("/ehr/")
            .expect("to the app")
            .to_string();
        // The callback URL is single use: a replay finds no pending launch.
        let replay = self.get(&callback, Some(&cookie)).await;
        assert_eq!(replay.status, 400);
        assert!(replay.body.contains("expired or was already used"));
        Launched {
            cookie,
            handle,
            set_cookie,
        }
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        self.state
            .access
            .audit_events("sandbox", 1000)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

impl TestApp {
    /// A launch by practitioner `who` for `patient_key`, linked with the patient's sharing code.
    pub async fn launch_linked(&self, who: usize, patient_key: &str) -> Launched {
        use cloudcgm_app::api::{ConfirmLink, ProposeLink};
        let patient = self.cloudcgm_patient(patient_key).await;
        let code = self
            .issue_code(patient, Utc::now() + Duration::hours(24))
            .await;
        let l = self.launch(who, patient_key).await;
        let proposal = self
            .call::<ProposeLink>(&l.cookie, &[("ctx", &l.handle), ("code", &code)])
            .await;
        assert_eq!(proposal.status, 200, "{}", proposal.body);
        let confirmed = self
            .call::<ConfirmLink>(&l.cookie, &[("ctx", &l.handle)])
            .await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.body);
        l
    }
}

impl TestApp {
    /// Runs every due job to its end, as the worker would (tests that drive a manual clock).
    pub async fn drain_jobs(&self) {
        for _ in 0..10_000 {
            if !cloudcgm_server::jobs::run_once(&self.state, "test-worker")
                .await
                .expect("job table")
            {
                return;
            }
        }
        panic!("jobs keep coming");
    }

    /// The sandbox's `resource_type` resources of an EHR patient with LOINC `code`.
    pub async fn sandbox_coded(
        &self,
        resource_type: &str,
        ehr_patient: &str,
        code: &str,
    ) -> Vec<cloudcgm_server::sandbox::fhir::store::Stored> {
        self.sandbox
            .fhir
            .list_for_patient(
                resource_type,
                ehr_patient,
                Some((cloudcgm::fhir::codes::LOINC, code)),
            )
            .await
            .expect("sandbox search")
    }

    /// Asks for a submission the way the report page does (`request[…]` form fields); the job's view.
    pub async fn request_submission(&self, l: &Launched, form: &[(&str, &str)]) -> Value {
        let mut fields = vec![("ctx", l.handle.as_str())];
        fields.extend_from_slice(form);
        let answer = self
            .call::<cloudcgm_app::api::RequestSubmission>(&l.cookie, &fields)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()
    }

    /// How many resources of `resource_type` the sandbox holds for the EHR patient per identifier
    /// `system|value` (the first identifier): the exactly-once checks count with it.
    pub async fn sandbox_per_identifier(
        &self,
        resource_type: &str,
        ehr_patient: &str,
    ) -> HashMap<String, usize> {
        let stored = self
            .sandbox
            .fhir
            .list_for_patient(resource_type, ehr_patient, None)
            .await
            .expect("sandbox");
        let mut counts = HashMap::new();
        for s in stored {
            let id = &s.body["identifier"][0];
            let key = format!(
                "{}|{}",
                id["system"].as_str().unwrap_or("?"),
                id["value"].as_str().unwrap_or("?")
            );
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }
}
