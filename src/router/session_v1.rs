//! The WAMP v1 session (Ratchet / autobahn 0.8 / Oro's PHP backend), on the same broker as v2.
//!
//! A v1 session is established by the transport's handshake (the WELCOME leaves with the 101
//! response), so there is no HELLO state here: every message is PREFIX, SUBSCRIBE, UNSUBSCRIBE,
//! PUBLISH or CALL. Topics are used verbatim after CURIE expansion, payloads are bridged per
//! `protocol/bridging.md`, and Oro's user-scoped topics admit only the ticket's user.
//!
//! Deliberate difference from Ratchet: a malformed message or an unknown topic does not close the
//! connection with 1007. Ratchet's clean close leaves Oro's browsers disconnected until the page is
//! reloaded (`oro-gos.md` §10); wampd logs the problem, ignores the message and keeps the session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tracing::{debug, info, warn};

use crate::metrics::SessionLabels;
use crate::oro::topics;
use crate::router::dealer::{Answer, CallRequest, Caller};
use crate::router::handle::SessionHandle;
use crate::router::log_budget::{LogBudget, Verdict};
use crate::router::operations::{Actor, Called, SubscribeRequest};
use crate::router::outbound::{Frame, Outbound};
use crate::router::publisher::PublishRequest;
use crate::router::realm::Realm;
use crate::router::session::Step;
use crate::router::subscribe_gate::{answer_later, Gate, GateDone, GateSender, MAX_PENDING_CHECKS};
use crate::router::Router;
use wampd_proto::wamp::v1::{self, Exclude, Payload, Prefixes, V1Message};
use wampd_proto::wamp::{error_uri, Dict, Id, MatchPolicy, Serializer, Value};

/// Who a v1 session is, as its ticket (or anonymity) says.
#[derive(Debug, Clone)]
pub struct V1Identity {
    /// Auth ID (`anonymous-<session>` or the Oro username).
    pub authid: String,
    /// Auth role.
    pub authrole: String,
    /// The Oro back-office user ID, for user-scoped topics.
    pub user_id: Option<u64>,
}

/// One WAMP v1 client's session.
pub struct V1Session {
    router: Arc<Router>,
    realm: Arc<Realm>,
    handle: Arc<SessionHandle>,
    prefixes: Prefixes,
    subscriptions: HashMap<String, Id>,
    user_id: Option<u64>,
    peer: SocketAddr,
    gauge: Gauge,
    joined: bool,
    warnings: LogBudget,
    /// Where the subscribe gate's checks answer.
    gate: GateSender,
    /// Subscriptions waiting for the gate's check, by token.
    pending: HashMap<u64, String>,
    next_token: u64,
}

impl V1Session {
    /// Joins the router's default realm as session `id` (already announced in the WELCOME).
    /// `None` when the router has no realm.
    pub fn join(
        router: Arc<Router>,
        outbound: Outbound,
        id: Id,
        identity: V1Identity,
        peer: SocketAddr,
        transport: &'static str,
        gate: GateSender,
    ) -> Option<V1Session> {
        let realm = router.default_realm()?.clone();
        let handle = Arc::new(SessionHandle {
            id,
            authid: identity.authid,
            authrole: identity.authrole,
            serializer: Serializer::Json,
            v1: true,
            socketio: false,
            transport,
            peer: peer.to_string(),
            interruptible: false,
            progressive_invocations: false,
            passthru: false,
            outbound,
        });
        realm.join(handle.clone());
        handle.outbound.set_policy(realm.policy());
        let gauge = router.metrics().session_gauge(&SessionLabels {
            transport: transport.to_owned(),
            protocol: "wamp".to_owned(),
            realm: realm.name().to_owned(),
        });
        gauge.inc();
        info!(session = id, realm = realm.name(), authid = %handle.authid, %peer, "{} connected", handle.authid);
        Some(V1Session {
            router,
            realm,
            handle,
            prefixes: Prefixes::default(),
            subscriptions: HashMap::new(),
            user_id: identity.user_id,
            peer,
            gauge,
            joined: true,
            warnings: LogBudget::default(),
            gate,
            pending: HashMap::new(),
            next_token: 0,
        })
    }

    /// The session ID.
    pub fn id(&self) -> Id {
        self.handle.id
    }

    /// Logs a warning the client caused, within its [`LogBudget`] (also for the transport's
    /// complaints about it, such as binary frames).
    pub fn warn_budget(&mut self, message: &str) {
        match self.warnings.admit(std::time::Instant::now()) {
            Verdict::Log { suppressed: 0 } => {
                warn!(session = self.handle.id, peer = %self.peer, "{message}");
            }
            Verdict::Log { suppressed } => {
                warn!(session = self.handle.id, peer = %self.peer, suppressed, "{message} ({suppressed} similar warnings from this session suppressed)");
            }
            Verdict::Suppress => {
                self.router.metrics().suppressed_log_lines.inc();
            }
        }
    }

    fn send(&self, text: String) {
        let _ = self.handle.send(Frame::Text(text.into()));
    }

    /// Processes one text message. v1 sessions are never closed for what they send.
    pub fn handle_text(&mut self, data: &[u8]) -> Step {
        match v1::decode_client(data) {
            Ok(message) => self.handle(message),
            Err(err) => {
                self.warn_budget(&format!("invalid WAMP v1 message ignored: {err}"));
            }
        }
        Step::Continue
    }

    fn handle(&mut self, message: V1Message) {
        match message {
            V1Message::Prefix { prefix, uri } => {
                if !self.prefixes.set(&prefix, &uri) {
                    self.warn_budget("PREFIX ignored: too many or too long prefixes");
                }
            }
            V1Message::Subscribe { topic } => self.subscribe(topic),
            V1Message::Unsubscribe { topic } => self.unsubscribe(topic),
            V1Message::Publish {
                topic,
                event,
                exclude,
                eligible,
            } => self.publish(topic, event, exclude, eligible),
            V1Message::Call {
                call_id,
                proc_uri,
                args,
            } => self.call(call_id, proc_uri, args),
            other => {
                let text =
                    format!("a client may not send this WAMP v1 message; ignored: {other:?}");
                self.warn_budget(&text);
            }
        }
    }

    /// The session as the operations layer sees it: any string is a topic, and Oro's
    /// user-scoped topics admit the ticket's user.
    fn actor(&self) -> Actor<'_> {
        Actor {
            realm: &self.realm,
            handle: &self.handle,
            claims: None,
            oro_user: self.user_id,
            any_uri: true,
        }
    }

    fn subscribe(&mut self, topic: String) {
        let topic = self.prefixes.resolve(&topic);
        if topic.is_empty() {
            self.warn_budget("v1 SUBSCRIBE with an empty topic ignored");
            return;
        }
        if self.subscriptions.contains_key(&topic) || self.pending.values().any(|t| *t == topic) {
            return;
        }
        let request = SubscribeRequest {
            topic: &topic,
            policy: MatchPolicy::Exact,
            held: self.subscriptions.len() + self.pending.len(),
            get_retained: false,
            recover: None,
        };
        match self.router.op_subscribe_gate(&self.actor(), request) {
            Ok(Gate::Open) => self.finish_subscribe(topic),
            // WAMP v1 has no SUBSCRIBE error; Espo refuses silently too.
            Ok(Gate::Refused(why)) => {
                debug!(session = self.id(), topic, "v1 SUBSCRIBE refused: {why}");
            }
            Ok(Gate::Check(check)) => {
                if self.pending.len() >= MAX_PENDING_CHECKS {
                    self.warn_budget(&format!(
                        "v1 SUBSCRIBE to {topic} ignored: {MAX_PENDING_CHECKS} subscribe checks already waiting"
                    ));
                    self.router.metrics().limit_refused("pending_checks");
                    return;
                }
                let token = self.next_token;
                self.next_token += 1;
                self.pending.insert(token, topic);
                answer_later(&self.gate, token, check);
            }
            Err(refusal) => self.refused(&topic, &refusal),
        }
    }

    /// A subscribe check answered: subscribe when it passed and the client still wants it.
    pub fn on_gate_done(&mut self, done: GateDone) -> Step {
        self.router
            .metrics()
            .external_check("subscribe", done.outcome.label());
        let Some(topic) = self.pending.remove(&done.token) else {
            return Step::Continue;
        };
        match done.outcome {
            crate::checks::Outcome::Allowed(_) => self.finish_subscribe(topic),
            crate::checks::Outcome::Denied(why) => {
                debug!(
                    session = self.id(),
                    topic, "v1 SUBSCRIBE refused by the subscribe check: {why}"
                );
            }
            crate::checks::Outcome::Failed(why) => {
                self.warn_budget(&format!(
                    "v1 SUBSCRIBE to {topic} refused: the subscribe check failed: {why}"
                ));
            }
        }
        Step::Continue
    }

    fn finish_subscribe(&mut self, topic: String) {
        let outcome = self.router.op_subscribe(
            self.actor(),
            SubscribeRequest {
                topic: &topic,
                policy: MatchPolicy::Exact,
                held: self.subscriptions.len(),
                get_retained: false,
                recover: None,
            },
            // WAMP v1 has no SUBSCRIBED.
            |_| None,
        );
        match outcome {
            Ok(result) => {
                info!(
                    session = self.id(),
                    "User {} subscribed to {}", self.handle.authid, topic
                );
                self.subscriptions.insert(topic, result.subscription);
            }
            Err(refusal) => self.refused(&topic, &refusal),
        }
    }

    /// WAMP v1 has no error for SUBSCRIBE: a refusal by the rules is answered as Oro's secured
    /// topics do, anything else (an oversized topic, a limit) is logged.
    fn refused(&mut self, topic: &str, refusal: &crate::router::refusal::Refusal) {
        if refusal.error == error_uri::NOT_AUTHORIZED {
            self.send(topics::refusal_text(topic));
        } else {
            self.warn_budget(&format!("v1 SUBSCRIBE ignored: {}", refusal.message));
        }
    }

    fn unsubscribe(&mut self, topic: String) {
        let topic = self.prefixes.resolve(&topic);
        self.pending.retain(|_, t| *t != topic);
        if let Some(subscription) = self.subscriptions.remove(&topic) {
            self.router.op_unsubscribe(self.actor(), subscription);
            info!(
                session = self.id(),
                "User {} unsubscribed from {}", self.handle.authid, topic
            );
        }
    }

    /// Routed to a WAMP v2 callee; the answer comes back as CALLRESULT or CALLERROR.
    fn call(&mut self, call_id: String, proc_uri: String, args: Vec<Value>) {
        let procedure = self.prefixes.resolve(&proc_uri);
        let caller = Caller::V1 {
            session: self.handle.clone(),
            call_id,
        };
        let call = CallRequest {
            procedure,
            args,
            kwargs: Dict::new(),
            receive_progress: false,
            disclose_me: false,
            progress: false,
            timeout: None,
            passthru: None,
        };
        // WAMP v1 has no call options: no timeout, no progress, no disclosure.
        match self
            .router
            .op_call(self.actor(), caller.clone(), call, Duration::ZERO)
        {
            Ok(Called::Answered(args)) => caller.result(Answer::new(args, Dict::new()), false),
            Ok(Called::Invoked(_)) => {}
            Err(e) => {
                debug!(session = self.id(), error = e.error, message = %e.message, "v1 CALL failed");
                caller.error(e.error, &e.message, Vec::new(), Dict::new());
            }
        }
    }

    fn publish(&mut self, topic: String, event: Payload, exclude: Exclude, eligible: Vec<String>) {
        let topic = self.prefixes.resolve(&topic);
        if topic.is_empty() {
            // EspoCRM's browsers publish [7, "", ""] every 60 s as their keepalive; Espo's daemon
            // ignores it, and so does wampd, without a log line or a denial count.
            return;
        }
        if topic == topics::PING_TOPIC {
            // Oro's ping topic ignores publications; only the router's timer publishes there.
            return;
        }
        let ids = |list: Vec<String>| -> Vec<Value> {
            list.iter()
                .filter_map(|s| s.trim().parse::<u64>().ok())
                .map(Value::UInt)
                .collect()
        };
        let mut options = Dict::new();
        // Ratchet: a v1 publisher receives its own event unless it excluded itself.
        options.insert("exclude_me".into(), Value::Bool(false));
        match exclude {
            Exclude::None => {}
            Exclude::Me => {
                options.insert("exclude".into(), Value::List(vec![Value::UInt(self.id())]));
            }
            Exclude::Sessions(list) => {
                options.insert("exclude".into(), Value::List(ids(list)));
            }
        }
        if !eligible.is_empty() {
            options.insert("eligible".into(), Value::List(ids(eligible)));
        }
        let (args, kwargs) = v1::bridge_v1_to_v2(event.value().clone());
        let outcome = self.router.op_publish(
            self.actor(),
            PublishRequest {
                topic: &topic,
                args: &args,
                kwargs: &kwargs,
                options: &options,
                any_topic: true,
                v1_payload: Some(&event),
            },
        );
        match outcome {
            Ok((publication, stats)) => {
                debug!(
                    session = self.id(),
                    "User {} published to {}", self.handle.authid, topic
                );
                debug!(publication, delivered = stats.delivered, "published");
            }
            Err(refusal) => {
                self.warn_budget(&format!(
                    "v1 publish to {topic} refused: {} ({})",
                    refusal.message, refusal.error
                ));
            }
        }
    }

    /// Leaves the realm. Idempotent; also run on drop.
    pub fn leave(&mut self) {
        if !std::mem::replace(&mut self.joined, false) {
            return;
        }
        self.realm
            .leave(self.id(), self.subscriptions.values().copied());
        self.gauge.dec();
        info!(
            session = self.id(),
            dropped_events = self.handle.outbound.dropped_total(),
            suppressed_warnings = self.warnings.suppressed_total(),
            "session left"
        );
    }
}

impl Drop for V1Session {
    fn drop(&mut self) {
        self.leave();
    }
}
