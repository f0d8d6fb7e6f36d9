//! `wampd publish`: publish an event (or one per stdin line) to a running router, the way Oro's
//! PHP backend does, from a shell.
//!
//! Deploy hooks, cron jobs and operators need to push a notification or test a subscription
//! without writing PHP. The command connects exactly where the backend would: the
//! `WEBSOCKET_BACKEND_DSN` (or `ORO_WEBSOCKET_BACKEND_DSN`) read from the same `.env-app*` files
//! and environment as `websocket:server`, TLS configured by the DSN's `context_options`, and
//! `WEBSOCKET_PUBLISH_SECRET` offered as a WAMP ticket. The WAMP work is done by
//! [`wampd_client`]; this module only turns the command line and stdin into publications and
//! failures into one line on stderr. Decisions and examples: `docs/publish-cli.md`.
//!
//! Exit status: 0 on success, 2 when the command line or the configuration is unusable (nothing
//! was sent), 1 when connecting or publishing failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use tokio::sync::mpsc;

use crate::config::env_files::{self, EnvMap};
use crate::config::settings::{DEFAULT_BACKEND_DSN, DEFAULT_REALM};
use crate::config::table::{
    ORO_WEBSOCKET_BACKEND_DSN, WEBSOCKET_BACKEND_DSN, WEBSOCKET_PUBLISH_SECRET, WEBSOCKET_REALMS,
};
use crate::config::{AppEnv, ConfigError, Dsn};
use wampd_client::{ClientError, Credentials, Endpoint, Publication, Session, TransportKind};
use wampd_proto::dsn::mask_dsn_text;
use wampd_proto::units::{parse_duration, parse_list};
use wampd_proto::wamp::{codec, DecodeError, Dict, Serializer, Value};

/// The longest wait for the router's GOODBYE echo (shorter when `--timeout` is).
const GOODBYE_WAIT: Duration = Duration::from_secs(2);
/// Lines read ahead of the publisher in stream mode.
const STDIN_QUEUE: usize = 1024;

/// `wampd publish` arguments.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct PublishArgs {
    /// Topic URI (optional with --stdin, where lines may name their own topic).
    #[arg(value_name = "TOPIC", required_unless_present = "stdin")]
    pub topic: Option<String>,
    /// Positional arguments: a JSON array, or a single JSON value that is published as [value].
    #[arg(value_name = "JSON-ARGS", conflicts_with = "stdin")]
    pub args: Option<String>,
    /// Keyword arguments: a JSON object.
    #[arg(long, value_name = "JSON", conflicts_with = "stdin")]
    pub kwargs: Option<String>,
    /// A PUBLISH option (repeatable); VALUE is read as JSON, else as a string:
    /// -o exclude_me=false -o 'eligible_authrole=["backend"]'.
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Ask the router to confirm each publication: print its ID, fail with the router's error.
    #[arg(long)]
    pub acknowledge: bool,
    /// Publish one event per stdin line: a JSON array (arguments for TOPIC) or an object
    /// {"topic", "args", "kwargs", "options"}; one session for the whole stream.
    #[arg(long)]
    pub stdin: bool,
    /// Router DSN, instead of WEBSOCKET_BACKEND_DSN / ORO_WEBSOCKET_BACKEND_DSN.
    #[arg(long, value_name = "DSN")]
    pub dsn: Option<String>,
    /// Wire protocol; with websocket the DSN path is the request path.
    #[arg(long, value_enum, default_value_t = TransportArg::Rawsocket)]
    pub transport: TransportArg,
    /// Serializer [default: msgpack for rawsocket, json for websocket].
    #[arg(long, value_enum)]
    pub serializer: Option<SerializerArg>,
    /// Realm to join [default: the first of WEBSOCKET_REALMS, else realm1].
    #[arg(long)]
    pub realm: Option<String>,
    /// authid presented with WEBSOCKET_PUBLISH_SECRET (WAMP-Ticket), when the secret is set.
    #[arg(long, default_value = "backend")]
    pub authid: String,
    /// Longest wait for connecting, joining, or each acknowledgement (25, 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Print nothing on success (no publication IDs, no summary).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Environment: prod, dev or test (selects the .env-app.<env> files).
    #[arg(short = 'e', long = "env", default_value = "prod", value_parser = parse_env)]
    pub env: String,
    /// Directory holding the .env-app files.
    #[arg(long = "env-dir", default_value = ".")]
    pub env_dir: PathBuf,
}

/// `--transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// WAMP RawSocket (what backends use).
    Rawsocket,
    /// WAMP over WebSocket (through proxies that only pass WebSocket upgrades).
    Websocket,
}

/// `--serializer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SerializerArg {
    /// wamp.2.json
    Json,
    /// wamp.2.msgpack
    Msgpack,
    /// wamp.2.cbor
    Cbor,
}

fn parse_timeout(value: &str) -> Result<Duration, String> {
    match parse_duration(value)? {
        d if d.is_zero() => Err("a duration greater than 0 such as 10s".to_string()),
        d => Ok(d),
    }
}

fn parse_env(value: &str) -> Result<String, String> {
    AppEnv::parse(value).map(|_| value.to_owned())
}

/// Why the command failed, and with which exit status.
#[derive(Debug)]
struct Failure {
    status: u8,
    message: String,
}

impl Failure {
    /// Bad command line or configuration: nothing was sent (exit 2, like clap's usage errors).
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            status: 2,
            message: message.into(),
        }
    }

    /// Connecting or publishing failed (exit 1).
    fn failed(message: impl Into<String>) -> Failure {
        Failure {
            status: 1,
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(err: ClientError) -> Failure {
        match err {
            ClientError::Config(_) => Failure::usage(err.one_line()),
            _ => Failure::failed(err.one_line()),
        }
    }
}

/// Runs `wampd publish`; failures are reported as one line on stderr.
pub fn run(args: PublishArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message: Vec<&str> = failure.message.lines().collect();
            eprintln!("wampd: {}", message.join(" "));
            ExitCode::from(failure.status)
        }
    }
}

/// What to publish: one event, or a stream read from stdin with defaults from the command line.
enum Plan {
    Single(Publication),
    Stream {
        topic: Option<String>,
        options: Dict,
    },
}

/// Everything needed to open the session.
struct Target {
    endpoint: Endpoint,
    transport: TransportKind,
    serializer: Serializer,
    realm: String,
    credentials: Credentials,
    timeout: Duration,
}

fn execute(args: PublishArgs) -> Result<(), Failure> {
    // Inputs first: a typo in the JSON should not cost a connection.
    let options = parse_options(&args.options).map_err(Failure::usage)?;
    let plan = if args.stdin {
        Plan::Stream {
            topic: args.topic.clone(),
            options,
        }
    } else {
        let topic = args
            .topic
            .clone()
            .ok_or_else(|| Failure::usage("a TOPIC is required (or --stdin)"))?;
        let positional = match &args.args {
            Some(text) => {
                parse_args(text).map_err(|e| Failure::usage(format!("JSON-ARGS: {e}")))?
            }
            None => Vec::new(),
        };
        let kwargs = match &args.kwargs {
            Some(text) => {
                parse_kwargs(text).map_err(|e| Failure::usage(format!("--kwargs: {e}")))?
            }
            None => Dict::new(),
        };
        Plan::Single(Publication {
            topic,
            args: positional,
            kwargs,
            options,
        })
    };
    let env = env_files::load(&args.env_dir, &args.env)
        .map_err(|err| Failure::usage(format!("configuration error: {err}")))?;
    let target = target(&args, &env)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::failed(format!("cannot start the async runtime: {err}")))?;
    runtime.block_on(async {
        let mut session = open(&target).await?;
        match plan {
            Plan::Single(publication) => {
                let wait = goodbye_wait(target.timeout);
                match publish_one(&mut session, publication, args.acknowledge, args.quiet).await {
                    Ok(()) => Ok(session.close(wait).await?),
                    Err(err) => Err(end_after_refusal(session, err, wait).await.into()),
                }
            }
            Plan::Stream { topic, options } => {
                let defaults = LineDefaults {
                    topic,
                    options,
                    realm: target.realm.clone(),
                };
                let published = publish_stream(
                    session,
                    &defaults,
                    args.acknowledge,
                    args.quiet,
                    target.timeout,
                )
                .await?;
                if !args.quiet {
                    eprintln!("published {published} events");
                }
                Ok(())
            }
        }
    })
}

fn goodbye_wait(timeout: Duration) -> Duration {
    timeout.min(GOODBYE_WAIT)
}

/// Resolves the DSN, realm and credentials from the command line and the environment.
fn target(args: &PublishArgs, env: &EnvMap) -> Result<Target, Failure> {
    let (source, text) = match &args.dsn {
        Some(dsn) => ("--dsn", dsn.trim().to_string()),
        // As the server reads it: WEBSOCKET_* when set at all (even empty), else the ORO_ name,
        // else Oro's default.
        None => [WEBSOCKET_BACKEND_DSN, ORO_WEBSOCKET_BACKEND_DSN]
            .into_iter()
            .find_map(|name| env.get(name).map(|value| (name, value.trim().to_string())))
            .unwrap_or((WEBSOCKET_BACKEND_DSN, DEFAULT_BACKEND_DSN.to_string())),
    };
    if text.is_empty() {
        return Err(Failure::usage(format!(
            "{source} is empty: set {WEBSOCKET_BACKEND_DSN} (or {ORO_WEBSOCKET_BACKEND_DSN}) to the router's address, e.g. tcp://127.0.0.1:8080, or pass --dsn"
        )));
    }
    let dsn = Dsn::parse(&text).map_err(|expected| {
        Failure::usage(ConfigError::invalid(source, mask_dsn_text(&text), expected).to_string())
    })?;
    let endpoint = Endpoint::from_dsn(&dsn, source)?;
    let transport = match args.transport {
        TransportArg::Rawsocket => TransportKind::RawSocket,
        TransportArg::Websocket => TransportKind::WebSocket,
    };
    let serializer = match args.serializer {
        Some(SerializerArg::Json) => Serializer::Json,
        Some(SerializerArg::Msgpack) => Serializer::MsgPack,
        Some(SerializerArg::Cbor) => Serializer::Cbor,
        None => transport.default_serializer(),
    };
    let realm = match &args.realm {
        Some(realm) => realm.trim().to_string(),
        None => env
            .get(WEBSOCKET_REALMS)
            .and_then(|realms| parse_list(realms).ok())
            .and_then(|realms| realms.into_iter().next())
            .unwrap_or_else(|| DEFAULT_REALM.to_string()),
    };
    if realm.is_empty() {
        return Err(Failure::usage("--realm must not be empty"));
    }
    let credentials = match env
        .get(WEBSOCKET_PUBLISH_SECRET)
        .map(|secret| secret.trim())
        .filter(|secret| !secret.is_empty())
    {
        Some(secret) => Credentials::ticket(args.authid.clone(), secret),
        None => Credentials::anonymous(),
    };
    Ok(Target {
        endpoint,
        transport,
        serializer,
        realm,
        credentials,
        timeout: args.timeout,
    })
}

async fn open(target: &Target) -> Result<Session, Failure> {
    let connection = wampd_client::connect(
        &target.endpoint,
        target.transport,
        target.serializer,
        target.timeout,
    )
    .await?;
    Ok(Session::join(
        connection,
        &target.realm,
        &target.credentials,
        target.timeout,
    )
    .await?)
}

/// After a failed publish: a refusal leaves the session usable, so it is closed politely; any
/// other failure means the connection is gone or stuck, and it is dropped. Returns `err`.
async fn end_after_refusal(session: Session, err: ClientError, wait: Duration) -> ClientError {
    if matches!(err, ClientError::Refused { .. }) {
        let _ = session.close(wait).await;
    }
    err
}

async fn publish_one(
    session: &mut Session,
    publication: Publication,
    acknowledge: bool,
    quiet: bool,
) -> Result<(), ClientError> {
    if acknowledge {
        let id = session.publish_acked(publication).await?;
        if !quiet {
            print_id(id);
        }
    } else {
        session.publish(publication).await?;
        session.flush().await?;
    }
    Ok(())
}

/// Prints a publication ID on its own line. A closed stdout (`| head -1`) is not an error: the
/// events are still published.
fn print_id(id: u64) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{id}");
}

/// Defaults for stream lines, from the command line.
struct LineDefaults {
    topic: Option<String>,
    options: Dict,
    realm: String,
}

/// One line of stdin: its number (from 1) and its text, or why it could not be read.
struct Line {
    number: usize,
    text: Result<String, String>,
}

/// Reads stdin on a plain thread (blocking reads stay off the runtime, and the thread never
/// delays exit) and hands lines over through a bounded channel.
fn spawn_stdin_reader(lines: mpsc::Sender<Line>) {
    std::thread::spawn(move || {
        use std::io::BufRead;
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut buffer = Vec::new();
        let mut number = 0;
        loop {
            buffer.clear();
            number += 1;
            let text = match input.read_until(b'\n', &mut buffer) {
                Ok(0) => break,
                Ok(_) => {
                    while matches!(buffer.last(), Some(b'\n' | b'\r')) {
                        buffer.pop();
                    }
                    String::from_utf8(std::mem::take(&mut buffer))
                        .map_err(|_| "not valid UTF-8".to_string())
                }
                Err(err) => Err(format!("cannot read stdin: {err}")),
            };
            let stop = text.is_err();
            if lines.blocking_send(Line { number, text }).is_err() || stop {
                break;
            }
        }
    });
}

/// What the stream loop woke up for.
enum Next {
    Line(Option<Line>),
    Router(Result<wampd_proto::wamp::Message, ClientError>),
}

/// Publishes one event per stdin line over `session`; returns how many were published.
async fn publish_stream(
    mut session: Session,
    defaults: &LineDefaults,
    acknowledge: bool,
    quiet: bool,
    timeout: Duration,
) -> Result<usize, Failure> {
    let (sender, mut lines) = mpsc::channel(STDIN_QUEUE);
    spawn_stdin_reader(sender);
    let mut published = 0usize;
    let before = |published: usize| format!(" (published {published} events before it)");
    loop {
        let next = tokio::select! {
            biased;
            line = lines.recv() => Next::Line(line),
            message = session.next_message() => Next::Router(message),
        };
        let line = match next {
            Next::Line(Some(line)) => line,
            Next::Line(None) => break,
            Next::Router(result) => {
                let why = match result {
                    Ok(message) => format!("unexpected {} from the router", message.name()),
                    Err(err) => err.one_line(),
                };
                return Err(Failure::failed(format!("{why}{}", before(published))));
            }
        };
        let at = |what: String| format!("line {}: {what}{}", line.number, before(published));
        let publication = match line.text.and_then(|text| {
            if text.trim().is_empty() {
                Ok(None)
            } else {
                parse_line(&text, defaults).map(Some)
            }
        }) {
            Ok(Some(publication)) => publication,
            Ok(None) => continue,
            Err(why) => {
                // Deliver what came before the bad line, then report it.
                let _ = session.flush().await;
                let _ = session.close(goodbye_wait(timeout)).await;
                return Err(Failure::failed(at(why)));
            }
        };
        if acknowledge {
            let id = match session.publish_acked(publication).await {
                Ok(id) => id,
                Err(err) => {
                    let err = end_after_refusal(session, err, goodbye_wait(timeout)).await;
                    return Err(Failure::failed(at(err.one_line())));
                }
            };
            if !quiet {
                print_id(id);
            }
        } else {
            session
                .publish(publication)
                .await
                .map_err(|err| Failure::failed(at(err.one_line())))?;
            if lines.is_empty() {
                session
                    .flush()
                    .await
                    .map_err(|err| Failure::failed(at(err.one_line())))?;
            }
        }
        published += 1;
    }
    session
        .flush()
        .await
        .map_err(|err| Failure::failed(format!("{}{}", err.one_line(), before(published))))?;
    session
        .close(goodbye_wait(timeout))
        .await
        .map_err(|err| Failure::failed(err.one_line()))?;
    Ok(published)
}

/// Parses JSON the way the router reads `wamp.2.json` (so `"\u0000..."` strings are binary, as
/// in WAMP's JSON binary convention).
fn parse_json(text: &str) -> Result<Value, String> {
    codec::decode_value(Serializer::Json, text.as_bytes()).map_err(|err| match err {
        DecodeError::Syntax(_, detail) => format!("invalid JSON: {detail}"),
        DecodeError::Trailing => "invalid JSON: unexpected characters after the value".to_string(),
        other => format!("invalid JSON: {other}"),
    })
}

/// JSON-ARGS: an array is the argument list; any other value is the single argument.
fn parse_args(text: &str) -> Result<Vec<Value>, String> {
    Ok(match parse_json(text)? {
        Value::List(args) => args,
        other => vec![other],
    })
}

/// `--kwargs`: a JSON object.
fn parse_kwargs(text: &str) -> Result<Dict, String> {
    match parse_json(text)? {
        Value::Dict(kwargs) => Ok(kwargs),
        other => Err(format!("expected a JSON object, got {}", kind(&other))),
    }
}

/// `--option KEY=VALUE` items: VALUE as JSON when it parses, else as a string.
fn parse_options(items: &[String]) -> Result<Dict, String> {
    let mut options = Dict::new();
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("--option {item:?}: expected KEY=VALUE"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("--option {item:?}: the key is empty"));
        }
        if key == "acknowledge" {
            return Err("--option acknowledge: use --acknowledge".to_string());
        }
        let value = parse_json(value).unwrap_or_else(|_| Value::Str(value.to_string()));
        options.insert(key.to_string(), value);
    }
    Ok(options)
}

/// One stdin line: a JSON array (arguments for the command line's TOPIC) or an object with
/// `topic`, `args`, `kwargs`, `options` (and optionally `realm`, which must be the session's).
fn parse_line(text: &str, defaults: &LineDefaults) -> Result<Publication, String> {
    let no_topic = || {
        "no topic: give TOPIC on the command line or a \"topic\" in the line's object".to_string()
    };
    let mut object = match parse_json(text)? {
        Value::List(args) => {
            return Ok(Publication {
                topic: defaults.topic.clone().ok_or_else(no_topic)?,
                args,
                kwargs: Dict::new(),
                options: defaults.options.clone(),
            })
        }
        Value::Dict(object) => object,
        other => {
            return Err(format!(
                "expected a JSON array of arguments or an object with \"topic\", got {}",
                kind(&other)
            ))
        }
    };
    let topic = match object.remove("topic") {
        Some(Value::Str(topic)) => topic,
        None | Some(Value::Null) => defaults.topic.clone().ok_or_else(no_topic)?,
        Some(other) => return Err(format!("\"topic\" must be a string, got {}", kind(&other))),
    };
    let args = match object.remove("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(args)) => args,
        Some(other) => return Err(format!("\"args\" must be an array, got {}", kind(&other))),
    };
    let mut dict = |name: &str| match object.remove(name) {
        None | Some(Value::Null) => Ok(Dict::new()),
        Some(Value::Dict(dict)) => Ok(dict),
        Some(other) => Err(format!(
            "\"{name}\" must be an object, got {}",
            kind(&other)
        )),
    };
    let kwargs = dict("kwargs")?;
    let mut options = defaults.options.clone();
    options.extend(dict("options")?);
    match object.remove("realm") {
        None | Some(Value::Null) => {}
        Some(Value::Str(realm)) if realm == defaults.realm => {}
        Some(_) => {
            return Err(format!(
                "\"realm\" must be the session's realm \"{}\" (one session per stream)",
                defaults.realm
            ))
        }
    }
    if let Some(key) = object.keys().next() {
        return Err(format!(
            "unknown key \"{key}\" (expected topic, args, kwargs, options)"
        ));
    }
    Ok(Publication {
        topic,
        args,
        kwargs,
        options,
    })
}

/// A JSON type name for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => "a number",
        Value::Str(_) => "a string",
        Value::Bin(_) => "binary data",
        Value::List(_) => "an array",
        Value::Dict(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(topic: Option<&str>) -> LineDefaults {
        let mut options = Dict::new();
        options.insert("exclude_me".into(), Value::Bool(false));
        LineDefaults {
            topic: topic.map(str::to_string),
            options,
            realm: "realm1".into(),
        }
    }

    #[test]
    fn json_args_wrap_single_values() {
        assert_eq!(
            parse_args("[1, \"a\"]").expect("ok"),
            vec![Value::UInt(1), Value::from("a")]
        );
        assert_eq!(
            parse_args("\"hello\"").expect("ok"),
            vec![Value::from("hello")]
        );
        assert_eq!(parse_args("-5").expect("ok"), vec![Value::Int(-5)]);
        assert_eq!(
            parse_args("{\"a\":1}").expect("ok"),
            vec![Value::Dict(
                [("a".to_string(), Value::UInt(1))].into_iter().collect()
            )]
        );
        assert_eq!(parse_args("[[1]]").expect("ok").len(), 1);
        let err = parse_args("[1,").unwrap_err();
        assert!(err.starts_with("invalid JSON: "), "{err}");
        assert!(parse_args("hello").is_err());
        assert!(parse_args("1 2").unwrap_err().contains("after the value"));
    }

    #[test]
    fn kwargs_must_be_an_object() {
        assert_eq!(parse_kwargs("{}").expect("ok"), Dict::new());
        assert_eq!(
            parse_kwargs("[1]").unwrap_err(),
            "expected a JSON object, got an array"
        );
    }

    #[test]
    fn options_are_json_or_strings() {
        let options = parse_options(&[
            "exclude_me=false".to_string(),
            "eligible_authrole=[\"backend\"]".to_string(),
            "eligible_authid=backend".to_string(),
            "note=a=b".to_string(),
        ])
        .expect("ok");
        assert_eq!(options["exclude_me"], Value::Bool(false));
        assert_eq!(
            options["eligible_authrole"],
            Value::List(vec![Value::from("backend")])
        );
        assert_eq!(options["eligible_authid"], Value::from("backend"));
        assert_eq!(options["note"], Value::from("a=b"));
        assert!(parse_options(&["novalue".to_string()]).is_err());
        assert!(parse_options(&["=1".to_string()]).is_err());
        assert!(parse_options(&["acknowledge=true".to_string()])
            .unwrap_err()
            .contains("--acknowledge"));
    }

    #[test]
    fn stream_lines() {
        let with_topic = defaults(Some("t"));
        let p = parse_line("[1, 2]", &with_topic).expect("array");
        assert_eq!(p.topic, "t");
        assert_eq!(p.args, vec![Value::UInt(1), Value::UInt(2)]);
        assert_eq!(p.options["exclude_me"], Value::Bool(false));

        let p = parse_line(
            r#"{"topic":"other","args":["x"],"kwargs":{"k":1},"options":{"exclude_me":true,"disclose_me":true},"realm":"realm1"}"#,
            &with_topic,
        )
        .expect("object");
        assert_eq!(p.topic, "other");
        assert_eq!(p.args, vec![Value::from("x")]);
        assert_eq!(p.kwargs["k"], Value::UInt(1));
        assert_eq!(p.options["exclude_me"], Value::Bool(true), "the line wins");
        assert_eq!(p.options["disclose_me"], Value::Bool(true));

        assert_eq!(
            parse_line(r#"{"args":[1]}"#, &with_topic)
                .expect("topic")
                .topic,
            "t"
        );

        let without = defaults(None);
        for (line, expected) in [
            ("[1]", "no topic"),
            (r#"{"args":[1]}"#, "no topic"),
            ("{\"topic\":\"t\",\"kwarg\":{}}", "unknown key \"kwarg\""),
            (r#"{"topic":"t","args":1}"#, "\"args\" must be an array"),
            (
                r#"{"topic":"t","kwargs":[]}"#,
                "\"kwargs\" must be an object",
            ),
            (r#"{"topic":1}"#, "\"topic\" must be a string"),
            (r#"{"topic":"t","realm":"other"}"#, "realm1"),
            ("42", "expected a JSON array"),
            ("{", "invalid JSON"),
        ] {
            let err = parse_line(line, &without).expect_err(line);
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn timeouts_must_be_positive() {
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("10"), Ok(Duration::from_secs(10)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("soon").is_err());
        assert_eq!(goodbye_wait(Duration::from_secs(30)), GOODBYE_WAIT);
        assert_eq!(
            goodbye_wait(Duration::from_millis(100)),
            Duration::from_millis(100)
        );
    }
}
