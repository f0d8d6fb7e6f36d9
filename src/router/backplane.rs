//! The seam between the router and cluster mode: what the router hands to a backplane and what it
//! receives from one. The router owns this interface (an `Option<Arc<dyn Backplane>>`, `None` on
//! a single node); [`crate::cluster`] implements it (Redis) and owns the wire format, so the
//! dependency points from cluster to router only.

use std::fmt;

use crate::router::broker::{Position, Publication, Publisher};
use crate::router::history::StreamLimits;
use crate::router::publish_options::PublishOptions;
use wampd_proto::wamp::v1::Payload;
use wampd_proto::wamp::{Dict, Id, Value};

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
