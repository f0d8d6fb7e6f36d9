//! The dealer: remote procedure calls routed from callers to registered callees.
//!
//! CALL → INVOCATION → YIELD or ERROR → RESULT or ERROR, with the Advanced Profile features that
//! matter in practice: pattern-based registrations (resolved exact > longest prefix > wildcard
//! with the longest leading portions), shared registrations (`single`, `roundrobin`, `random`,
//! `first`, `last`), caller identification, progressive call results, progressive call
//! invocations (a caller streaming CALLs with `progress: true` under one request ID becomes one
//! INVOCATION stream at one callee), dealer-side call timeouts or, for callees that register with
//! `forward_timeout`, the timeout forwarded in `INVOCATION.Details.timeout`, and call canceling
//! (`skip`, `kill`, `killnowait` with INTERRUPT).
//!
//! A pending call remembers its caller, so the answer goes back to the right session whichever
//! WAMP version it speaks (a WAMP v1 CALL gets CALLRESULT or CALLERROR). When a callee leaves, its
//! registrations go and its pending calls fail with `wamp.error.canceled` at once, so no caller
//! waits forever. Invocations travel through the callee's bounded outbound queue, so a callee that
//! stops reading cannot grow memory: the call fails with `wamp.error.unavailable` instead. Like the
//! broker, nothing here awaits.
//!
//! In cluster mode a call may cross nodes: when no callee on this node matches as well, the
//! dealer routes it to a node that announced a matching registration ([`remote_procedures`]),
//! through the backplane, and keeps it pending here with that node as its callee
//! ([`Target::Remote`]); the callee's node keeps it pending with this node as its caller
//! ([`Caller::Remote`]). Results, errors, progress and cancels travel as [`RemoteCall`]
//! messages; a node that leaves the cluster fails the calls it was serving
//! ([`Dealer::forget_node`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use tracing::debug;

use crate::router::backplane::{Backplane, CallerIdentity, RemoteCall};
use crate::router::handle::SessionHandle;
use crate::router::outbound::Frame;
use crate::router::passthru::Passthru;
use crate::router::refusal::Refusal;
use crate::router::topic_index::TopicIndex;
use wampd_proto::wamp::message::code;
use wampd_proto::wamp::v1::{self, V1Message};
use wampd_proto::wamp::OptionError;
use wampd_proto::wamp::{codec, error_uri, id, Dict, Id, Limits, MatchPolicy, Message, Value};

/// Who is waiting for a call's answer.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A WAMP v2 session and its CALL request ID.
    V2 {
        /// The calling session.
        session: Arc<SessionHandle>,
        /// `CALL.Request`.
        request: Id,
    },
    /// A WAMP v1 session and its call ID.
    V1 {
        /// The calling session.
        session: Arc<SessionHandle>,
        /// The v1 `callId`.
        call_id: String,
    },
    /// A caller on another node of the cluster, answered through the backplane.
    Remote(RemoteCaller),
}

/// A caller on another node: where its answers go.
#[derive(Debug, Clone)]
pub struct RemoteCaller {
    /// The caller's node.
    pub node: u64,
    /// The call's ID on that node.
    pub call: Id,
    /// The realm of the call.
    pub realm: Arc<str>,
    /// Who called.
    pub identity: CallerIdentity,
    /// The way back.
    pub backplane: Arc<dyn Backplane>,
}

/// The key a node's calls are counted and looked up under where a session ID would be: session
/// IDs are at most 2^53, so a key with the top bit set can never be one.
pub fn remote_key(node: u64) -> Id {
    node | (1 << 63)
}

impl Caller {
    /// The session ID (or [`remote_key`]) the caller's calls are counted under.
    fn key(&self) -> Id {
        match self {
            Caller::V2 { session, .. } | Caller::V1 { session, .. } => session.id,
            Caller::Remote(remote) => remote_key(remote.node),
        }
    }

    /// Calls from this node's sessions count against their pending-call limit; a remote
    /// caller's node enforces it.
    fn is_local(&self) -> bool {
        !matches!(self, Caller::Remote(_))
    }

    fn request(&self) -> Option<Id> {
        match self {
            Caller::V2 { request, .. } => Some(*request),
            Caller::V1 { .. } => None,
            Caller::Remote(remote) => Some(remote.call),
        }
    }

    /// Who called, to disclose.
    fn identity(&self) -> CallerIdentity {
        match self {
            Caller::V2 { session, .. } | Caller::V1 { session, .. } => CallerIdentity {
                session: session.id,
                authid: session.authid.clone(),
                authrole: session.authrole.clone(),
            },
            Caller::Remote(remote) => remote.identity.clone(),
        }
    }

    /// Sends a (possibly progressive) result.
    pub fn result(&self, answer: Answer, progress: bool) {
        let Answer {
            args,
            kwargs,
            passthru,
        } = answer;
        match self {
            Caller::Remote(remote) => {
                let message = RemoteCall::Result {
                    call: remote.call,
                    args,
                    kwargs,
                    progress,
                    passthru,
                };
                remote.answer(&message);
            }
            Caller::V2 { session, request } => {
                let mut details = Dict::new();
                if progress {
                    details.insert("progress".into(), Value::Bool(true));
                }
                if let Some(passthru) = &passthru {
                    passthru.insert_into(&mut details);
                }
                send_v2(
                    session,
                    &Message::Result {
                        request: *request,
                        details,
                        args,
                        kwargs,
                    },
                );
            }
            Caller::V1 { session, call_id } => {
                if progress {
                    return; // WAMP v1 has no progressive results
                }
                let result = v1::bridge_v2_to_v1(&args, &kwargs);
                let text = v1::encode(&V1Message::CallResult {
                    call_id: call_id.clone(),
                    result,
                });
                let _ = session.send(Frame::Text(text.into()));
            }
        }
    }

    /// Sends the call's error.
    pub fn error(&self, error: &str, message: &str, args: Vec<Value>, kwargs: Dict) {
        self.error_with(
            error,
            message,
            Answer {
                args,
                kwargs,
                passthru: None,
            },
        );
    }

    /// Sends the call's error, with the callee's error payload (passthru attributes included).
    pub fn error_with(&self, error: &str, message: &str, answer: Answer) {
        let Answer {
            args,
            kwargs,
            passthru,
        } = answer;
        match self {
            Caller::Remote(remote) => {
                let message = RemoteCall::Error {
                    call: remote.call,
                    error: error.to_owned(),
                    message: message.to_owned(),
                    args,
                    kwargs,
                    passthru,
                };
                remote.answer(&message);
            }
            Caller::V2 { session, request } => {
                let args = if args.is_empty() && kwargs.is_empty() {
                    vec![Value::from(message)]
                } else {
                    args
                };
                let mut details = Dict::new();
                if let Some(passthru) = &passthru {
                    passthru.insert_into(&mut details);
                }
                send_v2(
                    session,
                    &Message::Error {
                        request_type: code::CALL,
                        request: *request,
                        details,
                        error: error.to_owned(),
                        args,
                        kwargs,
                    },
                );
            }
            Caller::V1 { session, call_id } => {
                let details = (!args.is_empty() || !kwargs.is_empty())
                    .then(|| v1::bridge_v2_to_v1(&args, &kwargs));
                let text = v1::encode(&V1Message::CallError {
                    call_id: call_id.clone(),
                    error_uri: error.to_owned(),
                    desc: message.to_owned(),
                    details,
                });
                let _ = session.send(Frame::Text(text.into()));
            }
        }
    }
}

/// What a callee answered: its payload and, in payload passthru mode, the attributes that
/// travel with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// Positional results.
    pub args: Vec<Value>,
    /// Keyword results.
    pub kwargs: Dict,
    /// Payload passthru attributes ([`crate::router::passthru`]).
    pub passthru: Option<Passthru>,
}

impl Answer {
    /// An ordinary answer.
    pub fn new(args: Vec<Value>, kwargs: Dict) -> Answer {
        Answer {
            args,
            kwargs,
            passthru: None,
        }
    }
}

impl RemoteCaller {
    fn answer(&self, message: &RemoteCall) {
        if !self.backplane.send_call(self.node, &self.realm, message) {
            debug!(
                node = self.node,
                call = self.call,
                "the answer to a call from another node could not be queued"
            );
        }
    }
}

fn send_v2(session: &SessionHandle, message: &Message) -> bool {
    let frame = Frame::from_encoded(
        session.serializer,
        codec::encode(session.serializer, message),
    );
    session.send(frame).is_ok()
}

/// How a shared registration picks its callee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokePolicy {
    /// One callee only (the default).
    Single,
    /// Each callee in turn.
    RoundRobin,
    /// A random callee.
    Random,
    /// The callee that registered first.
    First,
    /// The callee that registered last.
    Last,
}

impl InvokePolicy {
    /// The policy's name in `REGISTER.Options.invoke`.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }

    /// Parses `REGISTER.Options.invoke`.
    pub fn from_options(options: &Dict) -> Result<InvokePolicy, OptionError> {
        match options.get("invoke").map(|v| v.as_str()) {
            None | Some(Some("single")) => Ok(InvokePolicy::Single),
            Some(Some("roundrobin")) => Ok(InvokePolicy::RoundRobin),
            Some(Some("random")) => Ok(InvokePolicy::Random),
            Some(Some("first")) => Ok(InvokePolicy::First),
            Some(Some("last")) => Ok(InvokePolicy::Last),
            _ => Err(OptionError::invalid(
                "invoke",
                "single, roundrobin, random, first or last",
            )),
        }
    }
}

/// How a CANCEL treats the callee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMode {
    /// Answer the caller now; leave the callee alone (its answer is dropped).
    Skip,
    /// INTERRUPT the callee and forward its answer (an ERROR) to the caller.
    Kill,
    /// INTERRUPT the callee and answer the caller now.
    KillNoWait,
}

impl CancelMode {
    /// Parses `CANCEL.Options.mode` (default `kill`, as Crossbar does).
    pub fn from_options(options: &Dict) -> Result<CancelMode, OptionError> {
        match options.get("mode").map(|v| v.as_str()) {
            None | Some(Some("kill")) => Ok(CancelMode::Kill),
            Some(Some("skip")) => Ok(CancelMode::Skip),
            Some(Some("killnowait")) => Ok(CancelMode::KillNoWait),
            _ => Err(OptionError::invalid("mode", "skip, kill or killnowait")),
        }
    }

    /// The mode's name in `CANCEL.Options.mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }
}

#[derive(Debug)]
struct Callee {
    session: Arc<SessionHandle>,
    disclose_caller: bool,
    forward_timeout: bool,
}

#[derive(Debug)]
struct Registration {
    id: Id,
    procedure: String,
    policy: MatchPolicy,
    invoke: InvokePolicy,
    callees: Vec<Callee>,
    next: usize,
}

/// Who serves a pending call.
#[derive(Debug, Clone)]
enum Target {
    /// A session on this node.
    Local(Arc<SessionHandle>),
    /// A callee on another node (the call is pending there too).
    Remote {
        /// That node.
        node: u64,
    },
}

impl Target {
    /// The session ID (or [`remote_key`]) invocations are counted and answers checked under.
    fn key(&self) -> Id {
        match self {
            Target::Local(session) => session.id,
            Target::Remote { node } => remote_key(*node),
        }
    }

    /// Whether a CANCEL may interrupt it: a local callee that announced `call_canceling`; a
    /// remote node always takes the CANCEL and decides there.
    fn interruptible(&self) -> bool {
        match self {
            Target::Local(session) => session.interruptible,
            Target::Remote { .. } => true,
        }
    }
}

/// What the dealer needs in cluster mode: the backplane and the realm it serves.
#[derive(Debug, Clone)]
struct Cluster {
    backplane: Arc<dyn Backplane>,
    realm: Arc<str>,
}

#[derive(Debug)]
struct Pending {
    caller: Caller,
    callee: Target,
    registration: Id,
    receive_progress: bool,
    /// The caller's last CALL had `progress: true`: more CALLs of this invocation may follow.
    streaming: bool,
    /// Set by a `kill` CANCEL: the callee's answer becomes the cancellation.
    canceled: bool,
    /// When the dealer answers `wamp.error.timeout` on the callee's behalf.
    deadline: Option<Instant>,
}

fn fail(error: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::new(error, message)
}

/// A registration request.
#[derive(Debug, Clone, Copy)]
pub struct RegisterRequest<'a> {
    /// The procedure or pattern.
    pub procedure: &'a str,
    /// How it matches.
    pub policy: MatchPolicy,
    /// Shared-registration policy.
    pub invoke: InvokePolicy,
    /// Disclose callers to this callee whatever they ask.
    pub disclose_caller: bool,
    /// `REGISTER.Options.forward_timeout`: the callee enforces call timeouts itself.
    pub forward_timeout: bool,
}

/// A call request.
#[derive(Debug)]
pub struct CallRequest {
    /// The procedure called.
    pub procedure: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Dict,
    /// `CALL.Options.receive_progress`.
    pub receive_progress: bool,
    /// `CALL.Options.disclose_me`.
    pub disclose_me: bool,
    /// `CALL.Options.progress`: more CALLs with this request ID follow (progressive call
    /// invocations).
    pub progress: bool,
    /// `CALL.Options.timeout` after the ceiling; forwarded to `forward_timeout` callees.
    pub timeout: Option<std::time::Duration>,
    /// Payload passthru attributes, for the INVOCATION ([`crate::router::passthru`]).
    pub passthru: Option<Passthru>,
}

/// Registrations and calls in flight for one realm.
#[derive(Debug, Default)]
pub struct Dealer {
    index: TopicIndex<Id>,
    registrations: HashMap<Id, Registration>,
    pending: HashMap<Id, Pending>,
    /// `(caller session, CALL.Request)` → invocation, for CANCEL.
    by_call: HashMap<(Id, Id), Id>,
    /// Calls waiting for an answer, per caller session.
    calls_by_caller: HashMap<Id, usize>,
    /// Invocations waiting for their answer, per callee session.
    invocations_by_callee: HashMap<Id, usize>,
    /// Every call deadline, earliest first: one structure for the whole realm, entries removed
    /// when their call ends, so a finished call leaves no timer behind.
    deadlines: BTreeSet<(Instant, Id)>,
    next_invocation: Id,
    /// Cluster mode only: the backplane, and the procedures other nodes announced.
    cluster: Option<Cluster>,
    remote: RemoteProcedures,
}

/// A caller's node waits this much longer than a call's timeout for a remote node's answer, so
/// the callee's node (which enforces the timeout, or forwards it) answers first.
const REMOTE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Where a call goes.
enum Route {
    Local(Id),
    Remote(u64),
}

/// How well a registration's policy matches: exact before prefix before wildcard.
fn rank(policy: MatchPolicy) -> u8 {
    match policy {
        MatchPolicy::Exact => 0,
        MatchPolicy::Prefix => 1,
        MatchPolicy::Wildcard => 2,
    }
}

/// The registration a call to `procedure` goes to among those in `index` (`pattern` gives a
/// registration's procedure or pattern): exact, else the longest prefix, else the wildcard
/// with the longest leading portions.
pub(crate) fn best_match<'a>(
    index: &TopicIndex<Id>,
    procedure: &str,
    pattern: impl Fn(Id) -> Option<&'a str>,
) -> Option<(Id, MatchPolicy)> {
    let mut exact = None;
    let mut prefix: Option<(usize, Id)> = None;
    let mut wildcard: Option<(Vec<bool>, Id)> = None;
    index.for_each_match(procedure, |id, policy| {
        let Some(registered) = pattern(id) else {
            return;
        };
        match policy {
            MatchPolicy::Exact => exact = Some(id),
            MatchPolicy::Prefix => {
                let len = registered.len();
                if prefix.is_none_or(|(best, _)| len > best) {
                    prefix = Some((len, id));
                }
            }
            MatchPolicy::Wildcard => {
                // Non-empty components earlier in the pattern win.
                let key: Vec<bool> = registered.split('.').map(|c| !c.is_empty()).collect();
                if wildcard.as_ref().is_none_or(|(best, _)| key > *best) {
                    wildcard = Some((key, id));
                }
            }
        }
    });
    exact
        .map(|id| (id, MatchPolicy::Exact))
        .or(prefix.map(|(_, id)| (id, MatchPolicy::Prefix)))
        .or(wildcard.map(|(_, id)| (id, MatchPolicy::Wildcard)))
}

/// The realm's next invocation ID (sequential, as the spec's router scope allows).
fn next_invocation_id(last: &mut Id) -> Id {
    *last = if *last >= id::MAX_ID { 1 } else { *last + 1 };
    *last
}

fn count_up(counts: &mut HashMap<Id, usize>, key: Id) {
    *counts.entry(key).or_default() += 1;
}

fn count_down(counts: &mut HashMap<Id, usize>, key: Id) {
    if let Some(n) = counts.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&key);
        }
    }
}

impl Dealer {
    /// Registers `callee`; joins an existing shared registration with the same policy. Returns
    /// the registration ID and whether this request created it.
    pub fn register(
        &mut self,
        callee: &Arc<SessionHandle>,
        request: RegisterRequest<'_>,
    ) -> Result<(Id, bool), Refusal> {
        let entry = Callee {
            session: callee.clone(),
            disclose_caller: request.disclose_caller,
            forward_timeout: request.forward_timeout,
        };
        if let Some(existing) = self.index.get(request.procedure, request.policy) {
            let Some(registration) = self.registrations.get_mut(&existing) else {
                return Err(fail(error_uri::PROCEDURE_ALREADY_EXISTS, "inconsistent"));
            };
            if registration.invoke != request.invoke {
                return Err(fail(
                    error_uri::PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,
                    format!(
                        "procedure \"{}\" is registered with another invocation policy",
                        request.procedure
                    ),
                ));
            }
            if request.invoke == InvokePolicy::Single
                || registration
                    .callees
                    .iter()
                    .any(|c| c.session.id == callee.id)
            {
                return Err(fail(
                    error_uri::PROCEDURE_ALREADY_EXISTS,
                    format!("procedure \"{}\" is already registered", request.procedure),
                ));
            }
            registration.callees.push(entry);
            return Ok((existing, false));
        }
        let mut registration = id::random_id();
        while self.registrations.contains_key(&registration) {
            registration = id::random_id();
        }
        self.index
            .insert(request.procedure, request.policy, registration);
        self.announce();
        self.registrations.insert(
            registration,
            Registration {
                id: registration,
                procedure: request.procedure.to_owned(),
                policy: request.policy,
                invoke: request.invoke,
                callees: vec![entry],
                next: 0,
            },
        );
        Ok((registration, true))
    }

    /// Removes `callee` from registration `registration`; the registration goes with its last
    /// callee (then `Ok(true)`).
    pub fn unregister(&mut self, callee: Id, registration: Id) -> Result<bool, Refusal> {
        let Some(entry) = self.registrations.get_mut(&registration) else {
            return Err(fail(
                error_uri::NO_SUCH_REGISTRATION,
                "no such registration",
            ));
        };
        let before = entry.callees.len();
        entry.callees.retain(|c| c.session.id != callee);
        if entry.callees.len() == before {
            return Err(fail(
                error_uri::NO_SUCH_REGISTRATION,
                "this session has no such registration",
            ));
        }
        let deleted = entry.callees.is_empty();
        if deleted {
            self.drop_registration(registration);
        }
        Ok(deleted)
    }

    fn drop_registration(&mut self, registration: Id) {
        if let Some(entry) = self.registrations.remove(&registration) {
            self.index.remove(&entry.procedure, entry.policy);
            self.announce();
        }
    }

    /// Tells the backplane this node's set of procedures changed (cluster mode).
    fn announce(&self) {
        if let Some(cluster) = &self.cluster {
            cluster.backplane.procedures_changed();
        }
    }

    /// Makes this the dealer of realm `realm` on a cluster node: calls may go to other nodes'
    /// callees, and this node's registrations are announced through `backplane`.
    pub fn join_cluster(&mut self, backplane: Arc<dyn Backplane>, realm: &str) {
        self.cluster = Some(Cluster {
            backplane,
            realm: Arc::from(realm),
        });
    }

    /// This node's registrations, as other nodes are to learn them.
    pub fn local_procedures(&self) -> Vec<RemoteProcedure> {
        self.registrations
            .values()
            .map(|r| RemoteProcedure {
                procedure: r.procedure.clone(),
                policy: r.policy,
                invoke: r.invoke,
            })
            .collect()
    }

    /// What `node` announced for this realm, replacing what it announced before.
    pub fn set_remote_procedures(&mut self, node: u64, procedures: Vec<RemoteProcedure>) {
        self.remote.set_node(node, procedures);
    }

    /// The nodes whose procedures this dealer routes to, and those with calls pending here.
    pub fn remote_nodes(&self) -> Vec<u64> {
        let mut nodes = self.remote.nodes();
        for pending in self.pending.values() {
            let node = match (&pending.callee, &pending.caller) {
                (Target::Remote { node }, _) | (_, Caller::Remote(RemoteCaller { node, .. })) => {
                    *node
                }
                _ => continue,
            };
            if !nodes.contains(&node) {
                nodes.push(node);
            }
        }
        nodes
    }

    /// `node` left the cluster: its procedures are forgotten, the calls it was serving fail
    /// with `wamp.error.canceled`, and the calls it made are interrupted at their callees.
    pub fn forget_node(&mut self, node: u64) {
        self.remote.set_node(node, Vec::new());
        let key = remote_key(node);
        let orphaned: Vec<Id> = self
            .pending
            .iter()
            .filter(|(_, p)| p.callee.key() == key || p.caller.key() == key)
            .map(|(id, _)| *id)
            .collect();
        for invocation in orphaned {
            let Some(pending) = self.finish(invocation) else {
                continue;
            };
            if pending.callee.key() == key {
                pending.caller.error(
                    error_uri::CANCELED,
                    "the callee's node left the cluster before answering",
                    Vec::new(),
                    Dict::new(),
                );
            } else {
                self.interrupt(&pending.callee, invocation, CancelMode::KillNoWait, None);
            }
        }
    }

    /// The registration on this node a call to `procedure` goes to, and how it matches.
    fn resolve_local(&self, procedure: &str) -> Option<(Id, MatchPolicy)> {
        best_match(&self.index, procedure, |id| {
            self.registrations.get(&id).map(|r| r.procedure.as_str())
        })
    }

    /// The registration on this node a call to `procedure` goes to.
    fn resolve(&self, procedure: &str) -> Option<Id> {
        self.resolve_local(procedure).map(|(id, _)| id)
    }

    /// Where a call to `procedure` goes: this node's best match, unless another node announced
    /// a better one (exact over prefix over wildcard); among equals, this node.
    fn route(&mut self, procedure: &str) -> Option<Route> {
        let local = self.resolve_local(procedure);
        if self.cluster.is_some() {
            let better =
                |policy: MatchPolicy| local.is_none_or(|(_, mine)| rank(policy) < rank(mine));
            if let Some(node) = self.remote.route(procedure, better) {
                return Some(Route::Remote(node));
            }
        }
        local.map(|(id, _)| Route::Local(id))
    }

    /// Routes a call to a callee as an INVOCATION; returns the invocation ID. Refused when the
    /// caller reuses the request ID of a call still in flight (a protocol violation: it could no
    /// longer cancel the earlier one), has `limits.max_pending_calls` calls waiting, or the
    /// callee has `limits.max_pending_invocations`. At `deadline` the caller gets
    /// `wamp.error.timeout` (see [`Dealer::expire`]).
    pub fn call(
        &mut self,
        caller: Caller,
        call: CallRequest,
        limits: &Limits,
        deadline: Option<Instant>,
    ) -> Result<Id, Refusal> {
        let caller_id = caller.key();
        if let Some(request) = caller.request() {
            if let Some(&invocation) = self.by_call.get(&(caller_id, request)) {
                return self.continue_call(invocation, call);
            }
        }
        if caller.is_local()
            && self.calls_by_caller.get(&caller_id).copied().unwrap_or(0)
                >= limits.max_pending_calls
        {
            return Err(fail(
                error_uri::LIMIT_EXCEEDED,
                format!(
                    "this session already has {} calls in flight (the limit)",
                    limits.max_pending_calls
                ),
            ));
        }
        // A call from another node is served here or not at all: passing it on could loop
        // between nodes whose views of each other's procedures differ for a moment.
        let route = if caller.is_local() {
            self.route(&call.procedure)
        } else {
            self.resolve(&call.procedure).map(Route::Local)
        };
        let registration_id = match route {
            Some(Route::Local(id)) => id,
            Some(Route::Remote(node)) => return self.call_remote(caller, call, node, deadline),
            None => {
                return Err(fail(
                    error_uri::NO_SUCH_PROCEDURE,
                    format!("no callee registered for procedure \"{}\"", call.procedure),
                ))
            }
        };
        let Some(registration) = self.registrations.get_mut(&registration_id) else {
            return Err(fail(error_uri::NO_SUCH_PROCEDURE, "registration vanished"));
        };
        let count = registration.callees.len();
        let index = match registration.invoke {
            InvokePolicy::Single | InvokePolicy::First => 0,
            InvokePolicy::Last => count.saturating_sub(1),
            InvokePolicy::Random => rand::rng().random_range(0..count.max(1)),
            InvokePolicy::RoundRobin => {
                let i = registration.next % count.max(1);
                registration.next = (i + 1) % count.max(1);
                i
            }
        };
        let Some(callee) = registration.callees.get(index) else {
            return Err(fail(error_uri::NO_SUCH_PROCEDURE, "no callee"));
        };
        if self
            .invocations_by_callee
            .get(&callee.session.id)
            .copied()
            .unwrap_or(0)
            >= limits.max_pending_invocations
        {
            return Err(fail(
                error_uri::UNAVAILABLE,
                format!(
                    "the callee of \"{}\" has too many calls in flight",
                    call.procedure
                ),
            ));
        }
        let mut details = Dict::new();
        if registration.policy != MatchPolicy::Exact {
            details.insert("procedure".into(), Value::Str(call.procedure.clone()));
        }
        if call.progress {
            if !callee.session.progressive_invocations {
                return Err(fail(
                    error_uri::FEATURE_NOT_SUPPORTED,
                    format!(
                        "the callee of \"{}\" does not accept progressive call invocations",
                        call.procedure
                    ),
                ));
            }
            details.insert("progress".into(), Value::Bool(true));
        }
        if call.receive_progress {
            details.insert("receive_progress".into(), Value::Bool(true));
        }
        if let Some(passthru) = &call.passthru {
            if !callee.session.passthru {
                return Err(fail(
                    error_uri::FEATURE_NOT_SUPPORTED,
                    format!(
                        "the callee of \"{}\" does not take payload passthru",
                        call.procedure
                    ),
                ));
            }
            passthru.insert_into(&mut details);
        }
        // A callee that registered with forward_timeout enforces the timeout; the dealer does not.
        let deadline = match call.timeout {
            Some(timeout) if callee.forward_timeout => {
                let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                details.insert("timeout".into(), Value::UInt(ms));
                None
            }
            _ => deadline,
        };
        if call.disclose_me || callee.disclose_caller {
            let who = caller.identity();
            details.insert("caller".into(), Value::UInt(who.session));
            details.insert("caller_authid".into(), Value::Str(who.authid));
            details.insert("caller_authrole".into(), Value::Str(who.authrole));
        }
        let invocation = next_invocation_id(&mut self.next_invocation);
        let message = Message::Invocation {
            request: invocation,
            registration: registration.id,
            details,
            args: call.args,
            kwargs: call.kwargs,
        };
        let callee = callee.session.clone();
        if !send_v2(&callee, &message) {
            return Err(fail(
                error_uri::UNAVAILABLE,
                format!("the callee of \"{}\" is not keeping up", call.procedure),
            ));
        }
        self.track(
            invocation,
            Pending {
                caller,
                callee: Target::Local(callee),
                registration: registration_id,
                receive_progress: call.receive_progress,
                streaming: call.progress,
                canceled: false,
                deadline,
            },
        );
        Ok(invocation)
    }

    /// Records a call that was sent on: for CANCEL, the limits and the deadline.
    fn track(&mut self, invocation: Id, pending: Pending) {
        let caller = pending.caller.key();
        if let Some(request) = pending.caller.request() {
            self.by_call.insert((caller, request), invocation);
        }
        count_up(&mut self.calls_by_caller, caller);
        count_up(&mut self.invocations_by_callee, pending.callee.key());
        if let Some(deadline) = pending.deadline {
            self.deadlines.insert((deadline, invocation));
        }
        self.pending.insert(invocation, pending);
    }

    /// Sends a call to `node`, whose callee answers through the backplane; the call is pending
    /// here as it would be for a local callee. The callee's node enforces the timeout (or
    /// forwards it); this node answers `wamp.error.timeout` only [`REMOTE_GRACE`] later, for a
    /// node that went silent.
    fn call_remote(
        &mut self,
        caller: Caller,
        call: CallRequest,
        node: u64,
        deadline: Option<Instant>,
    ) -> Result<Id, Refusal> {
        let Some(cluster) = self.cluster.clone() else {
            return Err(fail(error_uri::NO_SUCH_PROCEDURE, "no cluster"));
        };
        let invocation = next_invocation_id(&mut self.next_invocation);
        let message = RemoteCall::Call {
            call: invocation,
            procedure: call.procedure.clone(),
            args: call.args,
            kwargs: call.kwargs,
            receive_progress: call.receive_progress,
            progress: call.progress,
            timeout_ms: call
                .timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            caller: caller.identity(),
            disclose_me: call.disclose_me,
            passthru: call.passthru,
        };
        if !cluster.backplane.send_call(node, &cluster.realm, &message) {
            return Err(fail(
                error_uri::UNAVAILABLE,
                format!(
                    "the callee of \"{}\" is on another node, which cannot be reached now",
                    call.procedure
                ),
            ));
        }
        self.track(
            invocation,
            Pending {
                caller,
                callee: Target::Remote { node },
                registration: 0,
                receive_progress: call.receive_progress,
                streaming: call.progress,
                canceled: false,
                deadline: deadline.map(|d| d + REMOTE_GRACE),
            },
        );
        Ok(invocation)
    }

    /// A further CALL under the request ID of a call in flight: the next INVOCATION of a
    /// progressive call invocation, at the same callee with the same invocation ID (`progress`
    /// kept while the caller says more follows). After the caller's final CALL, or for a call that
    /// was not progressive, reusing the request ID is a protocol violation: the caller could no
    /// longer tell the answers apart.
    fn continue_call(&mut self, invocation: Id, call: CallRequest) -> Result<Id, Refusal> {
        let Some(pending) = self.pending.get_mut(&invocation) else {
            return Err(fail(
                error_uri::PROTOCOL_VIOLATION,
                "inconsistent call state",
            ));
        };
        if !pending.streaming || pending.canceled {
            return Err(fail(
                error_uri::PROTOCOL_VIOLATION,
                "CALL request ID is already used by a call in flight",
            ));
        }
        pending.streaming = call.progress;
        let sent = match &pending.callee {
            Target::Local(callee) => {
                let mut details = Dict::new();
                if call.progress {
                    details.insert("progress".into(), Value::Bool(true));
                }
                if let Some(passthru) = &call.passthru {
                    passthru.insert_into(&mut details);
                }
                let message = Message::Invocation {
                    request: invocation,
                    registration: pending.registration,
                    details,
                    args: call.args,
                    kwargs: call.kwargs,
                };
                send_v2(callee, &message)
            }
            Target::Remote { node } => {
                let message = RemoteCall::Call {
                    call: invocation,
                    procedure: call.procedure.clone(),
                    args: call.args,
                    kwargs: call.kwargs,
                    receive_progress: pending.receive_progress,
                    progress: call.progress,
                    timeout_ms: None,
                    caller: pending.caller.identity(),
                    disclose_me: call.disclose_me,
                    passthru: call.passthru,
                };
                self.cluster
                    .as_ref()
                    .is_some_and(|c| c.backplane.send_call(*node, &c.realm, &message))
            }
        };
        if sent {
            return Ok(invocation);
        }
        // The callee stopped reading: the stream cannot go on.
        if let Some(pending) = self.finish(invocation) {
            self.interrupt(&pending.callee, invocation, CancelMode::KillNoWait, None);
        }
        Err(fail(
            error_uri::UNAVAILABLE,
            format!("the callee of \"{}\" is not keeping up", call.procedure),
        ))
    }

    fn finish(&mut self, invocation: Id) -> Option<Pending> {
        let pending = self.pending.remove(&invocation)?;
        let caller = pending.caller.key();
        if let Some(request) = pending.caller.request() {
            self.by_call.remove(&(caller, request));
        }
        count_down(&mut self.calls_by_caller, caller);
        count_down(&mut self.invocations_by_callee, pending.callee.key());
        if let Some(deadline) = pending.deadline {
            self.deadlines.remove(&(deadline, invocation));
        }
        Some(pending)
    }

    /// Times out every call whose deadline is at or before `now`; returns the next deadline.
    pub fn expire(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&(deadline, invocation)) = self.deadlines.first() {
            if deadline > now {
                return Some(deadline);
            }
            self.deadlines.pop_first();
            self.timeout(invocation);
        }
        None
    }

    /// Calls waiting for an answer, across the realm.
    #[cfg(test)]
    pub fn pending_calls(&self) -> usize {
        self.pending.len()
    }

    /// Deadlines still armed, across the realm (one per pending call that has a timeout).
    #[cfg(test)]
    pub fn armed_deadlines(&self) -> usize {
        self.deadlines.len()
    }

    /// A callee's YIELD (`callee`: the session, or [`remote_key`] of the node that answers for
    /// its callee). Progressive results go through while the call stays open; unknown
    /// invocations (the caller left or canceled) are ignored.
    pub fn yield_result(&mut self, callee: Id, invocation: Id, answer: Answer, progress: bool) {
        let Some(pending) = self.pending.get(&invocation) else {
            return;
        };
        if pending.callee.key() != callee {
            return;
        }
        if progress {
            if pending.receive_progress && !pending.canceled {
                pending.caller.result(answer, true);
            }
            return;
        }
        // After a `kill` CANCEL the callee may still finish: its result goes through.
        if let Some(pending) = self.finish(invocation) {
            pending.caller.result(answer, false);
        }
    }

    /// A callee's ERROR for an INVOCATION (`callee` as for [`Dealer::yield_result`]): the error
    /// goes to the caller, with `message` for callers that get no arguments otherwise.
    pub fn yield_error(
        &mut self,
        callee: Id,
        invocation: Id,
        error: &str,
        message: &str,
        answer: Answer,
    ) {
        if self
            .pending
            .get(&invocation)
            .is_some_and(|p| p.callee.key() == callee)
        {
            if let Some(pending) = self.finish(invocation) {
                pending.caller.error_with(error, message, answer);
            }
        }
    }

    /// Tells the callee a call is over: INTERRUPT to a local callee that announced
    /// `call_canceling`, a CANCEL to a remote callee's node.
    fn interrupt(&self, callee: &Target, invocation: Id, mode: CancelMode, reason: Option<&str>) {
        match callee {
            Target::Local(session) => {
                let _ = Self::interrupt_session(session, invocation, mode, reason);
            }
            Target::Remote { node } => {
                if let Some(cluster) = &self.cluster {
                    let message = RemoteCall::Cancel {
                        call: invocation,
                        mode,
                    };
                    let _ = cluster.backplane.send_call(*node, &cluster.realm, &message);
                }
            }
        }
    }

    /// Sends INTERRUPT, to callees that announced `call_canceling` only. Returns whether it was
    /// sent.
    fn interrupt_session(
        callee: &SessionHandle,
        invocation: Id,
        mode: CancelMode,
        reason: Option<&str>,
    ) -> bool {
        if !callee.interruptible {
            return false;
        }
        let mut options = Dict::new();
        options.insert("mode".into(), Value::from(mode.as_str()));
        if let Some(reason) = reason {
            options.insert("reason".into(), Value::from(reason));
        }
        send_v2(
            callee,
            &Message::Interrupt {
                request: invocation,
                options,
            },
        )
    }

    /// A caller's CANCEL for its call `request`. A callee that did not announce `call_canceling`
    /// cannot be interrupted, so every mode then acts as `skip` (as the spec says).
    pub fn cancel(&mut self, caller: Id, request: Id, mode: CancelMode) {
        let Some(&invocation) = self.by_call.get(&(caller, request)) else {
            return; // already answered
        };
        let interruptible = self
            .pending
            .get(&invocation)
            .is_some_and(|p| p.callee.interruptible());
        let mode = if interruptible {
            mode
        } else {
            CancelMode::Skip
        };
        match mode {
            CancelMode::Skip | CancelMode::KillNoWait => {
                if let Some(pending) = self.finish(invocation) {
                    // A remote node is told either way, so it stops waiting for its callee.
                    if mode == CancelMode::KillNoWait
                        || matches!(pending.callee, Target::Remote { .. })
                    {
                        self.interrupt(&pending.callee, invocation, mode, None);
                    }
                    pending.caller.error(
                        error_uri::CANCELED,
                        "the call was canceled",
                        Vec::new(),
                        Dict::new(),
                    );
                }
            }
            CancelMode::Kill => {
                let callee = match self.pending.get_mut(&invocation) {
                    Some(pending) if !pending.canceled => {
                        pending.canceled = true;
                        pending.callee.clone()
                    }
                    _ => return,
                };
                self.interrupt(&callee, invocation, mode, None);
            }
        }
    }

    /// The dealer-side timer of a call expired: the caller gets `wamp.error.timeout` and the
    /// callee an INTERRUPT.
    pub fn timeout(&mut self, invocation: Id) {
        if let Some(pending) = self.finish(invocation) {
            self.interrupt(
                &pending.callee,
                invocation,
                CancelMode::KillNoWait,
                Some(error_uri::TIMEOUT),
            );
            pending.caller.error(
                error_uri::TIMEOUT,
                "the call timed out",
                Vec::new(),
                Dict::new(),
            );
        }
    }

    /// A session left: its registrations go, calls it was serving fail with
    /// `wamp.error.canceled`, and calls it was waiting for are interrupted at their callees.
    /// Returns the registrations it left and whether each was deleted.
    pub fn remove_session(&mut self, session: Id) -> Vec<(Id, bool)> {
        let touched: Vec<Id> = self
            .registrations
            .values()
            .filter(|r| r.callees.iter().any(|c| c.session.id == session))
            .map(|r| r.id)
            .collect();
        let mut left = Vec::with_capacity(touched.len());
        for registration in touched {
            if let Ok(deleted) = self.unregister(session, registration) {
                left.push((registration, deleted));
            }
        }
        let orphaned: Vec<Id> = self
            .pending
            .iter()
            .filter(|(_, p)| p.callee.key() == session || p.caller.key() == session)
            .map(|(id, _)| *id)
            .collect();
        for invocation in orphaned {
            let Some(pending) = self.finish(invocation) else {
                continue;
            };
            if pending.callee.key() == session {
                if pending.caller.key() != session {
                    pending.caller.error(
                        error_uri::CANCELED,
                        "the callee left before answering",
                        Vec::new(),
                        Dict::new(),
                    );
                }
            } else {
                self.interrupt(&pending.callee, invocation, CancelMode::KillNoWait, None);
            }
        }
        left
    }

    /// The registration a call to `procedure` would reach.
    pub fn resolve_id(&self, procedure: &str) -> Option<Id> {
        self.resolve(procedure)
    }

    /// `(id, procedure, match policy, callee session IDs)` of every registration, for the
    /// registration meta API.
    pub fn registrations(&self) -> Vec<(Id, String, MatchPolicy, Vec<Id>)> {
        self.registrations
            .values()
            .map(|r| {
                (
                    r.id,
                    r.procedure.clone(),
                    r.policy,
                    r.callees.iter().map(|c| c.session.id).collect(),
                )
            })
            .collect()
    }
}

mod remote_procedures;
#[cfg(test)]
mod tests;

pub use remote_procedures::{RemoteProcedure, RemoteProcedures};
