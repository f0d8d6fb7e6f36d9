//! The seam between the router and cluster mode: what the router hands to a backplane and what it
//! receives from one. The router owns this interface (an `Option<Arc<dyn Backplane>>`, `None` on
//! a single node); [`crate::cluster`] implements it (Redis) and owns the wire format, so the
//! dependency points from cluster to router only.
//!
//! Two kinds of traffic cross it: publications, which every node receives, and the messages of
//! calls between nodes ([`RemoteCall`]), each sent to one node: a CALL to the node whose
//! session registered the procedure, its results and errors back to the caller's node. Which
//! node has which procedure each node announces ([`Announced`]) and learns from the others.

use std::fmt;

use crate::router::broker::{Position, Publication, Publisher};
use crate::router::dealer::{CancelMode, InvokePolicy};
use crate::router::history::StreamLimits;
use crate::router::passthru::Passthru;
use crate::router::publish_options::PublishOptions;
use wampd_proto::wamp::v1::Payload;
use wampd_proto::wamp::{Dict, Id, MatchPolicy, Value};

/// A way to hand publications to the other nodes of a cluster. The router holds one behind an
/// `Arc<dyn Backplane>`, so other transports (NATS, …) can follow without touching the router.
pub trait Backplane: Send + Sync + fmt::Debug {
    /// Hands a publication already delivered locally to the other nodes. Must not block or
    /// await: when the backplane is down or its queue is full, the publication is counted as
    /// dropped and stays local.
    fn forward(&self, publication: &Outgoing<'_>);

    /// Hands a publication to a history topic to the backplane *instead of* delivering it
    /// locally: the backplane numbers it in the topic's shared stream (keeping at most
    /// `limits`) and every node, this one included, delivers it as an [`Incoming`] with its
    /// position, so offsets are the same on every node and any node can serve a recovery.
    /// Must not block; false when it cannot be queued (the caller then delivers it locally,
    /// without history).
    fn sequence(&self, publication: &Outgoing<'_>, limits: StreamLimits) -> bool;

    /// Whether cross-node delivery currently works (for `/ready` and logs).
    fn connected(&self) -> bool;

    /// This node's ID in the cluster (what other nodes address it by).
    fn node(&self) -> u64;

    /// Hands one message of a call between nodes to `node`, in order with the other messages to
    /// it. Must not block; false when it cannot be queued (the call then fails as unavailable).
    fn send_call(&self, node: u64, realm: &str, message: &RemoteCall) -> bool;

    /// This node's registrations changed: the backplane announces the new set (it reads it with
    /// [`crate::router::Router::announced_procedures`]) so other nodes route calls here.
    fn procedures_changed(&self);
}

/// Who made a call that crosses nodes (disclosed to the callee only when asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The caller's session ID (on its own node).
    pub session: Id,
    /// Its authid.
    pub authid: String,
    /// Its authrole.
    pub authrole: String,
}

/// One message of a call between a caller on one node and a callee on another. `call` names
/// the call on the caller's node (its invocation ID there) in both directions.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteCall {
    /// Caller's node → callee's node: invoke `procedure` (again, for the next part of a
    /// progressive call invocation, under the same `call`).
    Call {
        /// The call.
        call: Id,
        /// The procedure called.
        procedure: String,
        /// Positional arguments.
        args: Vec<Value>,
        /// Keyword arguments.
        kwargs: Dict,
        /// `CALL.Options.receive_progress`.
        receive_progress: bool,
        /// `CALL.Options.progress`.
        progress: bool,
        /// The call's timeout after the caller's node applied its ceiling, in milliseconds.
        timeout_ms: Option<u64>,
        /// The caller, disclosed to the callee when `disclose_me` or the registration asks.
        caller: CallerIdentity,
        /// `CALL.Options.disclose_me`.
        disclose_me: bool,
        /// Payload passthru attributes.
        passthru: Option<Passthru>,
    },
    /// Callee's node → caller's node: a (progressive) result.
    Result {
        /// The call.
        call: Id,
        /// Positional results.
        args: Vec<Value>,
        /// Keyword results.
        kwargs: Dict,
        /// More results follow.
        progress: bool,
        /// Payload passthru attributes.
        passthru: Option<Passthru>,
    },
    /// Callee's node → caller's node: the call failed.
    Error {
        /// The call.
        call: Id,
        /// The error URI.
        error: String,
        /// A message for callers that get no arguments otherwise (and for WAMP v1 callers).
        message: String,
        /// Positional error arguments.
        args: Vec<Value>,
        /// Keyword error arguments.
        kwargs: Dict,
        /// Payload passthru attributes.
        passthru: Option<Passthru>,
    },
    /// Caller's node → callee's node: the caller canceled.
    Cancel {
        /// The call.
        call: Id,
        /// How.
        mode: CancelMode,
    },
}

impl RemoteCall {
    /// The call this message belongs to.
    pub fn call(&self) -> Id {
        match self {
            RemoteCall::Call { call, .. }
            | RemoteCall::Result { call, .. }
            | RemoteCall::Error { call, .. }
            | RemoteCall::Cancel { call, .. } => *call,
        }
    }
}

/// One registration of this node as other nodes learn it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The realm it is registered in.
    pub realm: String,
    /// The procedure or pattern.
    pub procedure: String,
    /// How it matches.
    pub policy: MatchPolicy,
    /// Its shared-registration policy.
    pub invoke: InvokePolicy,
}

/// A publication leaving this node, borrowed from the publish call.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The realm published in.
    pub realm: &'a str,
    /// The concrete topic.
    pub topic: &'a str,
    /// Publication ID.
    pub publication: Id,
    /// Who published.
    pub publisher: Publisher<'a>,
    /// PUBLISH.Options as received (already validated).
    pub options: &'a Dict,
    /// Parsed options (to know whether to disclose the publisher).
    pub parsed: &'a PublishOptions,
    /// Positional payload.
    pub args: &'a [Value],
    /// Keyword payload.
    pub kwargs: &'a Dict,
    /// A WAMP v1 publisher's original payload.
    pub v1_payload: Option<&'a Payload>,
}

/// A publication that arrived from another node.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The originating node.
    pub node: u64,
    /// The realm published in.
    pub realm: String,
    /// The concrete topic.
    pub topic: String,
    /// Publication ID.
    pub publication: Id,
    /// The publisher's session ID.
    pub publisher: Id,
    /// The publisher's authid when disclosed.
    pub authid: Option<String>,
    /// The publisher's authrole when disclosed.
    pub authrole: Option<String>,
    /// PUBLISH.Options, parsed again here.
    pub options: PublishOptions,
    /// Positional payload.
    pub args: Vec<Value>,
    /// Keyword payload.
    pub kwargs: Dict,
    /// A WAMP v1 publisher's original payload.
    pub v1_payload: Option<Payload>,
    /// A history topic's publication: its place in the shared stream and when the stream
    /// received it.
    pub sequenced: Option<(Position, std::time::SystemTime)>,
}

impl Incoming {
    /// The publication to deliver, with its stream position when sequenced.
    pub fn publication(&self) -> Publication<'_> {
        Publication {
            id: self.publication,
            topic: &self.topic,
            args: &self.args,
            kwargs: &self.kwargs,
            options: &self.options,
            publisher: self.publisher(),
            v1_payload: self.v1_payload.as_ref(),
            position: self.sequenced.as_ref().map(|(position, _)| position),
        }
    }

    /// The publisher as the broker sees it (authid/authrole empty when not disclosed, in
    /// which case the broker does not read them).
    pub fn publisher(&self) -> Publisher<'_> {
        Publisher {
            id: self.publisher,
            authid: self.authid.as_deref().unwrap_or(""),
            authrole: self.authrole.as_deref().unwrap_or(""),
        }
    }
}
