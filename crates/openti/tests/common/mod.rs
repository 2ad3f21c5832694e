//! Test harness: starts the real `openti` binary on an ephemeral loopback port with a
//! temporary data directory, and talks to it over HTTP like any client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_openti");

/// A running `openti serve`.
pub struct Server {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    /// Everything the server wrote to stdout and stderr so far.
    pub output: Arc<Mutex<String>>,
    /// Only stderr: the log.
    pub log: Arc<Mutex<String>>,
    _temp: Option<tempfile::TempDir>,
    /// The threads copying stdout and stderr; joined on kill, so the log is complete then.
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(stream: impl Read + Send + 'static, sinks: Vec<Arc<Mutex<String>>>, lines: Option<std::sync::mpsc::Sender<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            for sink in &sinks {
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    })
}

impl Server {
    /// Starts a server on a fresh temporary data directory.
    pub fn start() -> Server {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().to_path_buf();
        let mut server = Server::start_in(&dir, &[]);
        server._temp = Some(temp);
        server
    }

    /// Starts a server on `data_dir` (kept by the caller), with extra `serve` flags.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(data_dir, extra, &[])
    }

    /// Like [`Server::start_in`], with extra environment variables (e.g. `OPENTI_LOG`).
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["--data-dir"])
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("OPENTI_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openti serve");
        let output = Arc::new(Mutex::new(String::new()));
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let readers = vec![
            collect(child.stdout.take().unwrap(), vec![output.clone()], Some(tx)),
            collect(child.stderr.take().unwrap(), vec![output.clone(), log.clone()], None),
        ];
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(remaining) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("OpenTI is listening on ") {
                        break rest.trim().to_string();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("the server did not start; output:\n{}", output.lock().unwrap());
                }
            }
        };
        Server { child, url, data_dir: data_dir.to_path_buf(), output, log, _temp: None, readers }
    }

    /// Stops the server (SIGKILL: nothing acknowledged may depend on a clean shutdown).
    /// Afterwards `output` and `log` hold everything the process wrote.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// The details the first start saved (`custom-ti-app.json`).
    pub fn details(&self) -> Value {
        let text = std::fs::read_to_string(self.data_dir.join("custom-ti-app.json")).expect("details file");
        serde_json::from_str(&text).expect("details JSON")
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Runs the CLI against this server's data directory.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        cli(&self.data_dir, args)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/V1.0/{}", self.url, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `openti --data-dir DIR ARGS…`.
pub fn cli(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("--data-dir").arg(data_dir).args(args).output().expect("run openti")
}

/// Runs the CLI and parses its `--json` output, failing the test on a non-zero exit.
pub fn cli_json(data_dir: &Path, args: &[&str]) -> Value {
    let out = cli(data_dir, args);
    assert!(out.status.success(), "openti {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("openti {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

pub fn http() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// The form-encoded client credentials request every published client sends.
pub fn token_response(url: &str, tenant: &str, client_id: &str, secret: &str) -> Response {
    http()
        .post(format!("{url}/{tenant}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("resource", "https://graph.windows.net"),
        ])
        .send()
        .unwrap()
}

pub fn token(url: &str, tenant: &str, client_id: &str, secret: &str) -> String {
    let response = token_response(url, tenant, client_id, secret);
    assert_eq!(response.status(), 200, "token request failed");
    let body: Value = response.json().unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// A tenant with an enabled custom TI application and a token for it.
pub struct TenantCtx {
    pub tenant_id: String,
    pub name: String,
    pub client_id: String,
    pub secret: String,
    pub token: String,
}

impl Server {
    /// The `default` tenant created at first start.
    pub fn default_tenant(&self) -> TenantCtx {
        let d = self.details();
        let (tenant_id, client_id, secret) = (
            d["TenantId"].as_str().unwrap().to_string(),
            d["ClientId"].as_str().unwrap().to_string(),
            d["ClientSecret"].as_str().unwrap().to_string(),
        );
        let token = token(&self.url, &tenant_id, &client_id, &secret);
        TenantCtx { tenant_id, name: "default".into(), client_id, secret, token }
    }

    /// Creates another tenant through the CLI, enables its application, gets a token.
    pub fn new_tenant(&self, name: &str) -> TenantCtx {
        let t = cli_json(&self.data_dir, &["tenant", "create", name, "--json"]);
        let d = cli_json(&self.data_dir, &["app", "enable", "--tenant", name, "--public-url", &self.url, "--json"]);
        let client_id = d["ClientId"].as_str().unwrap().to_string();
        let secret = d["ClientSecret"].as_str().unwrap().to_string();
        let token = token(&self.url, name, &client_id, &secret);
        TenantCtx { tenant_id: t["TenantId"].as_str().unwrap().to_string(), name: name.into(), client_id, secret, token }
    }

    /// A sensor application of `tenant` with the Telemetry.Ingest role, and its token.
    pub fn sensor_token(&self, tenant: &str) -> String {
        let c = cli_json(&self.data_dir, &["app", "create", "--tenant", tenant, "--name", "sensor", "--roles", "Telemetry.Ingest", "--json"]);
        token(&self.url, tenant, c["ClientId"].as_str().unwrap(), c["ClientSecret"].as_str().unwrap())
    }
}

/// Sends a request with a bearer token and returns (status, JSON body or Null).
pub fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let client = http();
    let mut request = client.request(method.parse().unwrap(), url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A minimal valid alert definition body.
pub fn definition(title: &str) -> Value {
    json!({
        "Name": format!("def {title}"),
        "Severity": "Medium",
        "Title": title,
        "UxDescription": "Seen talking to a known bad address.",
        "RecommendedAction": "Isolate the machine.",
        "Category": "SuspiciousNetworkTraffic",
    })
}

/// Creates a definition and returns its Id.
pub fn create_definition(server: &Server, token: &str, title: &str) -> i64 {
    let (status, body) = call("POST", &server.api("AlertDefinitions"), token, Some(definition(title)));
    assert_eq!(status, 201, "create definition: {body}");
    body["Id"].as_i64().unwrap()
}

/// Creates an IOC bound to a definition and returns its Id.
pub fn create_ioc(server: &Server, token: &str, definition: i64, ioc_type: &str, value: &str, function: &str) -> i64 {
    let body = json!({
        "Type": ioc_type, "Value": value, "DetectionFunction": function,
        "AlertDefinition@odata.bind": format!("AlertDefinitions({definition})"),
    });
    let (status, body) = call("POST", &server.api("IndicatorsOfCompromise"), token, Some(body));
    assert_eq!(status, 201, "create IOC: {body}");
    body["Id"].as_i64().unwrap()
}

/// Polls `check` until it returns Some or the deadline passes (for eventually-consistent
/// bookkeeping such as hit counts; never for the product's own guarantees).
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The shared real-data folder (`../shared/data` beside the repository).
pub fn shared_data() -> PathBuf {
    if let Ok(dir) = std::env::var("OPENTI_SHARED_DATA") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

// ---------------------------------------------------------------------------------------------
// Raw requests: any method, header and body, for the suites that send what clients should not.

/// A response read whole.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// The body as JSON, or Null when it is not JSON.
    pub json: Value,
}

/// The parts of an OData error body (`{"error":{"code","message","target"}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ODataError {
    pub code: String,
    pub target: Option<String>,
    pub message: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap_or("<not text>").to_string())
    }

    /// The OData error in the body; fails the test if the body is not one.
    pub fn error(&self) -> ODataError {
        let e = &self.json["error"];
        let (Some(code), Some(message)) = (e["code"].as_str(), e["message"].as_str()) else {
            panic!("status {}: the body is not an OData error: {}", self.status, self.text)
        };
        ODataError { code: code.into(), target: e["target"].as_str().map(str::to_string), message: message.into() }
    }
}

/// A request being built: `request("POST", url).bearer(t).json(&body).send()`.
pub struct RawRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

pub fn request(method: &str, url: &str) -> RawRequest {
    RawRequest { method: method.into(), url: url.into(), headers: Vec::new(), body: None }
}

impl RawRequest {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.body(Some("application/json"), serde_json::to_vec(body).unwrap())
    }

    /// Any body, with the given `Content-Type` (none when `None`).
    pub fn body(mut self, content_type: Option<&str>, bytes: impl Into<Vec<u8>>) -> Self {
        if let Some(content_type) = content_type {
            self = self.header("Content-Type", content_type);
        }
        self.body = Some(bytes.into());
        self
    }

    pub fn send(self) -> Reply {
        let client = http();
        let mut builder = client.request(self.method.parse().unwrap(), &self.url);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = self.body {
            builder = builder.body(body);
        }
        let response = builder.send().unwrap_or_else(|e| panic!("{} {} failed: {e:?}", self.method, self.url));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, text, json }
    }
}

/// How many entities of `set` the token's tenant holds, as `$count=true` reports it.
pub fn count(server: &Server, token: &str, set: &str) -> i64 {
    let (status, body) = call("GET", &server.api(&format!("{set}?$count=true&$top=0")), token, None);
    assert_eq!(status, 200, "count {set}: {body}");
    body["@odata.count"].as_i64().unwrap_or_else(|| panic!("no @odata.count in {body}"))
}

/// Everything the token's tenant holds in `set`, ordered by Id (one page: tests stay small).
pub fn list_all(server: &Server, token: &str, set: &str) -> Vec<Value> {
    let (status, body) = call("GET", &server.api(&format!("{set}?$orderby=Id")), token, None);
    assert_eq!(status, 200, "list {set}: {body}");
    assert!(body.get("@odata.nextLink").is_none(), "list_all is for small tenants");
    body["value"].as_array().cloned().unwrap_or_default()
}

/// A tenant's definitions and IOCs, every property, to compare before and after.
pub fn snapshot(server: &Server, token: &str) -> Value {
    json!({
        "AlertDefinitions": list_all(server, token, "AlertDefinitions"),
        "IndicatorsOfCompromise": list_all(server, token, "IndicatorsOfCompromise"),
    })
}

// ---------------------------------------------------------------------------------------------
// Tokens: reading them, and forging them with the server's own key (a test-only shortcut).

pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).unwrap_or_else(|| panic!("'{token}' is not a JWT"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url JWT part");
    serde_json::from_slice(&bytes).expect("JSON JWT part")
}

pub fn jwt_header(token: &str) -> Value {
    jwt_part(token, 0)
}

pub fn jwt_claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// Runs a future of the store on a throwaway runtime (the tests are synchronous).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// The signing keys in a data directory's store, private PEM included. Only a test may do
/// this: it lets the auth suite forge tokens that are validly signed but wrong otherwise.
pub fn signing_keys(data_dir: &Path) -> Vec<openti_auth::SigningKey> {
    use openti_store::Store as _;
    block_on(async {
        let store = openti_store::sqlite::SqliteStore::open(&data_dir.join("openti.db")).await.expect("open the store");
        let keys = store.signing_keys().await.expect("signing keys");
        keys.into_iter()
            .map(|k| openti_auth::SigningKey { kid: k.kid, private_pem: k.private_pem, created_at: k.created_at })
            .collect()
    })
}

/// Signs access tokens with claims the test chooses.
pub struct Forger {
    ring: openti_auth::KeyRing,
}

impl Forger {
    /// Signs with the server's active key, as its token endpoint does.
    pub fn server(data_dir: &Path) -> Forger {
        Forger { ring: openti_auth::KeyRing::new(signing_keys(data_dir)).expect("key ring") }
    }

    /// Signs with a fresh key the server never saw, under `kid` (the server's kid gives a
    /// wrong signature) or under the key's own kid (an unknown kid).
    pub fn foreign(kid: Option<&str>) -> Forger {
        let mut key = openti_auth::generate_signing_key(chrono::Utc::now()).expect("generate a key");
        if let Some(kid) = kid {
            key.kid = kid.to_string();
        }
        Forger { ring: openti_auth::KeyRing::new(vec![key]).expect("key ring") }
    }

    pub fn kid(&self) -> &str {
        self.ring.active_kid()
    }

    pub fn sign(&self, request: &openti_auth::TokenRequest) -> String {
        self.ring.issue(request).expect("sign a token").access_token
    }
}

/// The token request the server's endpoint would make for this tenant's custom TI app now.
pub fn token_request(server: &Server, tenant: &TenantCtx) -> openti_auth::TokenRequest {
    openti_auth::TokenRequest {
        issuer: format!("{}/{}/", server.url, tenant.tenant_id),
        audience: "https://graph.windows.net".into(),
        tenant_id: tenant.tenant_id.parse().unwrap(),
        app_id: tenant.client_id.parse().unwrap(),
        roles: vec![openti_auth::ROLE_TI_READWRITE.into()],
        now: chrono::Utc::now(),
        lifetime: chrono::Duration::minutes(60),
    }
}

// ---------------------------------------------------------------------------------------------
// The CLI's failures.

/// Runs the CLI expecting failure: returns stderr, after checking the exit code is non-zero,
/// nothing went to stdout, and the error is one line.
pub fn cli_error(data_dir: &Path, args: &[&str]) -> String {
    let out = cli(data_dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "openti {args:?} should fail; stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "openti {args:?} printed to stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.trim_end().lines().count(), 1, "openti {args:?}: the error is not one line:\n{stderr}");
    stderr
}

// ---------------------------------------------------------------------------------------------
// Telemetry and alerts (the detection suites).

/// Posts a telemetry body to `POST /ingest/v1/events?format=F` with the given extra headers
/// (e.g. `Content-Encoding: gzip`); returns (status, JSON body or Null).
pub fn ingest_with(server: &Server, token: &str, format: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Value) {
    let client = http();
    let mut request = client
        .post(format!("{}/ingest/v1/events?format={format}", server.url))
        .bearer_auth(token)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Posts a telemetry body and returns the summary, failing the test unless it is a 200.
pub fn ingest(server: &Server, token: &str, format: &str, body: Vec<u8>) -> Value {
    let (status, summary) = ingest_with(server, token, format, body, &[]);
    assert_eq!(status, 200, "ingest ({format}) failed: {summary}");
    summary
}

/// Posts native events as NDJSON and returns the summary.
pub fn ingest_events(server: &Server, token: &str, events: &[Value]) -> Value {
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    ingest(server, token, "native", body.into_bytes())
}

/// Every entity a query returns, following `@odata.nextLink` (`path` is relative to `/V1.0/`
/// and may carry query options).
pub fn query_all(server: &Server, token: &str, path: &str) -> Vec<Value> {
    let mut url = server.api(path);
    let mut out = Vec::new();
    loop {
        let (status, body) = call("GET", &url, token, None);
        assert_eq!(status, 200, "GET {url}: {body}");
        out.extend(body["value"].as_array().cloned().unwrap_or_default());
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => return out,
        }
    }
}

/// The tenant's alerts, ordered by Id.
pub fn alerts(server: &Server, token: &str) -> Vec<Value> {
    query_all(server, token, "Alerts?$orderby=Id")
}
