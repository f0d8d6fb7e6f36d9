//! The `wampd` command line: `websocket:server` runs the router, `config:check` validates and
//! prints the resolved configuration.
//!
//! Names and options follow the PHP command wampd replaces (`gos:websocket:server` with Symfony's
//! `--env`, `-v/-vv/-vvv`, `-q`, `-a/--host`, `-p/--port`), so a supervisord program block only
//! needs its command changed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing::info;
use wampd::logging::LIFECYCLE;

use wampd::config::{env_files, verbosity, AppEnv, ConfigError, Settings};
use wampd::server::Server;

#[derive(Debug, Parser)]
#[command(name = "wampd", version, about = "A fast WAMP v2 pub/sub + RPC router")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the router (configured by WEBSOCKET_* / ORO_WEBSOCKET_* variables and .env-app files).
    #[command(name = "websocket:server")]
    Server {
        #[command(flatten)]
        common: Common,
        /// Listen on this host instead of the server DSN's (`-b/--bind` as Burp-UI's
        /// `bui-manage websocket` spells it).
        #[arg(short = 'a', long, short_alias = 'b', alias = "bind")]
        host: Option<String>,
        /// Listen on this port instead of the server DSN's.
        #[arg(short = 'p', long, value_parser = parse_port)]
        port: Option<u16>,
    },
    /// Print the resolved settings (secrets masked); exit non-zero if they are invalid.
    #[command(name = "config:check")]
    ConfigCheck {
        #[command(flatten)]
        common: Common,
    },
    /// Mint a wampd ticket signed with WEBSOCKET_TICKET_SECRET, for scripts and tests.
    #[command(name = "ticket")]
    Ticket {
        #[command(flatten)]
        common: Common,
        /// The authid the ticket proves.
        #[arg(long)]
        authid: String,
        /// The authrole it grants.
        #[arg(long)]
        role: String,
        /// Lifetime: seconds, or with a unit like the settings' durations (300, 90s, 5m, 2h).
        #[arg(long, default_value = "300", value_parser = parse_ttl)]
        ttl: i64,
        /// A topic the holder may subscribe to (repeatable; a trailing '.' means a prefix).
        /// Without any, subscriptions are unrestricted.
        #[arg(long = "topic")]
        topics: Vec<String>,
    },
    /// Publish an event (or one per stdin line) to the router at WEBSOCKET_BACKEND_DSN.
    Publish(wampd::publish_cmd::PublishArgs),
    /// Run as ws-emit does: configured by ADDRESS, REDIS, CORS and SECRET (or these options),
    /// serving Socket.IO, its Redis queue, roomspace secrets and POST /emit.
    #[command(name = "ws-emit")]
    WsEmit {
        #[command(flatten)]
        common: Common,
        /// Listen address, HOST:PORT (ADDRESS; default 0.0.0.0:8899).
        #[arg(short = 'a', long)]
        address: Option<String>,
        /// The Redis of the message queue and the roomspace secrets (REDIS).
        #[arg(long)]
        redis: Option<String>,
        /// Allowed origins, or * (CORS, space-separated).
        #[arg(long, num_args = 1..)]
        cors: Vec<String>,
        /// The POST /emit secret (SECRET).
        #[arg(long)]
        secret: Option<String>,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// Environment: prod, dev or test (selects .env-app.<env> files and the log verbosity table).
    #[arg(short = 'e', long = "env", default_value = "prod", value_parser = parse_env)]
    env: String,
    /// More output: -v notice, -vv info, -vvv debug (in dev, -v already shows debug).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Directory holding the .env-app files (default: the current directory).
    #[arg(long = "env-dir", default_value = ".")]
    env_dir: PathBuf,
}

fn parse_port(value: &str) -> Result<u16, String> {
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| "The port option must be a numeric value between 1 and 65535.".into())
}

fn parse_env(value: &str) -> Result<String, String> {
    AppEnv::parse(value).map(|_| value.to_owned())
}

fn app_env(name: &str) -> AppEnv {
    AppEnv::parse(name).unwrap_or_default()
}

/// The settings, and a warning for each variable that looks like wampd's but is not read.
fn load_settings(common: &Common) -> Result<(Settings, Vec<String>), ConfigError> {
    load_settings_with(common, |env| env)
}

/// The same, with the variables passed through `translate` first (`wampd ws-emit`).
fn load_settings_with(
    common: &Common,
    translate: impl FnOnce(env_files::EnvMap) -> env_files::EnvMap,
) -> Result<(Settings, Vec<String>), ConfigError> {
    let env = translate(env_files::load(&common.env_dir, &common.env)?);
    let settings = Settings::from_env(&env)?;
    Ok((settings, wampd::config::unknown::unknown_variables(&env)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Publish(args) => wampd::publish_cmd::run(args),
        Command::Ticket {
            common,
            authid,
            role,
            ttl,
            topics,
        } => mint_ticket(&common, authid, role, ttl, topics),
        Command::ConfigCheck { common } => match load_settings(&common) {
            Ok((settings, unknown)) => {
                for warning in &unknown {
                    eprintln!("wampd: warning: {warning}");
                }
                if let Err(why) = wampd::server::check_certificates(&settings) {
                    eprintln!("wampd: configuration error: {why}");
                    return ExitCode::FAILURE;
                }
                for (name, value) in settings.describe() {
                    println!("{name} = {value}");
                }
                println!("configuration OK");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("wampd: configuration error: {err}");
                ExitCode::FAILURE
            }
        },
        Command::WsEmit {
            common,
            address,
            redis,
            cors,
            secret,
        } => {
            let options = wampd::socketio::ws_emit::WsEmitOptions {
                address,
                redis,
                cors,
                secret,
            };
            let loaded = load_settings_with(&common, |env| {
                wampd::socketio::ws_emit::translate(&env, &options)
            });
            serve(common, loaded, None, None)
        }
        Command::Server { common, host, port } => {
            let loaded = load_settings(&common);
            serve(common, loaded, host, port)
        }
    }
}

/// Runs the server with `loaded` settings and the command line's listen overrides.
fn serve(
    common: Common,
    loaded: Result<(Settings, Vec<String>), ConfigError>,
    host: Option<String>,
    port: Option<u16>,
) -> ExitCode {
    let (mut settings, unknown) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("wampd: configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    settings.override_listen(host.as_deref(), port);
    let env = app_env(&common.env);
    let level = verbosity::level_filter(env, common.verbose, common.quiet);
    if let Err(err) = wampd::logging::init(settings.log_format, level) {
        eprintln!("wampd: cannot initialise logging: {err}");
        return ExitCode::FAILURE;
    }
    for warning in &unknown {
        tracing::warn!("{warning}");
    }
    run_server(settings, env)
}

fn mint_ticket(
    common: &Common,
    authid: String,
    authrole: String,
    ttl: i64,
    topics: Vec<String>,
) -> ExitCode {
    // (`ttl` is at least one second: `parse_ttl` refuses less.)
    let secret = match env_files::load(&common.env_dir, &common.env) {
        Ok(env) => env
            .get(wampd::config::table::WEBSOCKET_TICKET_SECRET)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        Err(err) => {
            eprintln!("wampd: configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let Some(secret) = secret else {
        eprintln!("wampd: WEBSOCKET_TICKET_SECRET is not set: nothing to sign the ticket with");
        return ExitCode::FAILURE;
    };
    if authid.is_empty() || authrole.is_empty() || ttl <= 0 {
        eprintln!("wampd: --authid and --role must not be empty and --ttl must be positive");
        return ExitCode::FAILURE;
    }
    let now = wampd::router::ticket_clock::unix_now();
    let claims = wampd_proto::ticket::Claims {
        authid,
        authrole,
        expires: now.saturating_add(ttl),
        topics: (!topics.is_empty()).then_some(topics),
    };
    println!("{}", wampd_proto::ticket::mint(secret.as_bytes(), &claims));
    ExitCode::SUCCESS
}

fn run_server(settings: Settings, env: AppEnv) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("wampd: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        info!(target: LIFECYCLE, "Starting web socket");
        let server = match Server::bind(&settings).await {
            Ok(server) => server,
            Err(err) => {
                tracing::error!(error = %err, "cannot start the server");
                eprintln!("wampd: {err}");
                return ExitCode::FAILURE;
            }
        };
        let address = server
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| settings.server_dsn.socket_addr_string());
        info!(
            target: LIFECYCLE,
            version = env!("CARGO_PKG_VERSION"),
            env = env.as_str(),
            pid = std::process::id(),
            realms = %settings.realms.join(","),
            tls = settings.server_dsn.wants_tls(),
            "Launching wampd on {address}: WebSocket (wamp.2.json, wamp.2.msgpack, wamp.2.cbor), RawSocket and POST /publish on one port; health on /health"
        );
        if settings.demo {
            info!(target: LIFECYCLE, "Demo page on http://{address}/ (WEBSOCKET_DEMO=true; turn it off in production)");
        }
        if let Some(backend) = server.backend_addr() {
            info!(
                target: LIFECYCLE,
                role = %settings.backend_role,
                "Backend listener on {backend}: WebSocket, RawSocket and POST /publish for backends"
            );
        }
        if let Some(metrics) = server.metrics_addr() {
            info!(target: LIFECYCLE, "Metrics on http://{metrics}/metrics (also /health, /ready)");
        }
        server.run(wampd::shutdown::signal()).await;
        ExitCode::SUCCESS
    })
}

/// `wampd ticket --ttl`: a duration as the settings take them, in whole seconds, at least 1.
fn parse_ttl(s: &str) -> Result<i64, String> {
    let duration = wampd_proto::units::parse_duration(s)?;
    match i64::try_from(duration.as_secs()) {
        Ok(secs) if secs >= 1 => Ok(secs),
        _ => Err("a lifetime of at least one second, e.g. 300, 90s, 5m or 2h".into()),
    }
}
