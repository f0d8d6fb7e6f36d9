//! One Socket.IO client (one Engine.IO connection) as a session on the broker.
//!
//! The session speaks Engine.IO v4 and Socket.IO v5 and translates onto the operations layer, as
//! the WAMP sessions do: a namespace CONNECT subscribes (prefix subscriptions) to the namespace's
//! broadcasts and to the socket's own room; `join {room}` / `leave {room}` (ws-emit's events) add
//! and remove a room's subscription; any other event is published to the namespace's client topic
//! ([`super::mapping`]) under the authorization rules, and acknowledged when the client asked.
//! Events from the broker arrive already encoded. Malformed input is logged within a budget and
//! ignored, as for WAMP v1; the connection stays up.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine as _;
use prometheus_client::metrics::gauge::Gauge;
use tracing::{debug, info, warn};

use super::mapping;
use crate::checks::Outcome;
use crate::metrics::SessionLabels;
use crate::router::handle::SessionHandle;
use crate::router::log_budget::{LogBudget, Verdict};
use crate::router::operations::{Actor, SubscribeRequest};
use crate::router::outbound::{Frame, Outbound};
use crate::router::publisher::PublishRequest;
use crate::router::realm::Realm;
use crate::router::session::{Step, CLOSE_NORMAL};
use crate::router::subscribe_gate::{
    answer_later, check_refusal, Gate, GateDone, GateSender, MAX_PENDING_CHECKS,
};
use crate::router::Router;
use wampd_proto::socketio::engineio::{self, Packet as EnginePacket};
use wampd_proto::socketio::packet::{self, Kind, Packet};
use wampd_proto::wamp::{error_uri, Dict, Id, MatchPolicy, Serializer, Value};

/// What an emit is answered with: nothing, or a WAMP error URI and a message.
type Answer = Result<(), (&'static str, String)>;

/// Most namespaces one client may join.
pub const MAX_NAMESPACES: usize = 16;
/// Longest room name, in bytes.
pub const MAX_ROOM: usize = 256;

/// Who a Socket.IO client is, as admission decided.
#[derive(Debug, Clone)]
pub struct SioIdentity {
    /// The session's authid (a connect check's, or `anonymous-<session>`).
    pub authid: Option<String>,
    /// Its role.
    pub authrole: String,
}

struct Namespace {
    /// The socket id Socket.IO knows this namespace's socket by.
    sid: String,
    /// Subscriptions by prefix (the broadcast one, the socket's own room, joined rooms).
    subscriptions: HashMap<String, Id>,
}

/// A binary event waiting for its attachments.
struct Waiting {
    packet: Packet,
    attachments: Vec<Vec<u8>>,
}

/// One Socket.IO client's session.
pub struct SioSession {
    router: Arc<Router>,
    realm: Arc<Realm>,
    handle: Arc<SessionHandle>,
    peer: SocketAddr,
    gauge: Gauge,
    joined: bool,
    warnings: LogBudget,
    namespaces: HashMap<String, Namespace>,
    waiting: Option<Waiting>,
    max_message: usize,
    /// Where roomspace secret checks and subscribe checks answer.
    gate: GateSender,
    /// What each check that is out will complete, by token.
    pending: HashMap<u64, Pending>,
    next_token: u64,
    /// Namespaces whose CONNECT waits for the subscribe check.
    connecting: HashSet<String>,
}

/// What a check that is out will complete when it passes.
enum Pending {
    /// `join` of a roomspace room, waiting for its secret ([`super::room_secrets`]).
    Secret {
        namespace: String,
        room: String,
        ack: Option<u64>,
    },
    /// `join` of a room, waiting for the subscribe check.
    Room {
        namespace: String,
        room: String,
        ack: Option<u64>,
    },
    /// A namespace CONNECT, waiting for the subscribe check of the namespace's broadcasts.
    Connect { namespace: String },
}

/// A random Socket.IO / Engine.IO id: 20 URL-safe base64 characters (15 random bytes).
pub fn random_sid() -> String {
    let bytes: [u8; 15] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl SioSession {
    /// Joins the default realm; `None` when the router has none.
    pub fn join(
        router: Arc<Router>,
        outbound: Outbound,
        identity: SioIdentity,
        peer: SocketAddr,
        transport: &'static str,
        max_message: usize,
        gate: GateSender,
    ) -> Option<SioSession> {
        let realm = router.default_realm()?.clone();
        let id = wampd_proto::wamp::id::random_id();
        let handle = Arc::new(SessionHandle {
            id,
            authid: identity.authid.unwrap_or_else(|| format!("anonymous-{id}")),
            authrole: identity.authrole,
            serializer: Serializer::Json,
            v1: false,
            socketio: true,
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
            protocol: "socketio".to_owned(),
            realm: realm.name().to_owned(),
        });
        gauge.inc();
        info!(session = id, realm = realm.name(), authid = %handle.authid, %peer, "Socket.IO client connected");
        Some(SioSession {
            router,
            realm,
            handle,
            peer,
            gauge,
            joined: true,
            warnings: LogBudget::default(),
            namespaces: HashMap::new(),
            waiting: None,
            max_message,
            gate,
            pending: HashMap::new(),
            next_token: 0,
            connecting: HashSet::new(),
        })
    }

    /// The session ID.
    pub fn id(&self) -> Id {
        self.handle.id
    }

    fn send(&self, text: String) {
        let _ = self.handle.send(Frame::Text(text.into()));
    }

    /// Sends a Socket.IO packet (inside an Engine.IO message).
    fn send_packet(&self, packet: &str) {
        self.send(engineio::message(packet));
    }

    /// Logs a warning the client caused, within its budget.
    pub fn warn_budget(&mut self, message: &str) {
        match self.warnings.admit(std::time::Instant::now()) {
            Verdict::Log { suppressed } => {
                warn!(session = self.handle.id, peer = %self.peer, suppressed, "{message}");
            }
            Verdict::Suppress => {
                self.router.metrics().suppressed_log_lines.inc();
            }
        }
    }

    fn actor(&self) -> Actor<'_> {
        Actor {
            realm: &self.realm,
            handle: &self.handle,
            claims: None,
            oro_user: None,
            any_uri: false,
        }
    }

    /// One text frame (an Engine.IO packet).
    pub fn handle_text(&mut self, data: &[u8]) -> Step {
        let Ok(text) = std::str::from_utf8(data) else {
            self.warn_budget("Socket.IO text frame that is not UTF-8 ignored");
            return Step::Continue;
        };
        match engineio::decode(text) {
            Ok(EnginePacket::Message(message)) => self.handle_message(message),
            Ok(EnginePacket::Ping(data)) => {
                // Only the upgrade probe; answered in kind.
                self.send(format!("3{data}"));
            }
            Ok(EnginePacket::Close) => {
                return Step::Close {
                    code: CLOSE_NORMAL,
                    reason: String::new(),
                }
            }
            Ok(EnginePacket::Pong(_) | EnginePacket::Upgrade | EnginePacket::Noop) => {}
            Ok(EnginePacket::Binary(bytes)) => self.handle_binary(bytes),
            Err(err) => self.warn_budget(&format!("Engine.IO packet ignored: {err}")),
        }
        Step::Continue
    }

    /// One binary frame: an attachment of the binary event being received.
    pub fn handle_binary(&mut self, bytes: Vec<u8>) {
        let Some(waiting) = &mut self.waiting else {
            self.warn_budget("Socket.IO attachment without a binary event ignored");
            return;
        };
        let size: usize = waiting.attachments.iter().map(Vec::len).sum::<usize>() + bytes.len();
        if size > self.max_message {
            self.waiting = None;
            self.router.metrics().limit_refused("message_size");
            self.warn_budget("Socket.IO binary event larger than the message size limit dropped");
            return;
        }
        waiting.attachments.push(bytes);
        if waiting.attachments.len() == waiting.packet.attachments {
            if let Some(Waiting {
                mut packet,
                attachments,
            }) = self.waiting.take()
            {
                match packet.fill_attachments(&attachments) {
                    Ok(()) => self.handle_event(packet),
                    Err(err) => self.warn_budget(&format!("Socket.IO binary event dropped: {err}")),
                }
            }
        }
    }

    fn handle_message(&mut self, message: &str) {
        let packet = match packet::decode(message) {
            Ok(packet) => packet,
            Err(err) => {
                self.warn_budget(&format!("Socket.IO packet ignored: {err}"));
                return;
            }
        };
        match packet.kind {
            Kind::Connect => self.connect(&packet.namespace),
            Kind::Disconnect => self.disconnect(&packet.namespace),
            Kind::Event | Kind::BinaryEvent if packet.attachments > 0 => {
                self.waiting = Some(Waiting {
                    packet,
                    attachments: Vec::new(),
                });
            }
            Kind::Event | Kind::BinaryEvent => self.handle_event(packet),
            // The server asks no acknowledgements; a client's are ignored.
            Kind::Ack | Kind::BinaryAck | Kind::ConnectError => {}
        }
    }

    fn held(&self) -> usize {
        self.namespaces
            .values()
            .map(|n| n.subscriptions.len())
            .sum()
    }

    /// The subscribe gate for `prefix` after the local checks: `Ok(None)` to subscribe now,
    /// `Ok(Some(check))` to subscribe once the application's check passes.
    fn gate(&self, prefix: &str) -> Result<Option<CheckFuture>, String> {
        let request = SubscribeRequest {
            topic: prefix,
            policy: MatchPolicy::Prefix,
            held: self.held(),
            get_retained: false,
            recover: None,
        };
        match self.router.op_subscribe_gate(&self.actor(), request) {
            Ok(Gate::Open) => Ok(None),
            Ok(Gate::Refused(why)) => Err(why),
            Ok(Gate::Check(check)) => Ok(Some(check)),
            Err(refusal) => Err(refusal.message),
        }
    }

    /// Sends `check` off the read loop to complete `what`; `false` when too many are out.
    fn check_later(&mut self, check: CheckFuture, what: Pending) -> bool {
        if self.pending.len() >= MAX_PENDING_CHECKS {
            self.router.metrics().limit_refused("pending_checks");
            return false;
        }
        let token = self.next_token;
        self.next_token += 1;
        self.pending.insert(token, what);
        answer_later(&self.gate, token, check);
        true
    }

    /// Subscribes `namespace`'s socket to `prefix` (the local checks run again; the gate, if
    /// any, has passed). `reply`, if any, is queued under the subscription's lock, before any
    /// event the subscription brings (retained ones included).
    fn subscribe_now(
        &mut self,
        namespace: &str,
        prefix: String,
        reply: Option<String>,
    ) -> Result<(), String> {
        let request = SubscribeRequest {
            topic: &prefix,
            policy: MatchPolicy::Prefix,
            held: self.held(),
            get_retained: false,
            recover: None,
        };
        let result = self
            .router
            .op_subscribe(self.actor(), request, |_| {
                reply.map(|packet| Frame::Text(engineio::message(&packet).into()))
            })
            .map_err(|r| r.message)?;
        if let Some(ns) = self.namespaces.get_mut(namespace) {
            ns.subscriptions.insert(prefix, result.subscription);
        }
        Ok(())
    }

    /// A namespace CONNECT: the gate decides on the namespace's broadcasts (an external
    /// subscribe check sees the prefix `socketio.<ns>.all.`); the socket's own room is its
    /// address, under the authorization rules but not the check.
    fn connect(&mut self, namespace: &str) {
        if self.namespaces.contains_key(namespace) || self.connecting.contains(namespace) {
            return;
        }
        if self.namespaces.len() + self.connecting.len() >= MAX_NAMESPACES {
            self.send_packet(&packet::connect_error(
                namespace,
                "too many namespaces on one connection",
            ));
            return;
        }
        match self.gate(&mapping::all_prefix(namespace)) {
            Ok(None) => self.finish_connect(namespace),
            Ok(Some(check)) => {
                let what = Pending::Connect {
                    namespace: namespace.to_owned(),
                };
                if self.check_later(check, what) {
                    self.connecting.insert(namespace.to_owned());
                } else {
                    self.refuse_connect(namespace, "too many checks waiting");
                }
            }
            Err(why) => self.refuse_connect(namespace, &why),
        }
    }

    fn refuse_connect(&mut self, namespace: &str, why: &str) {
        self.send_packet(&packet::connect_error(namespace, why));
        info!(
            session = self.id(),
            namespace, "Socket.IO namespace refused: {why}"
        );
    }

    fn finish_connect(&mut self, namespace: &str) {
        let sid = random_sid();
        self.namespaces.insert(
            namespace.to_owned(),
            Namespace {
                sid: sid.clone(),
                subscriptions: HashMap::new(),
            },
        );
        // The socket's own room first (nobody can address it before CONNECT tells the sid),
        // then the namespace's broadcasts with CONNECT as their reply: the client drops
        // events of a namespace it has not seen CONNECT for, so none may come before it.
        self.router.socketio_sids().insert(&sid, self.id());
        let steps = [
            (mapping::room_prefix(namespace, &sid), None),
            (
                mapping::all_prefix(namespace),
                Some(packet::connected(namespace, &sid)),
            ),
        ];
        for (prefix, reply) in steps {
            if let Err(why) = self.subscribe_now(namespace, prefix, reply) {
                self.leave_namespace(namespace);
                self.refuse_connect(namespace, &why);
                return;
            }
        }
        debug!(session = self.id(), namespace, %sid, "Socket.IO namespace joined");
    }

    fn leave_namespace(&mut self, namespace: &str) {
        if let Some(ns) = self.namespaces.remove(namespace) {
            self.router.socketio_sids().remove(&ns.sid);
            for id in ns.subscriptions.into_values() {
                self.router.op_unsubscribe(self.actor(), id);
            }
        }
    }

    fn disconnect(&mut self, namespace: &str) {
        self.connecting.remove(namespace);
        self.leave_namespace(namespace);
    }

    fn handle_event(&mut self, packet: Packet) {
        if !self.namespaces.contains_key(&packet.namespace) {
            // Socket.IO ignores events for a namespace the socket did not join.
            return;
        }
        let Some((name, args)) = packet.event() else {
            return;
        };
        let (name, args) = (name.to_owned(), args.to_vec());
        let answer = match name.as_str() {
            "join" => self.join_room(&packet.namespace, &args, packet.id),
            "leave" => Some(self.leave_room(&packet.namespace, &args)),
            // Burp-UI's namespace answers `echo` with `reply`.
            "echo" => {
                let reply = packet::event(&packet.namespace, "reply", &args);
                self.send_packet(&reply.text);
                Some(Ok(()))
            }
            _ => Some(self.publish(&packet.namespace, &name, args)),
        };
        // A join waiting for its secret check is answered when the check is.
        if let (Some(id), Some(answer)) = (packet.id, answer) {
            self.acknowledge(&packet.namespace, id, answer);
        }
    }

    /// Answers an emit that asked for it: `[]`, or `[{"error", "message"}]`.
    fn acknowledge(&self, namespace: &str, id: u64, answer: Answer) {
        let reply = match answer {
            Ok(()) => Vec::new(),
            Err((error, message)) => {
                let mut d = Dict::new();
                d.insert("error".into(), Value::Str(error.to_owned()));
                d.insert("message".into(), Value::Str(message));
                vec![Value::Dict(d)]
            }
        };
        self.send_packet(&packet::ack(namespace, id, &reply).text);
    }

    /// A check answered: complete what waited for it.
    pub fn on_gate_done(&mut self, done: GateDone) -> Step {
        let Some(what) = self.pending.remove(&done.token) else {
            return Step::Continue;
        };
        let check = match what {
            Pending::Secret { .. } => "room_secret",
            Pending::Room { .. } | Pending::Connect { .. } => "subscribe",
        };
        self.router
            .metrics()
            .external_check(check, done.outcome.label());
        match what {
            Pending::Secret {
                namespace,
                room,
                ack,
            } => {
                let answer = match done.outcome {
                    Outcome::Allowed(_) => self.subscribe_room(&namespace, &room, ack),
                    Outcome::Denied(why) | Outcome::Failed(why) => {
                        // Silent, as ws-emit is: only a debug line and, if asked for, the ack.
                        debug!(session = self.id(), room, "Socket.IO join refused: {why}");
                        Some(Err((
                            error_uri::NOT_AUTHORIZED,
                            "wrong or missing secret".to_string(),
                        )))
                    }
                };
                if let (Some(id), Some(answer)) = (ack, answer) {
                    self.acknowledge(&namespace, id, answer);
                }
            }
            Pending::Room {
                namespace,
                room,
                ack,
            } => {
                let answer = match check_refusal(&done.outcome) {
                    None => self.finish_room(&namespace, &room),
                    Some(message) => {
                        debug!(
                            session = self.id(),
                            room, "Socket.IO join refused: {message}"
                        );
                        Err((error_uri::NOT_AUTHORIZED, message.to_owned()))
                    }
                };
                if let Some(id) = ack {
                    self.acknowledge(&namespace, id, answer);
                }
            }
            Pending::Connect { namespace } => {
                // A client that gave up on the namespace meanwhile gets nothing.
                if !self.connecting.remove(&namespace) {
                    return Step::Continue;
                }
                match check_refusal(&done.outcome) {
                    None => self.finish_connect(&namespace),
                    Some(message) => self.refuse_connect(&namespace, message),
                }
            }
        }
        Step::Continue
    }

    /// The string `field` of an emit's first argument (`{"room": …, "secret": …}`).
    fn field<'a>(args: &'a [Value], field: &str) -> Option<&'a str> {
        match args.first() {
            Some(Value::Dict(d)) => match d.get(field) {
                Some(Value::Str(s)) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    fn room_of(args: &[Value]) -> Option<String> {
        Self::field(args, "room")
            .filter(|room| !room.is_empty() && room.len() <= MAX_ROOM)
            .map(str::to_owned)
    }

    /// ws-emit's `join {room, secret?}`: public rooms (no `::`) are joined at once; a roomspace
    /// room (`space::name`) once its secret checks out against Redis
    /// ([`super::room_secrets`]), off the read loop. A refusal is silent, as in ws-emit.
    /// `None`: the answer comes when the check does ([`Self::on_gate_done`]).
    fn join_room(&mut self, namespace: &str, args: &[Value], ack: Option<u64>) -> Option<Answer> {
        let Some(room) = Self::room_of(args) else {
            self.warn_budget("Socket.IO join without a room ignored");
            return Some(Err((
                error_uri::INVALID_ARGUMENT,
                "join needs {\"room\": name}".into(),
            )));
        };
        let Some(space) = super::room_secrets::roomspace(&room) else {
            return self.subscribe_room(namespace, &room, ack);
        };
        let Some(secrets) = self.router.room_secrets().cloned() else {
            debug!(
                session = self.id(),
                room, "roomspace join refused: no Redis configured"
            );
            return Some(Err((
                error_uri::NOT_AUTHORIZED,
                "wrong or missing secret".into(),
            )));
        };
        let secret = Self::field(args, "secret").unwrap_or_default().to_owned();
        let space = space.to_owned();
        let check = Box::pin(async move { secrets.check(&space, &secret).await });
        let what = Pending::Secret {
            namespace: namespace.to_owned(),
            room,
            ack,
        };
        if self.check_later(check, what) {
            None
        } else {
            Some(Err(too_many_checks()))
        }
    }

    /// Joins `room` of a connected namespace, after the subscribe gate; `None` when the answer
    /// comes with the application's check ([`Self::on_gate_done`]).
    fn subscribe_room(&mut self, namespace: &str, room: &str, ack: Option<u64>) -> Option<Answer> {
        let prefix = mapping::room_prefix(namespace, room);
        let Some(ns) = self.namespaces.get(namespace) else {
            // The namespace was left meanwhile: nothing to join.
            return Some(Ok(()));
        };
        if ns.subscriptions.contains_key(&prefix) {
            return Some(Ok(()));
        }
        match self.gate(&prefix) {
            Ok(None) => Some(self.finish_room(namespace, room)),
            Ok(Some(check)) => {
                let what = Pending::Room {
                    namespace: namespace.to_owned(),
                    room: room.to_owned(),
                    ack,
                };
                if self.check_later(check, what) {
                    None
                } else {
                    Some(Err(too_many_checks()))
                }
            }
            Err(why) => {
                debug!(session = self.id(), room, "Socket.IO join refused: {why}");
                Some(Err((error_uri::NOT_AUTHORIZED, why)))
            }
        }
    }

    fn finish_room(&mut self, namespace: &str, room: &str) -> Answer {
        if !self.namespaces.contains_key(namespace) {
            return Ok(());
        }
        self.subscribe_now(namespace, mapping::room_prefix(namespace, room), None)
            .map_err(|why| {
                debug!(session = self.id(), room, "Socket.IO join refused: {why}");
                (error_uri::NOT_AUTHORIZED, why)
            })?;
        info!(
            session = self.id(),
            namespace, room, "Socket.IO client joined a room"
        );
        Ok(())
    }

    fn leave_room(&mut self, namespace: &str, args: &[Value]) -> Answer {
        let Some(room) = Self::room_of(args) else {
            return Err((
                error_uri::INVALID_ARGUMENT,
                "leave needs {\"room\": name}".into(),
            ));
        };
        let prefix = mapping::room_prefix(namespace, &room);
        let id = self
            .namespaces
            .get_mut(namespace)
            .and_then(|ns| ns.subscriptions.remove(&prefix));
        if let Some(id) = id {
            self.router.op_unsubscribe(self.actor(), id);
        }
        Ok(())
    }

    fn publish(&mut self, namespace: &str, name: &str, args: Vec<Value>) -> Answer {
        let topic = mapping::client_topic(namespace, name);
        let sid = self
            .namespaces
            .get(namespace)
            .map(|ns| ns.sid.clone())
            .unwrap_or_default();
        let mut kwargs = Dict::new();
        kwargs.insert("sid".into(), Value::Str(sid));
        let request = PublishRequest {
            topic: &topic,
            args: &args,
            kwargs: &kwargs,
            options: &Dict::new(),
            any_topic: false,
            v1_payload: None,
        };
        match self.router.op_publish(self.actor(), request) {
            Ok(_) => Ok(()),
            Err(refusal) => {
                self.warn_budget(&format!(
                    "Socket.IO event {name} refused: {} ({})",
                    refusal.message, refusal.error
                ));
                Err((refusal.error, refusal.message))
            }
        }
    }

    /// Leaves the realm. Idempotent; also run on drop.
    pub fn leave(&mut self) {
        if !std::mem::replace(&mut self.joined, false) {
            return;
        }
        let sids = self.router.socketio_sids();
        let subscriptions: Vec<Id> = self
            .namespaces
            .drain()
            .flat_map(|(_, ns)| {
                sids.remove(&ns.sid);
                ns.subscriptions.into_values()
            })
            .collect();
        self.realm.leave(self.id(), subscriptions);
        self.gauge.dec();
        info!(
            session = self.id(),
            dropped_events = self.handle.outbound.dropped_total(),
            suppressed_warnings = self.warnings.suppressed_total(),
            "Socket.IO client left"
        );
    }
}

/// A check out for this session (a roomspace secret or the subscribe check).
type CheckFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

fn too_many_checks() -> (&'static str, String) {
    (
        error_uri::LIMIT_EXCEEDED,
        format!("{MAX_PENDING_CHECKS} joins are already waiting for their checks"),
    )
}

impl Drop for SioSession {
    fn drop(&mut self) {
        self.leave();
    }
}
