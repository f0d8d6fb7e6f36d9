//! The subscribe gate: a subscription that needs the application's consent waits for an external
//! check ([`crate::checks`]) before it exists.
//!
//! The gate is decided here, once, for every front end: the WAMP v1 and v2 sessions ask
//! [`Router::op_subscribe_gate`](crate::router::Router::op_subscribe_gate) after the local checks
//! (URI, limits, authorization rules) pass, and get [`Gate::Open`], a refusal, or a check to await.
//! They await it off their read loop: the future runs in a task of its own and its [`GateDone`]
//! comes back through the connection's bounded check channel, so a session keeps reading (and
//! answering pings) while PHP boots, and holds at most [`MAX_PENDING_CHECKS`] checks at a time.
//!
//! Two rule sets exist:
//! * **EspoCRM**: the topic must be in a category (otherwise refused, silently for WAMP v1, as
//!   Espo does); a category with an access check runs `php command.php <check>` in the Espo root
//!   with `:userId` (the session's authid) and the topic's parameters, and passes when it prints
//!   `true`.
//! * **a command or URL** (`WEBSOCKET_SUBSCRIBE_CHECK`) with `:topic`, `:authid` and `:authrole`.
//!
//! The backend role is never gated: backends may subscribe to anything the rules allow.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::checks::template::Template;
use crate::checks::{Check, Checker, Outcome, Params, Runner};
use crate::espocrm::categories::Categories;
use crate::router::handle::SessionHandle;
use wampd_proto::wamp::MatchPolicy;

/// Most subscribe checks one session may have waiting; more subscriptions are refused until one
/// finishes.
pub const MAX_PENDING_CHECKS: usize = 16;

/// A check's answer on its way back to the session that asked.
#[derive(Debug)]
pub struct GateDone {
    /// The session's number for the waiting subscription.
    pub token: u64,
    /// What the check said.
    pub outcome: Outcome,
}

/// Where a session's checks send their answers (one bounded channel per connection).
///
/// futures-channel's, not tokio's: tokio's allocates a block of 32 slots when the channel is
/// made, 1.8 KB for every idle connection that never runs a check; this one allocates per
/// message.
pub type GateSender = futures_channel::mpsc::Sender<GateDone>;
/// The session driver's end of [`GateSender`].
pub type GateReceiver = futures_channel::mpsc::Receiver<GateDone>;

/// A connection's check channel. Each sender has one guaranteed slot on top of `buffer`; a
/// session never has more than [`MAX_PENDING_CHECKS`] checks out, so a send never waits long.
pub fn gate_channel() -> (GateSender, GateReceiver) {
    futures_channel::mpsc::channel(MAX_PENDING_CHECKS)
}

/// Runs `check` off the session's read loop; its outcome comes back through `gate` as the
/// session's `token`. The session bounds how many it has waiting ([`MAX_PENDING_CHECKS`]).
pub fn answer_later(
    gate: &GateSender,
    token: u64,
    check: impl Future<Output = Outcome> + Send + 'static,
) {
    let mut gate = gate.clone();
    tokio::spawn(async move {
        let outcome = check.await;
        let _ = futures_util::SinkExt::send(&mut gate, GateDone { token, outcome }).await;
    });
}

/// What a subscription that waited for the check is refused with, `None` when the check passed.
/// Every front end answers with these words (WAMP v2's ERROR, Socket.IO's ack or CONNECT_ERROR).
pub fn check_refusal(outcome: &Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Allowed(_) => None,
        Outcome::Denied(_) => Some("the application's subscribe check refused this topic"),
        Outcome::Failed(_) => Some("the application's subscribe check gave no answer"),
    }
}

/// What the gate says about one subscription.
pub enum Gate {
    /// Subscribe now.
    Open,
    /// Refused without asking anyone (a topic outside Espo's categories); the reason is for the
    /// log and for WAMP v2's ERROR.
    Refused(String),
    /// Subscribe when this resolves to an allowed outcome.
    Check(Pin<Box<dyn Future<Output = Outcome> + Send>>),
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gate::Open => f.write_str("Open"),
            Gate::Refused(why) => write!(f, "Refused({why:?})"),
            Gate::Check(_) => f.write_str("Check(..)"),
        }
    }
}

enum Rules {
    Espo {
        categories: Categories,
        checks: HashMap<String, Check>,
    },
    Command(Check),
}

/// See the module docs.
pub struct SubscribeGate {
    checker: Arc<Checker>,
    rules: Rules,
    exempt_role: String,
}

impl std::fmt::Debug for SubscribeGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeGate")
            .field("exempt_role", &self.exempt_role)
            .finish_non_exhaustive()
    }
}

impl SubscribeGate {
    /// Espo's rules: `categories`, their checks run as `php command.php …` in `root`.
    pub fn espocrm(
        checker: Arc<Checker>,
        categories: &Categories,
        php: &str,
        root: &Path,
        exempt_role: &str,
    ) -> Result<SubscribeGate, String> {
        let mut checks = HashMap::new();
        for category in categories.iter() {
            let Some(command) = &category.check else {
                continue;
            };
            let args = Template::parse(&format!("command.php {command}"))
                .map_err(|why| format!("category {}: {why}", category.name))?;
            checks.insert(
                category.name.clone(),
                Check {
                    name: "subscribe",
                    runner: Runner::Exec {
                        program: php.to_owned(),
                        args,
                        cwd: Some(root.to_path_buf()),
                    },
                    // Every Espo version prints `true` when access is allowed (and exits 0).
                    expect: Some(Template::literal("true")),
                },
            );
        }
        Ok(SubscribeGate {
            checker,
            rules: Rules::Espo {
                categories: categories.clone(),
                checks,
            },
            exempt_role: exempt_role.to_owned(),
        })
    }

    /// One check for every subscription, with `:topic`, `:authid` and `:authrole`.
    pub fn command(checker: Arc<Checker>, check: Check, exempt_role: &str) -> SubscribeGate {
        SubscribeGate {
            checker,
            rules: Rules::Command(check),
            exempt_role: exempt_role.to_owned(),
        }
    }

    /// The gate for `handle` subscribing to `topic`.
    pub fn decide(&self, handle: &SessionHandle, topic: &str, policy: MatchPolicy) -> Gate {
        if handle.authrole == self.exempt_role {
            return Gate::Open;
        }
        let (check, params) = match &self.rules {
            Rules::Espo { categories, checks } => {
                if policy != MatchPolicy::Exact {
                    return Gate::Refused(
                        "EspoCRM topics are subscribed exactly, not by pattern".into(),
                    );
                }
                let Some(category) = categories.find(topic) else {
                    return Gate::Refused(format!("topic {topic:?} is not in an EspoCRM category"));
                };
                let Some(check) = checks.get(&category.name) else {
                    return Gate::Open;
                };
                let mut params: Params = category
                    .values(topic)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                params.push(("userId".into(), handle.authid.clone()));
                (check.clone(), params)
            }
            Rules::Command(check) => (
                check.clone(),
                vec![
                    ("topic".into(), topic.to_owned()),
                    ("authid".into(), handle.authid.clone()),
                    ("authrole".into(), handle.authrole.clone()),
                ],
            ),
        };
        let checker = self.checker.clone();
        Gate::Check(Box::pin(async move { checker.run(&check, &params).await }))
    }
}
