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
}

fn collect(stream: impl Read + Send + 'static, sinks: Vec<Arc<Mutex<String>>>, lines: Option<std::sync::mpsc::Sender<String>>) {
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
    });
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
        let mut child = Command::new(BIN)
            .args(["--data-dir"])
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("OPENTI_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openti serve");
        let output = Arc::new(Mutex::new(String::new()));
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        collect(child.stdout.take().unwrap(), vec![output.clone()], Some(tx));
        collect(child.stderr.take().unwrap(), vec![output.clone(), log.clone()], None);
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
        Server { child, url, data_dir: data_dir.to_path_buf(), output, log, _temp: None }
    }

    /// Stops the server (SIGKILL: nothing acknowledged may depend on a clean shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
