//! Unit tests of `dealer`, kept beside it so the module itself reads as the code.

use super::*;
use crate::router::outbound::OutboundRx;
use wampd_proto::wamp::Serializer;

fn session(id: Id) -> (Arc<SessionHandle>, OutboundRx) {
    let (handle, rx) = SessionHandle::for_test(id, &format!("s{id}"), "user", Serializer::Json);
    (Arc::new(handle), rx)
}

fn call(procedure: &str) -> CallRequest {
    CallRequest {
        procedure: procedure.into(),
        args: Vec::new(),
        kwargs: Dict::new(),
        receive_progress: false,
        progress: false,
        timeout: None,
        disclose_me: false,
        passthru: None,
    }
}

fn register(dealer: &mut Dealer, callee: &Arc<SessionHandle>, procedure: &str) {
    dealer
        .register(
            callee,
            RegisterRequest {
                procedure,
                policy: MatchPolicy::Exact,
                invoke: InvokePolicy::Single,
                disclose_caller: false,
                forward_timeout: false,
            },
        )
        .expect("registered");
}

#[test]
fn deadlines_go_with_their_calls_and_expire_in_order() {
    let mut dealer = Dealer::default();
    let (callee, _callee_rx) = session(1);
    let (caller, _caller_rx) = session(2);
    register(&mut dealer, &callee, "p");
    let limits = Limits::default();
    let now = Instant::now();
    let v2 = |request| Caller::V2 {
        session: caller.clone(),
        request,
    };
    let answered = dealer
        .call(
            v2(1),
            call("p"),
            &limits,
            Some(now + std::time::Duration::from_secs(60)),
        )
        .expect("routed");
    let late = dealer
        .call(
            v2(2),
            call("p"),
            &limits,
            Some(now + std::time::Duration::from_secs(1)),
        )
        .expect("routed");
    dealer
        .call(v2(3), call("p"), &limits, None)
        .expect("routed");
    assert_eq!(dealer.armed_deadlines(), 2);
    dealer.yield_result(
        callee.id,
        answered,
        Answer::new(Vec::new(), Dict::new()),
        false,
    );
    assert_eq!(
        dealer.armed_deadlines(),
        1,
        "an answered call takes its deadline along"
    );
    let next = dealer.expire(now);
    assert_eq!(next, Some(now + std::time::Duration::from_secs(1)));
    assert_eq!(dealer.expire(now + std::time::Duration::from_secs(2)), None);
    assert_eq!(dealer.armed_deadlines(), 0);
    assert_eq!(
        dealer.pending_calls(),
        1,
        "the call without a timeout waits"
    );
    let _ = late;
    dealer.remove_session(caller.id);
    assert_eq!(dealer.pending_calls(), 0);
}

#[test]
fn calls_in_flight_are_bounded_and_ids_unique() {
    let mut dealer = Dealer::default();
    let (callee, _callee_rx) = session(1);
    let (caller, _caller_rx) = session(2);
    register(&mut dealer, &callee, "p");
    let limits = Limits {
        max_pending_calls: 2,
        max_pending_invocations: 3,
        ..Limits::default()
    };
    let v2 = |request| Caller::V2 {
        session: caller.clone(),
        request,
    };
    dealer.call(v2(1), call("p"), &limits, None).expect("first");
    let reused = dealer.call(v2(1), call("p"), &limits, None);
    assert_eq!(
        reused.map_err(|e| e.error),
        Err(error_uri::PROTOCOL_VIOLATION)
    );
    dealer
        .call(v2(2), call("p"), &limits, None)
        .expect("second");
    let third = dealer.call(v2(3), call("p"), &limits, None);
    assert_eq!(third.map_err(|e| e.error), Err(error_uri::LIMIT_EXCEEDED));
    // Another caller reaches the callee's own limit.
    let (other, _other_rx) = session(3);
    let v2o = |request| Caller::V2 {
        session: other.clone(),
        request,
    };
    dealer
        .call(v2o(1), call("p"), &limits, None)
        .expect("third invocation");
    let fourth = dealer.call(v2o(2), call("p"), &limits, None);
    assert_eq!(fourth.map_err(|e| e.error), Err(error_uri::UNAVAILABLE));
    dealer.remove_session(caller.id);
    dealer
        .call(v2o(2), call("p"), &limits, None)
        .expect("room again");
}

/// A backplane that records what the dealer sends to other nodes.
#[derive(Debug, Default)]
struct Recorder {
    sent: std::sync::Mutex<Vec<(u64, RemoteCall)>>,
}

impl Backplane for Recorder {
    fn forward(&self, _: &crate::router::backplane::Outgoing<'_>) {}
    fn sequence(
        &self,
        _: &crate::router::backplane::Outgoing<'_>,
        _: crate::router::history::StreamLimits,
    ) -> bool {
        false
    }
    fn connected(&self) -> bool {
        true
    }
    fn node(&self) -> u64 {
        1
    }
    fn send_call(&self, node: u64, _: &str, message: &RemoteCall) -> bool {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((node, message.clone()));
        }
        true
    }
    fn procedures_changed(&self) {}
}

impl Recorder {
    fn take(&self) -> Vec<(u64, RemoteCall)> {
        self.sent
            .lock()
            .map(|mut s| s.drain(..).collect())
            .unwrap_or_default()
    }
}

fn exact(procedure: &str) -> RemoteProcedure {
    RemoteProcedure {
        procedure: procedure.into(),
        policy: MatchPolicy::Exact,
        invoke: InvokePolicy::Single,
    }
}

#[test]
fn calls_go_to_the_node_that_announced_the_procedure_and_fail_when_it_leaves() {
    let recorder = Arc::new(Recorder::default());
    let mut dealer = Dealer::default();
    dealer.join_cluster(recorder.clone(), "realm1");
    dealer.set_remote_procedures(77, vec![exact("remote.p")]);
    let (caller, mut caller_rx) = session(2);
    let limits = Limits::default();
    let call_id = dealer
        .call(
            Caller::V2 {
                session: caller.clone(),
                request: 5,
            },
            call("remote.p"),
            &limits,
            None,
        )
        .expect("routed to node 77");
    let sent = recorder.take();
    assert!(
        matches!(&sent[..], [(77, RemoteCall::Call { call, procedure, .. })] if *call == call_id && procedure == "remote.p"),
        "{sent:?}"
    );
    // An answer from another node than the one asked is ignored; from node 77 it goes through.
    dealer.yield_result(
        remote_key(78),
        call_id,
        Answer::new(vec![Value::UInt(1)], Dict::new()),
        false,
    );
    assert_eq!(dealer.pending_calls(), 1);
    dealer.yield_result(
        remote_key(77),
        call_id,
        Answer::new(vec![Value::UInt(2)], Dict::new()),
        false,
    );
    assert_eq!(dealer.pending_calls(), 0);
    assert!(caller_rx.try_recv().is_some(), "the RESULT");

    // Node 77 leaves while a call is pending: the caller gets wamp.error.canceled.
    let pending = dealer
        .call(
            Caller::V2 {
                session: caller.clone(),
                request: 6,
            },
            call("remote.p"),
            &limits,
            None,
        )
        .expect("routed");
    assert_eq!(dealer.remote_nodes(), vec![77]);
    dealer.forget_node(77);
    assert_eq!(dealer.pending_calls(), 0, "call {pending} ended");
    assert!(caller_rx.try_recv().is_some(), "the ERROR");
    let gone = dealer.call(
        Caller::V2 {
            session: caller,
            request: 7,
        },
        call("remote.p"),
        &limits,
        None,
    );
    assert_eq!(gone.map_err(|e| e.error), Err(error_uri::NO_SUCH_PROCEDURE));
}

#[test]
fn a_call_from_another_node_is_served_here_or_refused_never_passed_on() {
    let recorder = Arc::new(Recorder::default());
    let mut dealer = Dealer::default();
    dealer.join_cluster(recorder.clone(), "realm1");
    dealer.set_remote_procedures(77, vec![exact("elsewhere")]);
    let from_node = |call_id| {
        Caller::Remote(RemoteCaller {
            node: 42,
            call: call_id,
            realm: Arc::from("realm1"),
            identity: CallerIdentity {
                session: 9,
                authid: "a".into(),
                authrole: "r".into(),
            },
            backplane: recorder.clone(),
        })
    };
    let refused = dealer.call(from_node(1), call("elsewhere"), &Limits::default(), None);
    assert_eq!(
        refused.map_err(|e| e.error),
        Err(error_uri::NO_SUCH_PROCEDURE)
    );
    assert!(recorder.take().is_empty(), "nothing was sent on to node 77");

    // Served here: the answer goes back to node 42 under its call ID.
    let (callee, mut callee_rx) = session(1);
    register(&mut dealer, &callee, "here");
    let invocation = dealer
        .call(from_node(11), call("here"), &Limits::default(), None)
        .expect("invoked");
    assert!(callee_rx.try_recv().is_some(), "the INVOCATION");
    dealer.yield_result(
        callee.id,
        invocation,
        Answer::new(vec![], Dict::new()),
        false,
    );
    let sent = recorder.take();
    assert!(
        matches!(
            &sent[..],
            [(
                42,
                RemoteCall::Result {
                    call: 11,
                    progress: false,
                    ..
                }
            )]
        ),
        "{sent:?}"
    );
    // Session IDs can never be taken for a node's key.
    assert!(remote_key(42) > wampd_proto::wamp::id::MAX_ID);
}
