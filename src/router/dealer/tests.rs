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
    dealer.yield_result(callee.id, answered, Vec::new(), Dict::new(), false);
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
