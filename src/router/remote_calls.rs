//! Calls between nodes, as the router receives them from the backplane: a CALL for a callee
//! on this node, the answers to calls this node sent elsewhere, and what other nodes announce
//! about their procedures. The dealer does the routing (`dealer.rs`); this is the entry point
//! the cluster module calls, by realm name.
//!
//! The caller's node has authorized the call (the same rules run on every node of a cluster),
//! applied its caller's pending-call limit and the call-timeout ceiling; this node applies the
//! callee side as for a local call: the callee's pending-invocation limit, its features
//! (progressive call invocations), `forward_timeout`, and the call timeout itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::router::backplane::{Announced, RemoteCall};
use crate::router::dealer::{
    remote_key, Answer, CallRequest, Caller, RemoteCaller, RemoteProcedure,
};
use crate::router::Router;
use wampd_proto::wamp::{error_uri, Dict};

impl Router {
    /// Handles one message of a call between nodes, sent by `from` in `realm`.
    pub fn remote_call(&self, from: u64, realm: &str, message: RemoteCall) {
        let Some(backplane) = self.backplane().cloned() else {
            return;
        };
        let Some(realm) = self.realm(realm) else {
            debug!(
                node = from,
                realm, "a call from another node names a realm this node does not serve"
            );
            if let RemoteCall::Call { call, .. } = message {
                let refusal = RemoteCall::Error {
                    call,
                    error: error_uri::NO_SUCH_REALM.to_owned(),
                    message: format!("realm \"{realm}\" is not served by the callee's node"),
                    args: Vec::new(),
                    kwargs: Dict::new(),
                    passthru: None,
                };
                let _ = backplane.send_call(from, realm, &refusal);
            }
            return;
        };
        match message {
            RemoteCall::Call {
                call,
                procedure,
                args,
                kwargs,
                receive_progress,
                progress,
                timeout_ms,
                caller,
                disclose_me,
                passthru,
            } => {
                let caller = Caller::Remote(RemoteCaller {
                    node: from,
                    call,
                    realm: Arc::from(realm.name()),
                    identity: caller,
                    backplane,
                });
                let timeout = timeout_ms.map(Duration::from_millis);
                let deadline = timeout.map(|timeout| Instant::now() + timeout);
                let request = CallRequest {
                    procedure,
                    args,
                    kwargs,
                    receive_progress,
                    disclose_me,
                    progress,
                    timeout,
                    passthru,
                };
                let limits = &self.config().limits;
                let outcome = realm
                    .dealer()
                    .call(caller.clone(), request, limits, deadline);
                match outcome {
                    Ok(_) if deadline.is_some() => realm.arm_call_timer(),
                    Ok(_) => {}
                    Err(refusal) => {
                        caller.error(refusal.error, &refusal.message, Vec::new(), refusal.kwargs)
                    }
                }
            }
            RemoteCall::Result {
                call,
                args,
                kwargs,
                progress,
                passthru,
            } => realm.dealer().yield_result(
                remote_key(from),
                call,
                Answer {
                    args,
                    kwargs,
                    passthru,
                },
                progress,
            ),
            RemoteCall::Error {
                call,
                error,
                message,
                args,
                kwargs,
                passthru,
            } => realm.dealer().yield_error(
                remote_key(from),
                call,
                &error,
                &message,
                Answer {
                    args,
                    kwargs,
                    passthru,
                },
            ),
            RemoteCall::Cancel { call, mode } => {
                realm.dealer().cancel(remote_key(from), call, mode);
            }
        }
    }

    /// This node's registrations in every realm, to announce to the other nodes.
    pub fn announced_procedures(&self) -> Vec<Announced> {
        let mut all = Vec::new();
        for realm in self.realms() {
            for p in realm.dealer().local_procedures() {
                all.push(Announced {
                    realm: realm.name().to_owned(),
                    procedure: p.procedure,
                    policy: p.policy,
                    invoke: p.invoke,
                });
            }
        }
        all
    }

    /// What `node` announced, replacing what it announced before (realms this node does not
    /// serve are ignored).
    pub fn set_remote_procedures(&self, node: u64, announced: Vec<Announced>) {
        for realm in self.realms() {
            let procedures: Vec<RemoteProcedure> = announced
                .iter()
                .filter(|a| a.realm == realm.name())
                .map(|a| RemoteProcedure {
                    procedure: a.procedure.clone(),
                    policy: a.policy,
                    invoke: a.invoke,
                })
                .collect();
            realm.dealer().set_remote_procedures(node, procedures);
        }
    }

    /// Nodes this node routes calls to or has calls with.
    pub fn call_peers(&self) -> Vec<u64> {
        let mut nodes = Vec::new();
        for realm in self.realms() {
            for node in realm.dealer().remote_nodes() {
                if !nodes.contains(&node) {
                    nodes.push(node);
                }
            }
        }
        nodes
    }

    /// `node` left the cluster: its procedures are forgotten and the calls it took part in end.
    pub fn forget_node(&self, node: u64) {
        for realm in self.realms() {
            realm.dealer().forget_node(node);
        }
    }
}
