//! CloudCGM's EHR launch, linking and practice administration over real HTTP against the mounted sandbox
//! EHR (issue 4): the whole launch with its redirects followed by hand, the session cookie's attributes,
//! linking with a sharing code through the server functions, and the refusals the issue lists: replayed
//! state and code, `aud`, unknown `iss`, expired and reused codes, throttled guessing, CSRF without Origin,
//! another patient's report unreachable, and no token in any log line, header or page.

mod support;

use support::launch::{session_cookie, TestApp};

use chrono::{Duration, Utc};
use cloudcgm_app::api::{
    AdminLink, AdminOverview, AdminSearchPatients, AdminUnlink, ConfirmLink, LaunchReport,
    LaunchState, PortalNewCode, PortalSignIn, PortalState, ProposeLink,
};
use cloudcgm_server::crypto::aad_for;
use cloudcgm_server::linking::MAX_FAILURES_PER_USER;
use cloudcgm_server::sharing_code::SharingCode;
use cloudcgm_server::store::access::{AuditAction, LaunchId, LaunchStatus, SealedTokens};
use leptos::server_fn::ServerFn;
use reqwest::Url;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Every log line of this test process, for the "no token in any log line" checks.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The app with log capture installed first, so every line of the test is seen.
async fn spawn() -> TestApp {
    captured_logs();
    support::launch::spawn().await
}

#[tokio::test]
async fn a_clinician_launches_links_with_the_patients_code_and_sees_that_patients_report() {
    let app = spawn().await;
    let elena = app.cloudcgm_patient("elena").await;
    let code = app
        .issue_code(elena, Utc::now() + Duration::hours(24))
        .await;
    let l = app.launch(1, "elena").await;

    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=None",
        "Partitioned",
        "Path=/",
    ] {
        assert!(
            l.set_cookie.contains(attribute),
            "{attribute} missing: {}",
            l.set_cookie
        );
    }
    let page = app
        .get(&format!("/ehr/{}", l.handle), Some(&l.cookie))
        .await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("frame-ancestors 'self' {}", app.base)),
        "{csp}"
    );

    let state = app
        .call::<LaunchState>(&l.cookie, &[("ctx", &l.handle)])
        .await
        .json();
    assert_eq!(state["role"], "clinician");
    assert_eq!(state["ehr_patient"]["name"], "Elena Fischer");
    assert!(state["linked"].is_null());

    let not_yet = app
        .call::<LaunchReport>(&l.cookie, &[("ctx", &l.handle), ("query[days]", "14")])
        .await;
    assert_ne!(not_yet.status, 200);
    assert!(not_yet.body.contains("not linked"), "{}", not_yet.body);

    let proposal = app
        .call::<ProposeLink>(
            &l.cookie,
            &[("ctx", &l.handle), ("code", &code.to_lowercase())],
        )
        .await;
    assert_eq!(proposal.status, 200, "{}", proposal.body);
    let p = proposal.json();
    assert_eq!(p["cloudcgm_name"], "Elena Fischer");
    assert_eq!(p["mismatches"].as_array().unwrap().len(), 0, "{p}");
    let confirmed = app
        .call::<ConfirmLink>(&l.cookie, &[("ctx", &l.handle)])
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);

    let report = app
        .call::<LaunchReport>(&l.cookie, &[("ctx", &l.handle), ("query[days]", "14")])
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    let r = report.json();
    assert_eq!(r["patient"]["name"], "Elena Fischer");
    assert_eq!(r["base_path"], format!("/ehr/{}", l.handle));
    assert!(
        r["readings"].as_u64().unwrap() > 1000,
        "two weeks of readings"
    );

    // The code was used up: the same code does nothing for another patient's launch.
    let other = app.launch(1, "james").await;
    let reused = app
        .call::<ProposeLink>(&other.cookie, &[("ctx", &other.handle), ("code", &code)])
        .await;
    assert_ne!(reused.status, 200);
    assert!(reused.body.contains("not valid"), "{}", reused.body);

    let actions = app.audit_actions().await;
    for wanted in ["launch", "link", "report_view", "code_failed"] {
        assert!(
            actions.iter().any(|a| a == wanted),
            "{wanted} not audited: {actions:?}"
        );
    }
    assert_no_token_leaked(&app, &[LaunchId(1), LaunchId(2)]).await;
}

/// No access or refresh token of the given launches appears in any captured log line, header or page.
async fn assert_no_token_leaked(app: &TestApp, launches: &[LaunchId]) {
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).to_string();
    assert!(logs.contains("cloudcgm"), "the log capture works");
    let seen = app.seen.lock().unwrap().clone();
    for id in launches {
        let row = app
            .state
            .access
            .launch(*id)
            .await
            .unwrap()
            .expect("launch row");
        let token = app
            .state
            .secrets
            .keyring
            .open_string(
                &aad_for("launches", id.0, "access_token"),
                &row.tokens.access_token,
            )
            .expect("the sealed token opens with its own row's AAD");
        assert!(token.len() > 16);
        assert!(!row.tokens.access_token.contains(&token), "stored sealed");
        assert!(!logs.contains(&token), "an access token is in the logs");
        assert!(
            !seen.contains(&token),
            "an access token reached the browser"
        );
        assert!(
            app.state
                .secrets
                .keyring
                .open_string(
                    &aad_for("launches", id.0 + 1000, "access_token"),
                    &row.tokens.access_token
                )
                .is_err(),
            "a sealed token does not open for another row"
        );
    }
}

#[tokio::test]
async fn guessing_codes_is_throttled_and_expired_or_revoked_codes_do_not_link() {
    let app = spawn().await;
    let sofia = app.cloudcgm_patient("sofia").await;
    let expired = app
        .issue_code(sofia, Utc::now() - Duration::seconds(1))
        .await;
    let l = app.launch(1, "sofia").await;
    let propose = |code: String| {
        let (cookie, handle) = (l.cookie.clone(), l.handle.clone());
        let app = &app;
        async move {
            app.call::<ProposeLink>(&cookie, &[("ctx", &handle), ("code", &code)])
                .await
        }
    };
    let e = propose(expired).await;
    assert!(e.body.contains("not valid"), "{}", e.body);
    let look_alike = propose("ABC-DEF-GHI0".into()).await;
    assert!(
        look_alike.body.contains("never contain"),
        "{}",
        look_alike.body
    );
    for _ in 1..MAX_FAILURES_PER_USER {
        let wrong = propose(SharingCode::generate().grouped()).await;
        assert!(wrong.body.contains("not valid"), "{}", wrong.body);
    }
    // Now even the right code is refused unchecked until the window passes.
    let good = app.issue_code(sofia, Utc::now() + Duration::hours(1)).await;
    let locked = propose(good).await;
    assert_ne!(locked.status, 200);
    assert!(
        locked.body.contains("Too many wrong codes"),
        "{}",
        locked.body
    );
    let actions = app.audit_actions().await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == AuditAction::CodeFailed.as_str())
            .count() as i64,
        MAX_FAILURES_PER_USER
    );
    assert!(actions.iter().any(|a| a == "code_locked"));
}

#[tokio::test]
async fn unknown_iss_missing_parameters_and_a_forged_state_get_clear_pages() {
    let app = spawn().await;
    let plain = app.get("/launch", None).await;
    assert_eq!(plain.status, 400);
    assert!(plain.body.contains("Open CloudCGM from your EHR"));
    let evil = app
        .get(
            "/launch?iss=https%3A%2F%2Fevil.example%2Ffhir&launch=x",
            None,
        )
        .await;
    assert_eq!(evil.status, 403);
    assert!(evil.body.contains("not registered"));
    assert!(evil.location().is_empty(), "no redirect to an unknown EHR");
    let forged = app.get("/callback?code=abc&state=forged", None).await;
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("expired or was already used"));
    let no_state = app.get("/callback?code=abc", None).await;
    assert_eq!(no_state.status, 400);
    // A real callback URL opened in another browser (no session of this launch) does not sign anyone in,
    // and it is used up: the browser that started the launch cannot finish it either.
    let (started, callback) = app.start_launch(1, "elena").await;
    let elsewhere = app.get(&callback, None).await;
    assert_eq!(elsewhere.status, 400);
    assert!(elsewhere.body.contains("expired or was already used"));
    let late = app.get(&callback, Some(&started)).await;
    assert_eq!(late.status, 400);
    // The EHR (or the user) refused: a page that says so and what to do.
    let (started, callback) = app.start_launch(1, "elena").await;
    let state = Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut denied = Url::parse(&format!("{}/callback", app.base)).unwrap();
    denied
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("state", &state);
    let refused = app.get(denied.as_str(), Some(&started)).await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("did not authorize CloudCGM"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("allow access"), "{}", refused.body);
    let jwks = app.get("/.well-known/jwks.json", None).await.json();
    assert_eq!(jwks["keys"][0]["alg"], "ES384");
    assert!(jwks["keys"][0].get("d").is_none());
}

#[tokio::test]
async fn csrf_without_our_origin_and_another_patients_data_are_refused() {
    let app = spawn().await;
    let liam = app.cloudcgm_patient("liam").await;
    let code = app.issue_code(liam, Utc::now() + Duration::hours(1)).await;
    let a = app.launch(1, "liam").await;
    let b = app.launch(1, "james").await;

    // No Origin and no Sec-Fetch-Site: refused before the server function runs.
    for origin in [None, Some("https://evil.example")] {
        let mut request = app
            .http
            .post(format!("{}{}", app.base, ProposeLink::PATH))
            .header("cookie", &a.cookie)
            .form(&[("ctx", a.handle.as_str()), ("code", code.as_str())]);
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        let refused = app.send(request).await;
        assert_eq!(refused.status, 403, "{origin:?}");
        assert!(refused.body.contains("did not come from a CloudCGM page"));
    }
    // The code was not consumed by the refused requests: the real page can still use it.
    let ok = app
        .call::<ProposeLink>(&a.cookie, &[("ctx", &a.handle), ("code", &code)])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        app.call::<ConfirmLink>(&a.cookie, &[("ctx", &a.handle)])
            .await
            .status,
        200
    );

    // Launch b's session cannot use launch a's handle, and a handle without its session is nothing.
    let crossed = app
        .call::<LaunchReport>(&b.cookie, &[("ctx", &a.handle), ("query[days]", "14")])
        .await;
    assert_ne!(crossed.status, 200);
    assert!(
        crossed.body.contains("session for this patient has ended"),
        "{}",
        crossed.body
    );
    let james = app
        .call::<LaunchReport>(&b.cookie, &[("ctx", &b.handle), ("query[days]", "14")])
        .await;
    assert!(james.body.contains("not linked"), "{}", james.body);
    let no_session = app
        .send(
            app.http
                .post(format!("{}{}", app.base, LaunchReport::PATH))
                .header("origin", &app.base)
                .form(&[("ctx", a.handle.as_str()), ("query[days]", "14")]),
        )
        .await;
    assert_ne!(no_session.status, 200);

    // Demo mode is off: a report by patient id is refused.
    let by_id = app.get(&format!("/patients/{}/report", liam.0), None).await;
    assert!(
        by_id.body.contains("Demo patients are disabled"),
        "{}",
        by_id.body
    );
    // A clinician is not an admin.
    let console = app
        .call::<AdminOverview>(&a.cookie, &[("ctx", &a.handle)])
        .await;
    assert!(console.body.contains("administrators"), "{}", console.body);
}

#[tokio::test]
async fn an_admin_sees_the_practices_links_unlinks_with_a_reason_and_exports_the_audit_log() {
    let app = spawn().await;
    let james = app.cloudcgm_patient("james").await;
    let code = app.issue_code(james, Utc::now() + Duration::hours(1)).await;
    let clinician = app.launch(1, "james").await;
    app.call::<ProposeLink>(
        &clinician.cookie,
        &[("ctx", &clinician.handle), ("code", &code)],
    )
    .await;
    assert_eq!(
        app.call::<ConfirmLink>(&clinician.cookie, &[("ctx", &clinician.handle)])
            .await
            .status,
        200
    );
    let admin = app.launch(0, "elena").await;
    let state = app
        .call::<LaunchState>(&admin.cookie, &[("ctx", &admin.handle)])
        .await
        .json();
    assert_eq!(
        state["role"], "admin",
        "the sandbox's first practitioner is the admin"
    );
    let overview = app
        .call::<AdminOverview>(&admin.cookie, &[("ctx", &admin.handle)])
        .await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    let v = overview.json();
    let links = v["links"].as_array().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["patient_name"], "James Carter");
    assert_eq!(links[0]["linked_by"], app.practitioner(1).await);
    let link_id = links[0]["id"].as_i64().unwrap().to_string();

    let no_reason = app
        .call::<AdminUnlink>(
            &admin.cookie,
            &[
                ("ctx", &admin.handle),
                ("link_id", &link_id),
                ("reason", " "),
            ],
        )
        .await;
    assert!(
        no_reason.body.contains("why the link is removed"),
        "{}",
        no_reason.body
    );
    let unlinked = app
        .call::<AdminUnlink>(
            &admin.cookie,
            &[
                ("ctx", &admin.handle),
                ("link_id", &link_id),
                ("reason", "linked to the wrong chart"),
            ],
        )
        .await;
    assert_eq!(unlinked.status, 200, "{}", unlinked.body);
    let after = app
        .call::<LaunchState>(&clinician.cookie, &[("ctx", &clinician.handle)])
        .await
        .json();
    assert!(
        after["linked"].is_null(),
        "the clinician's view sees the unlink at once"
    );

    let csv = app
        .get(
            &format!("/ehr/{}/admin/audit.csv", admin.handle),
            Some(&admin.cookie),
        )
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let mut lines = csv.body.lines();
    assert_eq!(
        lines.next(),
        Some("time,ehr,actor,action,ehr_patient,cloudcgm_patient,source_ip,detail")
    );
    let body: Vec<&str> = lines.collect();
    assert!(body
        .iter()
        .any(|l| l.contains(",unlink,") && l.contains("linked to the wrong chart")));
    assert!(body.iter().any(|l| l.contains(",link,")));
    let clinician_csv = app
        .get(
            &format!("/ehr/{}/admin/audit.csv", clinician.handle),
            Some(&clinician.cookie),
        )
        .await;
    assert_eq!(
        clinician_csv.status, 403,
        "clinicians do not export the audit log"
    );
}

#[tokio::test]
async fn an_admin_links_from_the_console_by_ehr_search_and_code_and_a_mismatch_needs_a_reason() {
    let app = spawn().await;
    let admin = app.launch(0, "elena").await;
    let found = app
        .call::<AdminSearchPatients>(
            &admin.cookie,
            &[("ctx", &admin.handle), ("name", "Ramírez")],
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let list = found.json();
    let sofia_ehr = app.ehr_patient("sofia").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], sofia_ehr.as_str());
    assert_eq!(list[0]["name"], "Sofía Ramírez");

    // Liam's code offered for Sofía's chart: the identities differ, so a reason is required.
    let liam = app.cloudcgm_patient("liam").await;
    let code = app.issue_code(liam, Utc::now() + Duration::hours(1)).await;
    let link = |reason: &'static str| {
        let (cookie, handle, ehr, code) = (
            admin.cookie.clone(),
            admin.handle.clone(),
            sofia_ehr.clone(),
            code.clone(),
        );
        let app = &app;
        async move {
            app.call::<AdminLink>(
                &cookie,
                &[
                    ("ctx", &handle),
                    ("ehr_patient_id", &ehr),
                    ("code", &code),
                    ("reason", reason),
                ],
            )
            .await
        }
    };
    let refused = link("").await;
    assert_ne!(refused.status, 200);
    assert!(refused.body.contains("What differs"), "{}", refused.body);
    assert!(refused.body.contains("Sofía Ramírez"), "{}", refused.body);
    let linked = link("test chart for the demo").await;
    assert_eq!(linked.status, 200, "{}", linked.body);
    let v = app
        .call::<AdminOverview>(&admin.cookie, &[("ctx", &admin.handle)])
        .await
        .json();
    assert_eq!(v["links"][0]["ehr_patient_id"], sofia_ehr.as_str());
    assert_eq!(v["links"][0]["patient_name"], "Liam O'Brien");
    assert_eq!(v["links"][0]["mismatch_reason"], "test chart for the demo");
    // The code was consumed by the link, not by the refused attempt before it.
    let again = link("test chart for the demo").await;
    assert!(again.body.contains("not valid"), "{}", again.body);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_and_a_failed_refresh_asks_for_a_new_launch() {
    let app = spawn().await;
    let admin = app.launch(0, "elena").await;
    let id = LaunchId(1);
    let row = app
        .state
        .access
        .launch(id)
        .await
        .unwrap()
        .expect("launch row");
    let open = |sealed: &str| {
        app.state
            .secrets
            .keyring
            .open_string(&aad_for("launches", id.0, "access_token"), sealed)
            .expect("opens")
    };
    let before = open(&row.tokens.access_token);
    assert!(
        row.tokens.refresh_token.is_some(),
        "the sandbox grants a refresh token"
    );
    // Thirty seconds left: inside the refresh margin.
    let soon = SealedTokens {
        expires_at: Some(Utc::now() + Duration::seconds(30)),
        ..row.tokens.clone()
    };
    app.state.access.update_tokens(id, &soon).await.unwrap();
    let search = || async {
        app.call::<AdminSearchPatients>(
            &admin.cookie,
            &[("ctx", &admin.handle), ("name", "Carter")],
        )
        .await
    };
    let found = search().await;
    assert_eq!(found.status, 200, "{}", found.body);
    let refreshed = app.state.access.launch(id).await.unwrap().unwrap();
    assert_ne!(
        open(&refreshed.tokens.access_token),
        before,
        "a new access token"
    );
    assert!(refreshed.tokens.expires_at.unwrap() > Utc::now() + Duration::minutes(5));

    // A refresh token the EHR does not know: the launch needs a new launch, and the console says so.
    let bogus = app
        .state
        .secrets
        .keyring
        .seal(
            &aad_for("launches", id.0, "refresh_token"),
            b"not-a-refresh-token",
        )
        .unwrap();
    let broken = SealedTokens {
        refresh_token: Some(bogus),
        expires_at: Some(Utc::now()),
        ..refreshed.tokens.clone()
    };
    app.state.access.update_tokens(id, &broken).await.unwrap();
    let failed = search().await;
    assert_ne!(failed.status, 200);
    assert!(
        failed.body.contains("open CloudCGM again"),
        "{}",
        failed.body
    );
    let row = app.state.access.launch(id).await.unwrap().unwrap();
    assert_eq!(row.status, LaunchStatus::NeedsRelaunch);
    let v = app
        .call::<AdminOverview>(&admin.cookie, &[("ctx", &admin.handle)])
        .await
        .json();
    assert_eq!(v["needs_relaunch"][0], app.practitioner(0).await);
}

#[tokio::test]
async fn portal_sign_in_locks_after_repeated_failures_and_a_signed_in_patient_gets_a_code() {
    let app = spawn().await;
    let sign_in = |user: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.send(
                app.http
                    .post(format!("{}{}", app.base, PortalSignIn::PATH))
                    .header("origin", &app.base)
                    .form(&[("username", user), ("password", password)]),
            )
            .await
        }
    };
    let ok = sign_in("James", "james-cgm-demo").await;
    assert_eq!(
        ok.status, 200,
        "usernames are case-insensitive: {}",
        ok.body
    );
    let (cookie, _) = session_cookie(&ok.headers);
    assert_eq!(app.call::<PortalNewCode>(&cookie, &[]).await.status, 200);
    let portal = app.call::<PortalState>(&cookie, &[]).await.json();
    assert_eq!(portal["name"], "James Carter");
    assert_eq!(portal["code"]["status"], "active");
    let shown = portal["code"]["code"].as_str().unwrap().to_string();
    assert!(SharingCode::parse(&shown).is_ok(), "{shown}");

    for _ in 0..cloudcgm_server::portal::MAX_SIGN_IN_FAILURES_PER_USER {
        let wrong = sign_in("elena", "guess").await;
        assert!(wrong.body.contains("not right"), "{}", wrong.body);
    }
    let locked = sign_in("elena", "elena-cgm-demo").await;
    assert!(
        locked.body.contains("Too many failed sign-ins"),
        "{}",
        locked.body
    );
    let unknown = sign_in("nobody", "elena-cgm-demo").await;
    assert!(
        unknown.body.contains("not right"),
        "an unknown user gets the same answer"
    );
    let other = sign_in("sofia", "sofia-cgm-demo").await;
    assert_eq!(
        other.status, 200,
        "another user is not locked out: {}",
        other.body
    );
}
