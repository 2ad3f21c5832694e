//! `openti ingest FILE…`: sends telemetry files to a running service, in chunks small enough
//! for its body limit, with a progress bar, and prints the summary.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use openti_detect::adapters::{guess_format, is_json_array, Format};

/// Largest chunk of a line-based file sent in one request.
const CHUNK_BYTES: usize = 4 * 1024 * 1024;

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// native, sysmon, evtx, ecs, zeek or suricata (guessed from each file when not given).
    #[arg(long, env = "OPENTI_FORMAT")]
    pub format: Option<Format>,
    /// A details file of an application with the Telemetry.Ingest role (same keys as `app enable --json`).
    #[arg(long, env = "OPENTI_DETAILS")]
    pub details: Option<PathBuf>,
    /// The service URL.
    #[arg(long, env = "OPENTI_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[arg(long, env = "OPENTI_TENANT", default_value = "default")]
    pub tenant: String,
    #[arg(long, env = "OPENTI_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Secrets are base64url and may begin with '-': taken as a value, never as a flag.
    #[arg(long, env = "OPENTI_CLIENT_SECRET", hide_env_values = true, allow_hyphen_values = true)]
    pub client_secret: Option<String>,
    /// Files to send; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<String>,
}

/// Splits a line-based body into chunks of whole lines; Zeek's `#` header lines are repeated
/// at the top of every chunk so each one parses on its own.
fn chunks(body: &[u8], format: Format) -> Vec<Vec<u8>> {
    if format == Format::Evtx || body.len() <= CHUNK_BYTES || is_json_array(body) {
        return vec![body.to_vec()];
    }
    let header: Vec<u8> = if format == Format::Zeek {
        body.split_inclusive(|b| *b == b'\n').take_while(|l| l.starts_with(b"#")).flatten().copied().collect()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    let mut current = header.clone();
    for line in body.split_inclusive(|b| *b == b'\n') {
        if format == Format::Zeek && line.starts_with(b"#") {
            continue;
        }
        if current.len() + line.len() > CHUNK_BYTES && current.len() > header.len() {
            out.push(std::mem::replace(&mut current, header.clone()));
        }
        current.extend_from_slice(line);
    }
    if current.len() > header.len() {
        out.push(current);
    }
    out
}

pub async fn run(args: IngestArgs) -> Result<()> {
    let (base, token_url, client_id, client_secret) = match &args.details {
        Some(path) => {
            let d = crate::cli::read_details(path)?;
            let field = |k: &str| d[k].as_str().map(str::to_string).ok_or_else(|| anyhow!("{} lacks {k}", path.display()));
            let token_url = field("AuthorizationUrl")?;
            let base = token_url.split("/oauth2/").next().and_then(|s| s.rsplit_once('/')).map(|(b, _)| b.to_string()).unwrap_or_default();
            (base, token_url, field("ClientId")?, field("ClientSecret")?)
        }
        None => {
            let base = args.url.trim_end_matches('/').to_string();
            let token_url = format!("{base}/{}/oauth2/token", args.tenant);
            let id = args.client_id.clone().ok_or_else(|| anyhow!("give --details FILE or --client-id and --client-secret"))?;
            let secret = args.client_secret.clone().ok_or_else(|| anyhow!("--client-secret is required with --client-id"))?;
            (base, token_url, id, secret)
        }
    };
    let token = crate::cli::fetch_token(&token_url, &client_id, &client_secret, openti_server::identity::DEFAULT_RESOURCE).await?;
    let client = reqwest::Client::new();
    let (mut accepted, mut rejected, mut alerts) = (0u64, 0u64, 0u64);
    for file in &args.files {
        let body = if file == "-" {
            let mut buffer = Vec::new();
            std::io::stdin().read_to_end(&mut buffer).context("cannot read standard input")?;
            buffer
        } else {
            std::fs::read(file).with_context(|| format!("cannot read {file}"))?
        };
        let format = args.format.unwrap_or_else(|| guess_format(file, &body[..body.len().min(64 * 1024)]));
        let parts = chunks(&body, format);
        let bar = ProgressBar::new(body.len() as u64).with_message(format!("{file} ({format})"));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        for part in parts {
            let len = part.len() as u64;
            let response = client
                .post(format!("{base}/ingest/v1/events?format={format}"))
                .bearer_auth(&token)
                .header("Content-Type", if format == Format::Evtx { "application/octet-stream" } else { "application/x-ndjson" })
                .body(part)
                .send()
                .await
                .with_context(|| format!("cannot reach {base}"))?;
            let status = response.status();
            let summary: serde_json::Value = response.json().await.context("the service did not answer JSON")?;
            if !status.is_success() {
                bar.abandon();
                bail!("{file}: the service refused ({status}): {}", summary["error"]["message"].as_str().unwrap_or(""));
            }
            accepted += summary["accepted"].as_u64().unwrap_or(0);
            rejected += summary["rejected"].as_u64().unwrap_or(0);
            alerts += summary["alerts"].as_u64().unwrap_or(0);
            for error in summary["errors"].as_array().into_iter().flatten().take(5) {
                bar.println(format!("{file}: line {}: {}", error["line"], error["message"].as_str().unwrap_or("")));
            }
            bar.inc(len);
        }
        bar.finish();
    }
    println!("{}", serde_json::json!({"accepted": accepted, "rejected": rejected, "alerts": alerts}));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ndjson(records: usize) -> Vec<u8> {
        (0..records).flat_map(|i| format!("{{\"DeviceName\":\"ws-{i:07}\",\"pad\":\"{}\"}}\n", "x".repeat(200)).into_bytes()).collect()
    }

    #[test]
    fn a_large_ndjson_body_is_cut_at_line_ends_without_losing_a_byte() {
        let body = ndjson(CHUNK_BYTES / 200 * 2);
        let parts = chunks(&body, Format::Native);
        assert!(parts.len() >= 2, "{} chunks", parts.len());
        assert!(parts.iter().all(|c| c.len() <= CHUNK_BYTES && c.ends_with(b"\n")));
        assert_eq!(parts.concat(), body);
    }

    #[test]
    fn a_json_array_is_never_cut_even_after_a_byte_order_mark() {
        let elements = String::from_utf8(ndjson(CHUNK_BYTES / 200 * 2)).unwrap().trim_end().replace('\n', ",\n");
        for prefix in ["", "\u{feff}", "\u{feff}  \n"] {
            let body = format!("{prefix}[{elements}]").into_bytes();
            assert!(body.len() > CHUNK_BYTES);
            assert_eq!(chunks(&body, Format::Native), vec![body.clone()], "prefix {prefix:?}");
        }
    }
}
