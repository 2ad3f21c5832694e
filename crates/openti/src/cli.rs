//! The command line: tenants, applications, secrets, tokens, keys, ingestion and `serve`.
//! Every flag is also an `OPENTI_…` environment variable.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use openti_auth::{Clock, SystemClock};
use openti_server::identity::{CustomTiDetails, Identity, SecretValidity};
use openti_server::state::{load_key_ring, rotate_signing_key};
use openti_server::{AppState, Config};
use openti_store::sqlite::SqliteStore;
use openti_store::Store;
use serde_json::json;
use uuid::Uuid;

/// OpenTI: a self-hosted custom threat-intelligence service, wire-compatible with the
/// custom TI API v1.0.
#[derive(Parser, Debug)]
#[command(name = "openti", version, about)]
pub struct Cli {
    /// Where the embedded store and the saved application details live.
    #[arg(long, global = true, env = "OPENTI_DATA_DIR", default_value = "./openti-data")]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service (token endpoint, API, ingestion).
    Serve(ServeArgs),
    /// Create and list tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Enable the custom TI application, create other applications, manage secrets.
    #[command(subcommand)]
    App(AppCommand),
    /// Get an access token (the portal's "Generate tokens").
    Token(TokenArgs),
    /// Manage token signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Send telemetry files to a running service.
    Ingest(crate::ingest::IngestArgs),
    /// Create portal users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "OPENTI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The URL clients use to reach this service (default: http://<listen address>).
    #[arg(long, env = "OPENTI_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Extra accepted token audiences, besides graph.windows.net, graph.microsoft.com and the public URL.
    #[arg(long = "audience", env = "OPENTI_AUDIENCES", value_delimiter = ',')]
    pub audiences: Vec<String>,
    /// How often device sightings and IOC hit counts from telemetry are written to the store,
    /// in milliseconds (API and portal reads that show them write them first).
    #[arg(long, env = "OPENTI_STATS_FLUSH_MS", default_value_t = 1000)]
    pub stats_flush_ms: u64,
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show or change a tenant's quotas (SPEC A.7); flags not given keep their value.
    Quota {
        #[arg(long, env = "OPENTI_TENANT")]
        tenant: String,
        /// Most alert definitions the tenant may hold.
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
        max_definitions: Option<i64>,
        /// Most IOCs the tenant may hold.
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
        max_iocs: Option<i64>,
        /// Most IOCs whose DetectionFunction is not Equals.
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
        max_non_equals_iocs: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Enable the tenant's custom TI application; shows its secret this once.
    Enable {
        #[arg(long, env = "OPENTI_TENANT")]
        tenant: String,
        /// The URL clients use to reach the service.
        #[arg(long, env = "OPENTI_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
        public_url: String,
        #[arg(long)]
        json: bool,
    },
    /// Create another application, e.g. a sensor with the Telemetry.Ingest role.
    Create {
        #[arg(long, env = "OPENTI_TENANT")]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's applications.
    List {
        #[arg(long, env = "OPENTI_TENANT")]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Add, list and revoke client secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Add a secret; it is shown this once.
    Add {
        #[arg(long, env = "OPENTI_TENANT")]
        tenant: String,
        #[arg(long, env = "OPENTI_CLIENT_ID")]
        client_id: Uuid,
        #[arg(long, default_value = "")]
        description: String,
        /// 1y, 2y, never, or an RFC 3339 time.
        #[arg(long, default_value = "1y")]
        expires: SecretValidity,
        #[arg(long)]
        json: bool,
    },
    /// List secrets (never their values).
    List {
        #[arg(long, env = "OPENTI_TENANT")]
        tenant: String,
        #[arg(long, env = "OPENTI_CLIENT_ID")]
        client_id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a secret.
    Revoke {
        #[arg(long, env = "OPENTI_TENANT")]
        tenant: String,
        #[arg(long, env = "OPENTI_CLIENT_ID")]
        client_id: Uuid,
        #[arg(long)]
        secret_id: Uuid,
    },
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    /// A saved details file (`custom-ti-app.json`).
    #[arg(long, env = "OPENTI_DETAILS", conflicts_with_all = ["tenant", "client_id", "client_secret"])]
    pub details: Option<PathBuf>,
    #[arg(long, env = "OPENTI_TENANT")]
    pub tenant: Option<String>,
    #[arg(long, env = "OPENTI_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Secrets are base64url and may begin with '-': taken as a value, never as a flag.
    #[arg(long, env = "OPENTI_CLIENT_SECRET", hide_env_values = true, allow_hyphen_values = true)]
    pub client_secret: Option<String>,
    /// The service URL (with --tenant/--client-id/--client-secret).
    #[arg(long, env = "OPENTI_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[arg(long, default_value = openti_server::identity::DEFAULT_RESOURCE)]
    pub resource: String,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Add a new signing key; tokens signed with older keys stay valid until they expire.
    Rotate,
    /// List signing keys.
    List,
}

async fn open_store(data_dir: &Path) -> Result<Arc<dyn Store>> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    restrict_permissions(data_dir, 0o700);
    let store = SqliteStore::open(&data_dir.join("openti.db")).await.context("cannot open the store")?;
    Ok(Arc::new(store))
}

#[cfg(unix)]
fn restrict_permissions(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
fn restrict_permissions(_: &Path, _: u32) {}

/// Writes the details file readable by its owner only (it holds a secret).
fn save_details(path: &Path, details: &CustomTiDetails) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(details)?.as_bytes())?;
    restrict_permissions(path, 0o600);
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

pub async fn run(cli: Cli) -> Result<()> {
    let clock = SystemClock;
    match cli.command {
        Command::Serve(args) => serve(&cli.data_dir, args).await,
        Command::Tenant(command) => {
            let identity = Identity { store: open_store(&cli.data_dir).await?, public_url: String::new() };
            match command {
                TenantCommand::Create { name, json } => {
                    let tenant = identity.create_tenant(&name, clock.now()).await?;
                    if json {
                        print_json(&json!({"TenantId": tenant.id, "Name": tenant.name}))
                    } else {
                        println!("Created tenant '{}' with id {}", tenant.name, tenant.id);
                        println!("Next: openti app enable --tenant {}", tenant.name);
                        Ok(())
                    }
                }
                TenantCommand::List { json } => {
                    let tenants = identity.store.list_tenants().await?;
                    if json {
                        let rows: Vec<_> = tenants.iter().map(|t| json!({"TenantId": t.id, "Name": t.name, "CreatedAt": t.created_at})).collect();
                        print_json(&rows)
                    } else {
                        for t in tenants {
                            println!("{}  {}", t.id, t.name);
                        }
                        Ok(())
                    }
                }
                TenantCommand::Quota { tenant, max_definitions, max_iocs, max_non_equals_iocs, json } => {
                    let tenant = identity.tenant(&tenant).await?;
                    let current = tenant.quotas;
                    let quotas = openti_store::Quotas {
                        max_definitions: max_definitions.unwrap_or(current.max_definitions),
                        max_iocs: max_iocs.unwrap_or(current.max_iocs),
                        max_non_equals_iocs: max_non_equals_iocs.unwrap_or(current.max_non_equals_iocs),
                    };
                    if quotas != current && !identity.store.set_quotas(tenant.id, quotas).await? {
                        bail!("tenant '{}' no longer exists", tenant.name);
                    }
                    if json {
                        print_json(&json!({
                            "TenantId": tenant.id, "Name": tenant.name, "MaxDefinitions": quotas.max_definitions,
                            "MaxIocs": quotas.max_iocs, "MaxNonEqualsIocs": quotas.max_non_equals_iocs,
                        }))
                    } else {
                        println!("Quotas of tenant '{}':", tenant.name);
                        println!("  alert definitions:  {}", quotas.max_definitions);
                        println!("  IOCs:               {}", quotas.max_iocs);
                        println!("  non-Equals IOCs:    {}", quotas.max_non_equals_iocs);
                        Ok(())
                    }
                }
            }
        }
        Command::App(command) => app(&cli.data_dir, command).await,
        Command::Token(args) => token(&cli.data_dir, args).await,
        Command::Key(command) => {
            let store = open_store(&cli.data_dir).await?;
            match command {
                KeyCommand::Rotate => {
                    load_key_ring(store.as_ref(), &clock).await?;
                    let kid = rotate_signing_key(store.as_ref(), &clock).await?;
                    println!("Added signing key {kid}; it signs new tokens from now on. Tokens signed with older keys stay valid until they expire.");
                }
                KeyCommand::List => {
                    for key in store.signing_keys().await? {
                        println!("{}  created {}", key.kid, key.created_at.to_rfc3339());
                    }
                }
            }
            Ok(())
        }
        Command::Ingest(args) => crate::ingest::run(args).await,
        Command::User(command) => user(&cli.data_dir, command).await,
    }
}

async fn app(data_dir: &Path, command: AppCommand) -> Result<()> {
    let clock = SystemClock;
    let store = open_store(data_dir).await?;
    match command {
        AppCommand::Enable { tenant, public_url, json } => {
            let identity = Identity { store, public_url: public_url.trim_end_matches('/').to_string() };
            let tenant = identity.tenant(&tenant).await?;
            let details = identity.enable_custom_ti(&tenant, clock.now()).await?;
            if json {
                print_json(&details)
            } else {
                print_details(&details);
                Ok(())
            }
        }
        AppCommand::Create { tenant, name, roles, json } => {
            let identity = Identity { store, public_url: String::new() };
            let tenant = identity.tenant(&tenant).await?;
            let credentials = identity.create_app(&tenant, &name, roles, clock.now()).await?;
            if json {
                print_json(&credentials)
            } else {
                println!("Created application '{name}'");
                println!("  TenantId:     {}", credentials.tenant_id);
                println!("  ClientId:     {}", credentials.client_id);
                println!("  ClientSecret: {}   (shown this once)", credentials.client_secret);
                println!("  Roles:        {}", credentials.roles.join(", "));
                Ok(())
            }
        }
        AppCommand::List { tenant, json } => {
            let identity = Identity { store, public_url: String::new() };
            let tenant = identity.tenant(&tenant).await?;
            let apps = identity.store.list_apps(tenant.id).await?;
            if json {
                let rows: Vec<_> = apps.iter().map(|a| json!({"ClientId": a.client_id, "Name": a.name, "Roles": a.roles, "IsCustomTi": a.is_custom_ti})).collect();
                print_json(&rows)
            } else {
                for a in apps {
                    println!("{}  {}  [{}]", a.client_id, a.name, a.roles.join(", "));
                }
                Ok(())
            }
        }
        AppCommand::Secret(command) => {
            let identity = Identity { store, public_url: String::new() };
            match command {
                SecretCommand::Add { tenant, client_id, description, expires, json } => {
                    let tenant = identity.tenant(&tenant).await?;
                    let secret = identity.add_secret(&tenant, client_id, &description, expires, clock.now()).await?;
                    if json {
                        print_json(&secret)
                    } else {
                        println!("Added secret {} (shown this once):", secret.secret_id);
                        println!("  ClientSecret: {}", secret.client_secret);
                        match secret.expires_at {
                            Some(t) => println!("  Expires:      {}", t.to_rfc3339()),
                            None => println!("  Expires:      never"),
                        }
                        Ok(())
                    }
                }
                SecretCommand::List { tenant, client_id, json } => {
                    let tenant = identity.tenant(&tenant).await?;
                    let secrets = identity.list_secrets(&tenant, client_id).await?;
                    if json {
                        print_json(&secrets)
                    } else {
                        let now = clock.now();
                        for s in secrets {
                            let state = if s.revoked_at.is_some() {
                                "revoked"
                            } else if s.is_valid_at(now) {
                                "valid"
                            } else {
                                "expired"
                            };
                            let expires = s.expires_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "never".into());
                            println!("{}  {}…  {state:8} expires {expires}  {}", s.id, s.hint, s.description);
                        }
                        Ok(())
                    }
                }
                SecretCommand::Revoke { tenant, client_id, secret_id } => {
                    let tenant = identity.tenant(&tenant).await?;
                    identity.revoke_secret(&tenant, client_id, secret_id, clock.now()).await?;
                    println!("Revoked secret {secret_id}");
                    Ok(())
                }
            }
        }
    }
}

fn print_details(details: &CustomTiDetails) {
    println!("Custom TI application enabled. Save the secret now: it is shown this once.");
    println!("  Application name:  {}", details.application_name);
    println!("  Tenant id:         {}", details.tenant_id);
    println!("  Client id:         {}", details.client_id);
    println!("  Client secret:     {}", details.client_secret);
    println!("  Authorization URL: {}", details.authorization_url);
    println!("  Resource:          {}", details.resource);
    println!("  API URL:           {}", details.api_url);
}

/// Gets a token from the token endpoint, as any client would.
pub async fn fetch_token(url: &str, client_id: &str, client_secret: &str, resource: &str) -> Result<String> {
    let response = reqwest::Client::new()
        .post(url)
        .form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", client_secret), ("resource", resource)])
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("the token endpoint did not answer JSON")?;
    if !status.is_success() {
        bail!(
            "the token endpoint refused: {} ({})",
            body["error"].as_str().unwrap_or("error"),
            body["error_description"].as_str().unwrap_or("")
        );
    }
    body["access_token"].as_str().map(str::to_string).ok_or_else(|| anyhow!("the token response has no access_token"))
}

/// Reads a saved details file.
pub fn read_details(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a details file", path.display()))
}

async fn token(_data_dir: &Path, args: TokenArgs) -> Result<()> {
    let (url, client_id, client_secret) = match &args.details {
        Some(path) => {
            let d = read_details(path)?;
            let field = |k: &str| d[k].as_str().map(str::to_string).ok_or_else(|| anyhow!("{} lacks {k}", path.display()));
            (field("AuthorizationUrl")?, field("ClientId")?, field("ClientSecret")?)
        }
        None => {
            let tenant = args.tenant.clone().ok_or_else(|| anyhow!("give --details FILE, or --tenant, --client-id and --client-secret"))?;
            let client_id = args.client_id.clone().ok_or_else(|| anyhow!("--client-id is required with --tenant"))?;
            let secret = args.client_secret.clone().ok_or_else(|| anyhow!("--client-secret is required with --tenant"))?;
            (format!("{}/{tenant}/oauth2/token", args.url.trim_end_matches('/')), client_id, secret)
        }
    };
    println!("{}", fetch_token(&url, &client_id, &client_secret, &args.resource).await?);
    Ok(())
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("OPENTI_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn serve(data_dir: &Path, args: ServeArgs) -> Result<()> {
    init_logging();
    let store = open_store(data_dir).await?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{local}"));
    let mut config = Config::new(&public_url);
    config.accepted_audiences.extend(args.audiences.iter().cloned());
    config.stats_flush_interval = std::time::Duration::from_millis(args.stats_flush_ms);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut state = AppState::new(store.clone(), clock.clone(), config).await?;
    state.detection = Some(openti_server::detection::Detection::start(store.clone()).await?);
    let state = Arc::new(state);

    first_start(data_dir, &state).await?;
    let details_path = data_dir.join("custom-ti-app.json");
    println!("OpenTI is listening on {public_url}");
    println!("  Token URL: {public_url}/{{tenant}}/oauth2/token");
    println!("  API URL:   {public_url}/V1.0/");
    if details_path.exists() {
        println!("Get a token and list alert definitions:");
        println!("  TOKEN=$(openti --data-dir {} token --details {})", data_dir.display(), details_path.display());
        println!("  curl -H \"Authorization: Bearer $TOKEN\" {public_url}/V1.0/AlertDefinitions");
    }
    tracing::info!(%local, "serving");
    let shutdown = async {
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    openti_server::serve(listener, state, shutdown).await?;
    Ok(())
}

/// On a store with no tenant yet: create `default`, enable its custom TI application, show
/// the details once and save them (the original portal's "Save details to file").
async fn first_start(data_dir: &Path, state: &AppState) -> Result<()> {
    if !state.store.list_tenants().await?.is_empty() {
        return Ok(());
    }
    let now = state.clock.now();
    let tenant = state.identity.create_tenant("default", now).await?;
    let details = state.identity.enable_custom_ti(&tenant, now).await?;
    let path = data_dir.join("custom-ti-app.json");
    save_details(&path, &details)?;
    println!("First start: created tenant 'default' and enabled its custom TI application.");
    print_details(&details);
    println!("  Saved to {} (mode 0600).", path.display());
    println!("  The portal is at /portal/; create an administrator to sign in:");
    println!("    openti --data-dir {} user create --tenant default --email you@example.com --role admin", data_dir.display());
    println!("  A sensor that sends telemetry needs its own application:");
    println!("    openti --data-dir {} app create --tenant default --name sensor --roles Telemetry.Ingest", data_dir.display());
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a portal user. Without --password-stdin a one-time password is printed, which
    /// must be changed at the first sign-in.
    Create {
        #[arg(long, env = "OPENTI_TENANT")]
        tenant: String,
        #[arg(long)]
        email: String,
        /// admin (everything) or analyst (triage alerts; read definitions and IOCs).
        #[arg(long)]
        role: openti_store::Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
}

async fn user(data_dir: &Path, command: UserCommand) -> Result<()> {
    let UserCommand::Create { tenant, email, role, password_stdin, json } = command;
    let store = open_store(data_dir).await?;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
        Some(line.trim_end_matches(['\r', '\n']).to_string())
    } else {
        None
    };
    let created = openti_server::portal::accounts::create_user(store.as_ref(), &tenant, &email, role, password, SystemClock.now()).await?;
    if json {
        return print_json(&json!({
            "UserId": created.user.id, "TenantId": created.user.tenant_id, "Email": created.user.email,
            "Role": created.user.role, "OneTimePassword": created.one_time_password,
        }));
    }
    println!("Created {} user {} in tenant {}", created.user.role, created.user.email, tenant);
    if let Some(password) = created.one_time_password {
        println!("  One-time password: {password}   (shown this once; it must be changed at the first sign-in)");
    }
    println!("  Sign in at <public URL>/portal/");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_secret_beginning_with_a_hyphen_is_a_value() {
        let cli = Cli::try_parse_from([
            "openti", "token", "--url", "http://127.0.0.1:1", "--tenant", "default", "--client-id", "id",
            "--client-secret", "-EjZ9_secret",
        ])
        .expect("parses");
        let Command::Token(args) = cli.command else { panic!("token") };
        assert_eq!(args.client_secret.as_deref(), Some("-EjZ9_secret"));
        let cli = Cli::try_parse_from(["openti", "ingest", "--client-id", "id", "--client-secret", "-x", "events.ndjson"])
            .expect("parses");
        let Command::Ingest(args) = cli.command else { panic!("ingest") };
        assert_eq!((args.client_secret.as_deref(), args.files.len()), (Some("-x"), 1));
    }
}
