//! The portal's security at the HTTP level, against the real binary: CSRF tokens on every
//! form, escaping of user text, roles, tenant isolation (404, never another tenant's page),
//! cookie flags, sign-in rate limiting, sign-out and one-time passwords. The browser walks in
//! tests/portal/ check the same things through Chromium.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use reqwest::blocking::{Client, Response};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};

/// Creates a portal user through the CLI; with `password` it is read from stdin.
fn create_user(server: &Server, tenant: &str, email: &str, role: &str, password: Option<&str>) -> Value {
    let mut command = Command::new(BIN);
    command.arg("--data-dir").arg(&server.data_dir).args(["user", "create", "--tenant", tenant, "--email", email, "--role", role, "--json"]);
    if password.is_some() {
        command.arg("--password-stdin");
    }
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    if let Some(p) = password {
        writeln!(child.stdin.take().unwrap(), "{p}").unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "user create failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A cookie-keeping client that does not follow redirects, like a browser seen from the wire.
struct Browser {
    client: Client,
    base: String,
    cookies: HashMap<String, String>,
    /// Every Set-Cookie header received, as sent.
    set_cookies: Vec<String>,
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

impl Browser {
    fn new(base: &str) -> Browser {
        let client = Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build().unwrap();
        Browser { client, base: base.to_string(), cookies: HashMap::new(), set_cookies: Vec::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, response: &Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap().to_string();
            let (pair, _) = text.split_once(';').unwrap_or((&text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
            self.set_cookies.push(text);
        }
    }

    fn get(&mut self, path: &str) -> Response {
        let response = self.client.get(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header()).send().unwrap();
        self.keep(&response);
        response
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let response = self.client.post(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header()).form(form).send().unwrap();
        self.keep(&response);
        response
    }

    /// The CSRF token of the session, as every page carries it.
    fn csrf(&mut self) -> String {
        let page = self.get("/portal/alerts").text().unwrap();
        between(&page, "data-csrf=\"", "\"").expect("a page with a CSRF token").to_string()
    }

    fn sign_in(&mut self, email: &str, password: &str) -> Response {
        let page = self.get("/portal/signin").text().unwrap();
        let token = between(&page, "name=\"csrf\" value=\"", "\"").expect("the sign-in form carries a token").to_string();
        self.post("/portal/signin", &[("csrf", &token), ("email", email), ("password", password), ("next", "/portal/")])
    }
}

fn location(response: &Response) -> String {
    response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

const PASSWORD: &str = "a long enough passphrase";

fn signed_in(server: &Server, email: &str) -> Browser {
    let mut browser = Browser::new(&server.url);
    let response = browser.sign_in(email, PASSWORD);
    assert_eq!(response.status(), 303, "sign-in of {email}");
    assert_eq!(location(&response), "/portal/");
    browser
}

#[test]
fn session_cookies_are_httponly_strict_and_secure_only_behind_https() {
    let server = Server::start();
    create_user(&server, "default", "admin@a.example", "admin", Some(PASSWORD));
    let browser = signed_in(&server, "admin@a.example");
    let session = browser.set_cookies.iter().find(|c| c.starts_with("openti_session=") && !c.starts_with("openti_session=;")).unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/portal"] {
        assert!(session.contains(flag), "{session} lacks {flag}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");
    let value = browser.cookies["openti_session"].clone();
    assert!(value.len() >= 43, "256 random bits");
    // Only the digest is stored.
    let mut stored = Vec::new();
    for name in ["openti.db", "openti.db-wal"] {
        if let Ok(bytes) = std::fs::read(server.data_dir.join(name)) {
            stored.extend(bytes);
        }
    }
    assert!(!stored.windows(value.len()).any(|w| w == value.as_bytes()), "the session id is stored in clear");

    // Behind TLS (the public URL is https) the cookie is Secure too.
    let dir = tempfile::tempdir().unwrap();
    let tls = Server::start_in(dir.path(), &["--public-url", "https://portal.example.test"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = loop {
        let log = tls.log();
        // "serving local=127.0.0.1:PORT", possibly with colour codes around the parts.
        let port: String = log
            .split("serving")
            .nth(1)
            .and_then(|rest| rest.split("127.0.0.1:").nth(1))
            .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
            .unwrap_or_default();
        if !port.is_empty() {
            break format!("127.0.0.1:{port}");
        }
        assert!(Instant::now() < deadline, "no listening address in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    };
    create_user(&tls, "default", "admin@a.example", "admin", Some(PASSWORD));
    let mut browser = Browser::new(&format!("http://{address}"));
    let response = browser.sign_in("admin@a.example", PASSWORD);
    assert_eq!(response.status(), 303);
    let session = browser.set_cookies.iter().find(|c| c.starts_with("openti_session=") && !c.starts_with("openti_session=;")).unwrap();
    assert!(session.contains("Secure") && session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
}

#[test]
fn a_form_post_without_the_csrf_token_is_refused() {
    let server = Server::start();
    create_user(&server, "default", "admin@a.example", "admin", Some(PASSWORD));
    let mut browser = signed_in(&server, "admin@a.example");
    let form = [("title", "forged"), ("name", "forged"), ("severity", "High"), ("category", "Malware"), ("ux_description", "x")];
    assert_eq!(browser.post("/portal/definitions", &form).status(), 403);
    let mut wrong = form.to_vec();
    wrong.push(("csrf", "0000000000000000000000000000000000000000000"));
    assert_eq!(browser.post("/portal/definitions", &wrong).status(), 403);
    assert_eq!(browser.post("/portal/signout", &[]).status(), 403);
    assert_eq!(browser.post("/portal/settings/custom-ti/token", &[]).status(), 403);
    // A header works as well as a field, for script-driven posts.
    let token = browser.csrf();
    let response = browser
        .client
        .post(format!("{}/portal/settings/custom-ti/token", server.url))
        .header(COOKIE, browser.cookie_header())
        .header("X-CSRF-Token", &token)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut right = form.to_vec();
    right.push(("csrf", &token));
    let response = browser.post("/portal/definitions", &right);
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/portal/definitions/"));
    // Nothing was created by the refused posts.
    let t = server.default_tenant();
    let (_, body) = call("GET", &server.api("AlertDefinitions?$count=true"), &t.token, None);
    assert_eq!(body["@odata.count"], 1);

    // The sign-in form needs its own token (from the pre-session cookie).
    let mut stranger = Browser::new(&server.url);
    let response = stranger.post("/portal/signin", &[("email", "admin@a.example"), ("password", PASSWORD)]);
    assert_eq!(response.status(), 403);
}

#[test]
fn user_text_renders_as_text() {
    let server = Server::start();
    create_user(&server, "default", "admin@a.example", "admin", Some(PASSWORD));
    let mut browser = signed_in(&server, "admin@a.example");
    let csrf = browser.csrf();
    let xss = "<script>alert(1)</script>";
    let response = browser.post(
        "/portal/definitions",
        &[("csrf", &csrf), ("title", xss), ("name", "\"><img src=x onerror=alert(2)>"), ("severity", "High"), ("category", "Malware"), ("ux_description", "'; alert(3); '")],
    );
    assert_eq!(response.status(), 303);
    let path = location(&response);
    for page in [path.split('?').next().unwrap().to_string(), "/portal/definitions".into(), format!("{}/edit", path.split('?').next().unwrap())] {
        let response = browser.get(&page);
        let csp = response.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let html = response.text().unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page} shows the title as text");
        assert!(!html.contains(xss), "{page} contains the raw script tag");
        assert!(!html.contains("<img src=x"), "{page} contains a raw img tag");
    }
}

#[test]
fn an_analyst_triages_alerts_but_gets_403_on_settings() {
    let server = Server::start();
    create_user(&server, "default", "analyst@a.example", "analyst", Some(PASSWORD));
    let mut analyst = signed_in(&server, "analyst@a.example");
    for path in ["/portal/settings/custom-ti", "/portal/settings/apps", "/portal/settings/users", "/portal/definitions/new"] {
        assert_eq!(analyst.get(path).status(), 403, "GET {path}");
    }
    let csrf = analyst.csrf();
    for path in ["/portal/settings/custom-ti/enable", "/portal/settings/custom-ti/token", "/portal/settings/apps", "/portal/definitions"] {
        assert_eq!(analyst.post(path, &[("csrf", &csrf), ("name", "x"), ("role_ingest", "on")]).status(), 403, "POST {path}");
    }
    let client_id = server.details()["ClientId"].as_str().unwrap().to_string();
    assert_eq!(analyst.post(&format!("/portal/settings/apps/{client_id}/secrets"), &[("csrf", &csrf), ("validity", "never")]).status(), 403);
    let page = analyst.get("/portal/alerts");
    assert_eq!(page.status(), 200);
    assert!(!page.text().unwrap().contains("/portal/settings/custom-ti\""), "no Settings link for analysts");
}

#[test]
fn a_user_of_another_tenant_gets_404_on_this_tenants_urls() {
    let server = Server::start();
    let a = server.default_tenant();
    let definition = create_definition(&server, &a.token, "Tenant A only");
    let ioc = create_ioc(&server, &a.token, definition, "DomainName", "tenant-a.example", "Equals");
    let sensor = server.sensor_token("default");
    let event = json!({"Timestamp": "2026-11-22T10:00:00Z", "DeviceName": "a-ws-1", "DnsQuery": "tenant-a.example"});
    let response = http().post(format!("{}/ingest/v1/events", server.url)).bearer_auth(&sensor).body(event.to_string()).send().unwrap();
    assert_eq!(response.status(), 200);
    let (_, alerts) = call("GET", &server.api("Alerts"), &a.token, None);
    let alert = alerts["value"][0]["Id"].as_i64().expect("an alert of tenant A");

    server.new_tenant("globex");
    create_user(&server, "globex", "admin@globex.example", "admin", Some(PASSWORD));
    create_user(&server, "default", "admin@a.example", "admin", Some(PASSWORD));
    let mut b = signed_in(&server, "admin@globex.example");
    for path in [
        format!("/portal/definitions/{definition}"),
        format!("/portal/definitions/{definition}/edit"),
        format!("/portal/definitions/{definition}/delete"),
        format!("/portal/definitions/{definition}/import"),
        format!("/portal/iocs/{ioc}"),
        format!("/portal/iocs/{ioc}/edit"),
        format!("/portal/alerts/{alert}"),
    ] {
        let response = b.get(&path);
        assert_eq!(response.status(), 404, "GET {path}");
        assert!(!response.text().unwrap().contains("Tenant A only"), "{path} leaks");
    }
    let csrf = b.csrf();
    for path in [
        format!("/portal/alerts/{alert}"),
        format!("/portal/definitions/{definition}"),
        format!("/portal/definitions/{definition}/enabled"),
        format!("/portal/definitions/{definition}/delete"),
        format!("/portal/iocs/{ioc}/enabled"),
        format!("/portal/iocs/{ioc}/delete"),
    ] {
        let form = [("csrf", csrf.as_str()), ("status", "Resolved"), ("enabled", "false"), ("title", "x"), ("name", "x"), ("severity", "Low"), ("category", "Malware"), ("ux_description", "x")];
        assert_eq!(b.post(&path, &form).status(), 404, "POST {path}");
    }
    // Lists and the dashboard show none of it.
    for path in ["/portal/alerts", "/portal/definitions", "/portal/iocs", "/portal/"] {
        assert!(!b.get(path).text().unwrap().contains("Tenant A only"), "{path} lists tenant A's data");
    }
    // Tenant A still has everything, unchanged.
    let mut own = signed_in(&server, "admin@a.example");
    assert_eq!(own.get(&format!("/portal/definitions/{definition}")).status(), 200);
    assert_eq!(own.get(&format!("/portal/alerts/{alert}")).status(), 200);
    let (_, body) = call("GET", &server.api(&format!("Alerts({alert})")), &a.token, None);
    assert_eq!(body["Status"], "New");
}

#[test]
fn sign_in_failures_are_rate_limited_and_sign_out_ends_the_session() {
    let server = Server::start();
    create_user(&server, "default", "admin@a.example", "admin", Some(PASSWORD));
    let mut guesser = Browser::new(&server.url);
    for attempt in 1..=5 {
        assert_eq!(guesser.sign_in("admin@a.example", &format!("guess {attempt}")).status(), 401, "attempt {attempt}");
    }
    let refused = guesser.sign_in("admin@a.example", PASSWORD);
    assert_eq!(refused.status(), 429, "even the right password waits out the lockout");
    let retry: u64 = refused.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    // Unknown addresses are limited the same way, so guessing reveals nothing.
    let mut other = Browser::new(&server.url);
    for _ in 0..5 {
        assert_eq!(other.sign_in("nobody@a.example", "x").status(), 401);
    }
    assert_eq!(other.sign_in("nobody@a.example", "x").status(), 429);

    create_user(&server, "default", "second@a.example", "admin", Some(PASSWORD));
    let mut browser = signed_in(&server, "second@a.example");
    let session = browser.cookies["openti_session"].clone();
    assert_eq!(browser.get("/portal/").status(), 200);
    let csrf = browser.csrf();
    let response = browser.post("/portal/signout", &[("csrf", &csrf)]);
    assert_eq!(response.status(), 303);
    // The old cookie value no longer opens anything.
    let mut replay = Browser::new(&server.url);
    replay.cookies.insert("openti_session".into(), session);
    let response = replay.get("/portal/alerts");
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/portal/signin"));
    let stream = replay.get("/portal/alerts/stream");
    assert_eq!(stream.status(), 401, "the alert stream needs a session");
}

#[test]
fn a_one_time_password_must_be_changed_first() {
    let server = Server::start();
    let created = create_user(&server, "default", "new@a.example", "analyst", None);
    let one_time = created["OneTimePassword"].as_str().expect("a one-time password is printed").to_string();
    assert!(one_time.len() >= 16);
    let mut browser = Browser::new(&server.url);
    let response = browser.sign_in("new@a.example", &one_time);
    assert_eq!(location(&response), "/portal/password");
    let response = browser.get("/portal/alerts");
    assert_eq!(location(&response), "/portal/password", "nothing else opens first");
    let csrf = browser.get("/portal/password").text().unwrap();
    let csrf = between(&csrf, "data-csrf=\"", "\"").unwrap().to_string();
    let short = browser.post("/portal/password", &[("csrf", &csrf), ("current", &one_time), ("new", "short"), ("confirm", "short")]);
    assert_eq!(short.status(), 400);
    let wrong = browser.post("/portal/password", &[("csrf", &csrf), ("current", "not it at all"), ("new", PASSWORD), ("confirm", PASSWORD)]);
    assert_eq!(wrong.status(), 400);
    let ok = browser.post("/portal/password", &[("csrf", &csrf), ("current", &one_time), ("new", PASSWORD), ("confirm", PASSWORD)]);
    assert_eq!(ok.status(), 303);
    assert_eq!(browser.get("/portal/alerts").status(), 200);
    // The one-time password is gone.
    let mut again = Browser::new(&server.url);
    assert_eq!(again.sign_in("new@a.example", &one_time).status(), 401);
    assert_eq!(again.sign_in("new@a.example", PASSWORD).status(), 303);
}
