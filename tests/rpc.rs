//! Basic Profile RPC over real sockets: registration, calls from WAMP v2 and v1 callers, errors,
//! and a callee that disappears mid-call.

mod common;

use std::time::Duration;

use common::{connect_ws, Client, TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wampd_proto::wamp::{Dict, Id, Message, Serializer, Value};

async fn register(callee: &mut Client, procedure: &str) -> Result<Id, String> {
    callee.register(procedure).await
}

async fn call(caller: &mut Client, procedure: &str, args: Vec<Value>) -> Id {
    let request = caller.request_id();
    caller
        .send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
            args,
            kwargs: Dict::new(),
        })
        .await;
    request
}

/// Answers one INVOCATION by adding its two integer arguments.
async fn serve_add(callee: &mut Client) {
    match callee.recv().await {
        Message::Invocation { request, args, .. } => {
            let sum: u64 = args.iter().filter_map(Value::as_u64).sum();
            callee
                .send(&Message::Yield {
                    request,
                    options: Dict::new(),
                    args: vec![Value::UInt(sum)],
                    kwargs: Dict::new(),
                })
                .await;
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

#[tokio::test]
async fn v2_and_v1_callers_reach_a_v2_callee() {
    let server = TestServer::start(&[]).await;
    let mut callee = Client::join(&server, Serializer::MsgPack).await;
    let mut caller = Client::join(&server, Serializer::Json).await;
    assert!(caller
        .welcome
        .get("roles")
        .and_then(Value::as_dict)
        .is_some_and(|r| r.contains_key("dealer")));
    register(&mut callee, "com.example.add")
        .await
        .expect("registered");
    assert_eq!(
        register(&mut caller, "com.example.add").await,
        Err("wamp.error.procedure_already_exists".into())
    );

    let request = call(
        &mut caller,
        "com.example.add",
        vec![Value::UInt(2), Value::UInt(3)],
    )
    .await;
    serve_add(&mut callee).await;
    match caller.recv().await {
        Message::Result {
            request: r, args, ..
        } => {
            assert_eq!(r, request);
            assert_eq!(args, vec![Value::UInt(5)]);
        }
        other => panic!("expected RESULT, got {other:?}"),
    }

    // WAMP v1: [2, callId, procURI, args...] → CALLRESULT [3, callId, result].
    let mut v1 = connect_ws(&server.url(), Some("wamp"))
        .await
        .expect("v1 connects");
    let _welcome = v1.next().await;
    v1.send(WsMessage::Text(r#"[2,"c1","com.example.add",4,5]"#.into()))
        .await
        .expect("send");
    serve_add(&mut callee).await;
    let reply = tokio::time::timeout(WAIT, v1.next()).await.expect("reply");
    match reply {
        Some(Ok(WsMessage::Text(t))) => assert_eq!(t.as_str(), r#"[3,"c1",9]"#),
        other => panic!("expected CALLRESULT, got {other:?}"),
    }
    v1.send(WsMessage::Text(r#"[2,"c2","com.example.nope"]"#.into()))
        .await
        .expect("send");
    match tokio::time::timeout(WAIT, v1.next()).await.expect("reply") {
        Some(Ok(WsMessage::Text(t))) => {
            assert!(
                t.as_str()
                    .starts_with(r#"[4,"c2","wamp.error.no_such_procedure""#),
                "{t}"
            )
        }
        other => panic!("expected CALLERROR, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn errors_are_routed_and_reported() {
    let server = TestServer::start(&[]).await;
    let mut callee = Client::join(&server, Serializer::Json).await;
    let mut caller = Client::join(&server, Serializer::MsgPack).await;
    let registration = register(&mut callee, "com.example.fail")
        .await
        .expect("registered");

    let request = call(&mut caller, "com.example.fail", vec![]).await;
    match callee.recv().await {
        Message::Invocation {
            request: invocation,
            registration: r,
            ..
        } => {
            assert_eq!(r, registration);
            callee
                .send(&Message::Error {
                    request_type: 68,
                    request: invocation,
                    details: Dict::new(),
                    error: "com.example.error.oops".into(),
                    args: vec![Value::from("why")],
                    kwargs: Dict::new(),
                })
                .await;
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    }
    match caller.recv().await {
        Message::Error {
            request_type: 48,
            request: r,
            error,
            args,
            ..
        } => {
            assert_eq!(r, request);
            assert_eq!(error, "com.example.error.oops");
            assert_eq!(args, vec![Value::from("why")]);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }

    for (procedure, expected) in [
        ("com.example.none", "wamp.error.no_such_procedure"),
        ("bad procedure", "wamp.error.invalid_uri"),
    ] {
        let request = call(&mut caller, procedure, vec![]).await;
        match caller.recv().await {
            Message::Error {
                request_type: 48,
                request: r,
                error,
                ..
            } => {
                assert_eq!((r, error.as_str()), (request, expected))
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
    }
    assert_eq!(
        register(&mut callee, "wamp.reserved").await,
        Err("wamp.error.invalid_uri".into())
    );

    // UNREGISTER: only the owner, only once.
    caller
        .send(&Message::Unregister {
            request: 90,
            registration,
        })
        .await;
    assert!(
        matches!(caller.recv().await, Message::Error { error, .. } if error == "wamp.error.no_such_registration")
    );
    callee
        .send(&Message::Unregister {
            request: 91,
            registration,
        })
        .await;
    assert_eq!(callee.recv().await, Message::Unregistered { request: 91 });
    let request = call(&mut caller, "com.example.fail", vec![]).await;
    assert!(
        matches!(caller.recv().await, Message::Error { request: r, error, .. } if r == request && error == "wamp.error.no_such_procedure")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_callee_that_leaves_mid_call_fails_the_call_with_canceled() {
    let server = TestServer::start(&[]).await;
    let mut callee = Client::join(&server, Serializer::Json).await;
    let mut caller = Client::join(&server, Serializer::Json).await;
    register(&mut callee, "com.example.slow")
        .await
        .expect("registered");
    let request = call(&mut caller, "com.example.slow", vec![]).await;
    assert!(matches!(callee.recv().await, Message::Invocation { .. }));
    drop(callee); // killed before answering
    match tokio::time::timeout(Duration::from_secs(5), caller.recv())
        .await
        .expect("in time")
    {
        Message::Error {
            request: r, error, ..
        } => {
            assert_eq!(r, request);
            assert_eq!(error, "wamp.error.canceled");
        }
        other => panic!("expected ERROR canceled, got {other:?}"),
    }
    // The procedure is free again.
    let mut next = Client::join(&server, Serializer::MsgPack).await;
    register(&mut next, "com.example.slow")
        .await
        .expect("registered again");
    server.shutdown().await;
}

async fn register_with(callee: &mut Client, procedure: &str, options: Dict) -> Result<Id, String> {
    callee.register_with(procedure, options).await
}

async fn call_with(caller: &mut Client, procedure: &str, options: Dict) -> Id {
    let request = caller.request_id();
    caller
        .send(&Message::Call {
            request,
            options,
            procedure: procedure.into(),
            args: vec![],
            kwargs: Dict::new(),
        })
        .await;
    request
}

fn opts(pairs: Vec<(&str, Value)>) -> Dict {
    common::dict(pairs)
}

/// Answers one INVOCATION with the callee's name and returns the invocation's details.
async fn answer_with_name(callee: &mut Client, name: &str) -> Dict {
    match callee.recv().await {
        Message::Invocation {
            request, details, ..
        } => {
            callee
                .send(&Message::Yield {
                    request,
                    options: Dict::new(),
                    args: vec![Value::from(name)],
                    kwargs: Dict::new(),
                })
                .await;
            details
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

async fn result_args(caller: &mut Client) -> Vec<Value> {
    match caller.recv().await {
        Message::Result { args, .. } => args,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

#[tokio::test]
async fn shared_registrations_follow_their_invocation_policy() {
    let server = TestServer::start(&[]).await;
    let mut a = Client::join(&server, Serializer::Json).await;
    let mut b = Client::join(&server, Serializer::MsgPack).await;
    let mut caller = Client::join(&server, Serializer::Json).await;
    let rr = opts(vec![("invoke", Value::from("roundrobin"))]);
    let ra = register_with(&mut a, "com.example.rr", rr.clone())
        .await
        .expect("a");
    let rb = register_with(&mut b, "com.example.rr", rr)
        .await
        .expect("b");
    assert_eq!(ra, rb, "one shared registration");
    assert_eq!(
        register_with(
            &mut caller,
            "com.example.rr",
            opts(vec![("invoke", Value::from("first"))])
        )
        .await,
        Err("wamp.error.procedure_exists_with_different_invocation_policy".into())
    );
    for expected in ["a", "b", "a", "b"] {
        call_with(&mut caller, "com.example.rr", Dict::new()).await;
        let callee = if expected == "a" { &mut a } else { &mut b };
        answer_with_name(callee, expected).await;
        assert_eq!(result_args(&mut caller).await, vec![Value::from(expected)]);
    }
    for (policy, expected) in [("first", "a"), ("last", "b")] {
        let procedure = format!("com.example.{policy}");
        let o = opts(vec![("invoke", Value::from(policy))]);
        register_with(&mut a, &procedure, o.clone())
            .await
            .expect("a");
        register_with(&mut b, &procedure, o).await.expect("b");
        call_with(&mut caller, &procedure, Dict::new()).await;
        let callee = if expected == "a" { &mut a } else { &mut b };
        answer_with_name(callee, expected).await;
        assert_eq!(result_args(&mut caller).await, vec![Value::from(expected)]);
    }
    // When a shared callee leaves, the other keeps serving.
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    call_with(&mut caller, "com.example.rr", Dict::new()).await;
    answer_with_name(&mut b, "b").await;
    assert_eq!(result_args(&mut caller).await, vec![Value::from("b")]);
    server.shutdown().await;
}

#[tokio::test]
async fn pattern_registrations_resolve_exact_then_longest_prefix_then_wildcard() {
    let server = TestServer::start(&[]).await;
    let mut exact = Client::join(&server, Serializer::Json).await;
    let mut short = Client::join(&server, Serializer::Json).await;
    let mut long = Client::join(&server, Serializer::Json).await;
    let mut wild = Client::join(&server, Serializer::Json).await;
    let mut caller = Client::join(&server, Serializer::Json).await;
    register_with(&mut exact, "com.app.user.get", Dict::new())
        .await
        .expect("exact");
    register_with(
        &mut short,
        "com.app.",
        opts(vec![("match", Value::from("prefix"))]),
    )
    .await
    .expect("short");
    register_with(
        &mut long,
        "com.app.user.",
        opts(vec![("match", Value::from("prefix"))]),
    )
    .await
    .expect("long");
    register_with(
        &mut wild,
        "com..user.delete",
        opts(vec![("match", Value::from("wildcard"))]),
    )
    .await
    .expect("wild");

    call_with(&mut caller, "com.app.user.get", Dict::new()).await;
    let details = answer_with_name(&mut exact, "exact").await;
    assert!(
        !details.contains_key("procedure"),
        "exact registrations need no procedure detail"
    );
    assert_eq!(result_args(&mut caller).await, vec![Value::from("exact")]);

    call_with(&mut caller, "com.app.user.list", Dict::new()).await;
    let details = answer_with_name(&mut long, "long").await;
    assert_eq!(
        details.get("procedure"),
        Some(&Value::from("com.app.user.list"))
    );
    assert_eq!(result_args(&mut caller).await, vec![Value::from("long")]);

    call_with(&mut caller, "com.app.order.list", Dict::new()).await;
    answer_with_name(&mut short, "short").await;
    assert_eq!(result_args(&mut caller).await, vec![Value::from("short")]);

    call_with(&mut caller, "com.crm.user.delete", Dict::new()).await;
    let details = answer_with_name(&mut wild, "wild").await;
    assert_eq!(
        details.get("procedure"),
        Some(&Value::from("com.crm.user.delete"))
    );
    assert_eq!(result_args(&mut caller).await, vec![Value::from("wild")]);
    server.shutdown().await;
}

#[tokio::test]
async fn caller_identification_and_progressive_results() {
    let server = TestServer::start(&[]).await;
    let mut callee = Client::join(&server, Serializer::MsgPack).await;
    let mut caller = Client::join(&server, Serializer::Json).await;
    register_with(&mut callee, "com.example.progress", Dict::new())
        .await
        .expect("registered");
    let request = call_with(
        &mut caller,
        "com.example.progress",
        opts(vec![
            ("receive_progress", Value::Bool(true)),
            ("disclose_me", Value::Bool(true)),
        ]),
    )
    .await;
    let invocation = match callee.recv().await {
        Message::Invocation {
            request, details, ..
        } => {
            assert_eq!(details.get("caller"), Some(&Value::UInt(caller.session)));
            assert_eq!(
                details.get("caller_authrole"),
                Some(&Value::from("anonymous"))
            );
            assert_eq!(details.get("receive_progress"), Some(&Value::Bool(true)));
            request
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    };
    for n in 1..=3u64 {
        callee
            .send(&Message::Yield {
                request: invocation,
                options: opts(vec![("progress", Value::Bool(true))]),
                args: vec![Value::UInt(n)],
                kwargs: Dict::new(),
            })
            .await;
    }
    callee
        .send(&Message::Yield {
            request: invocation,
            options: Dict::new(),
            args: vec![Value::from("done")],
            kwargs: Dict::new(),
        })
        .await;
    for n in 1..=3u64 {
        match caller.recv().await {
            Message::Result {
                request: r,
                details,
                args,
                ..
            } => {
                assert_eq!(r, request);
                assert_eq!(details.get("progress"), Some(&Value::Bool(true)));
                assert_eq!(args, vec![Value::UInt(n)]);
            }
            other => panic!("expected a progressive RESULT, got {other:?}"),
        }
    }
    match caller.recv().await {
        Message::Result { details, args, .. } => {
            assert!(!details.contains_key("progress"));
            assert_eq!(args, vec![Value::from("done")]);
        }
        other => panic!("expected the final RESULT, got {other:?}"),
    }
    server.shutdown().await;
}

async fn expect_call_error(caller: &mut Client, request: Id, expected: &str) {
    match tokio::time::timeout(WAIT, caller.recv())
        .await
        .expect("in time")
    {
        Message::Error {
            request_type: 48,
            request: r,
            error,
            ..
        } => {
            assert_eq!((r, error.as_str()), (request, expected))
        }
        other => panic!("expected ERROR {expected}, got {other:?}"),
    }
}

async fn expect_interrupt(callee: &mut Client, invocation: Id, mode: &str) {
    match callee.recv().await {
        Message::Interrupt { request, options } => {
            assert_eq!(request, invocation);
            assert_eq!(options.get("mode"), Some(&Value::from(mode)));
        }
        other => panic!("expected INTERRUPT, got {other:?}"),
    }
}

async fn invocation(callee: &mut Client) -> Id {
    match callee.recv().await {
        Message::Invocation { request, .. } => request,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

#[tokio::test]
async fn timeouts_and_every_cancel_mode() {
    let server = TestServer::start(&[]).await;
    let mut callee = Client::join(&server, Serializer::Json).await;
    let mut caller = Client::join(&server, Serializer::Json).await;
    register_with(&mut callee, "com.example.slow", Dict::new())
        .await
        .expect("registered");
    timeouts_and_cancel_modes(&mut callee, &mut caller).await;
    server.shutdown().await;
}

/// The dealer-side timeout and the three cancel modes of a call from `caller` to
/// `com.example.slow`, which `callee` registered (on the same node or another).
async fn timeouts_and_cancel_modes(callee: &mut Client, caller: &mut Client) {
    // Dealer-side timeout.
    let request = call_with(
        caller,
        "com.example.slow",
        opts(vec![("timeout", Value::UInt(200))]),
    )
    .await;
    let inv = invocation(callee).await;
    expect_call_error(caller, request, "wamp.error.timeout").await;
    expect_interrupt(callee, inv, "killnowait").await;

    // skip: the caller hears at once; the callee is not told and its late answer is dropped.
    let request = call_with(caller, "com.example.slow", Dict::new()).await;
    let inv = invocation(callee).await;
    caller
        .send(&Message::Cancel {
            request,
            options: opts(vec![("mode", Value::from("skip"))]),
        })
        .await;
    expect_call_error(caller, request, "wamp.error.canceled").await;
    callee
        .send(&Message::Yield {
            request: inv,
            options: Dict::new(),
            args: vec![],
            kwargs: Dict::new(),
        })
        .await;
    caller.expect_silence(Duration::from_millis(200)).await;
    callee.expect_silence(Duration::from_millis(100)).await;

    // killnowait: INTERRUPT and an immediate answer.
    let request = call_with(caller, "com.example.slow", Dict::new()).await;
    let inv = invocation(callee).await;
    caller
        .send(&Message::Cancel {
            request,
            options: opts(vec![("mode", Value::from("killnowait"))]),
        })
        .await;
    expect_interrupt(callee, inv, "killnowait").await;
    expect_call_error(caller, request, "wamp.error.canceled").await;

    // kill (the default): INTERRUPT, then the callee's ERROR reaches the caller.
    let request = call_with(caller, "com.example.slow", Dict::new()).await;
    let inv = invocation(callee).await;
    caller
        .send(&Message::Cancel {
            request,
            options: Dict::new(),
        })
        .await;
    expect_interrupt(callee, inv, "kill").await;
    caller.expect_silence(Duration::from_millis(200)).await;
    callee
        .send(&Message::Error {
            request_type: 68,
            request: inv,
            details: Dict::new(),
            error: "wamp.error.canceled".into(),
            args: vec![],
            kwargs: Dict::new(),
        })
        .await;
    expect_call_error(caller, request, "wamp.error.canceled").await;
}

#[tokio::test]
async fn a_callee_that_stops_reading_cannot_pile_up_invocations() {
    let server = TestServer::start(&[
        // Small enough for the stuck callee to overflow, large enough for the caller's burst of
        // replies (at most `total` of them) to fit.
        ("WEBSOCKET_OUTBOUND_QUEUE_MESSAGES", "64"),
        ("WEBSOCKET_OUTBOUND_QUEUE_BYTES", "4MiB"),
    ])
    .await;
    let mut callee = Client::join(&server, Serializer::Json).await;
    let mut caller = Client::join(&server, Serializer::Json).await;
    register(&mut callee, "com.example.stuck")
        .await
        .expect("registered");
    // The callee never reads again. Large arguments fill its socket buffers quickly.
    let blob = Value::Str("x".repeat(256 * 1024));
    let total = 100u64;
    for _ in 0..total {
        call(&mut caller, "com.example.stuck", vec![blob.clone()]).await;
    }
    let mut errors = std::collections::HashMap::<String, u64>::new();
    for _ in 0..total {
        match tokio::time::timeout(Duration::from_secs(10), caller.recv()).await {
            Ok(Message::Error { error, .. }) => *errors.entry(error).or_default() += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break,
        }
    }
    let answered: u64 = errors.values().sum();
    assert_eq!(
        answered, total,
        "every call is answered with an error: {errors:?}"
    );
    // The call that found the queue full: unavailable; calls in flight when the stuck callee was
    // disconnected: canceled; calls after its registration went: no_such_procedure.
    assert!(errors.contains_key("wamp.error.unavailable"), "{errors:?}");
    assert!(
        errors.keys().all(|e| matches!(
            e.as_str(),
            "wamp.error.unavailable" | "wamp.error.canceled" | "wamp.error.no_such_procedure"
        )),
        "{errors:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn callees_without_call_canceling_are_never_interrupted() {
    let server = TestServer::start(&[]).await;
    // A callee like AutobahnJS: no call_canceling in HELLO.
    let mut callee = Client::open(&server, Serializer::Json).await;
    callee.hello_with("realm1", false).await;
    assert!(matches!(callee.recv().await, Message::Welcome { .. }));
    let mut caller = Client::join(&server, Serializer::Json).await;
    register(&mut callee, "com.example.plain")
        .await
        .expect("registered");

    // kill acts as skip: the caller hears at once, the callee gets no INTERRUPT.
    let request = call_with(&mut caller, "com.example.plain", Dict::new()).await;
    let inv = invocation(&mut callee).await;
    caller
        .send(&Message::Cancel {
            request,
            options: Dict::new(),
        })
        .await;
    expect_call_error(&mut caller, request, "wamp.error.canceled").await;
    // A timeout neither.
    let request = call_with(
        &mut caller,
        "com.example.plain",
        opts(vec![("timeout", Value::UInt(100))]),
    )
    .await;
    let inv2 = invocation(&mut callee).await;
    expect_call_error(&mut caller, request, "wamp.error.timeout").await;
    callee.expect_silence(Duration::from_millis(300)).await;
    // Late answers are dropped and the callee keeps working.
    for inv in [inv, inv2] {
        callee
            .send(&Message::Yield {
                request: inv,
                options: Dict::new(),
                args: vec![],
                kwargs: Dict::new(),
            })
            .await;
    }
    caller.expect_silence(Duration::from_millis(200)).await;
    call_with(&mut caller, "com.example.plain", Dict::new()).await;
    answer_with_name(&mut callee, "still here").await;
    assert_eq!(
        result_args(&mut caller).await,
        vec![Value::from("still here")]
    );
    server.shutdown().await;
}

/// A callee that announces `progressive_call_invocations` in its HELLO.
async fn streaming_callee(server: &TestServer) -> Client {
    let mut callee = Client::open(server, Serializer::Json).await;
    let features = opts(vec![
        ("progressive_call_invocations", Value::Bool(true)),
        ("call_canceling", Value::Bool(true)),
    ]);
    let dealer = callee
        .hello_announcing(&[("callee", features), ("caller", Dict::new())])
        .await;
    assert_eq!(
        dealer.get("progressive_call_invocations"),
        Some(&Value::Bool(true)),
        "WELCOME announces the feature"
    );
    callee
}

/// Streams chunks 1, 2, 3 from `caller` to `procedure` as one progressive call: `callee` must
/// get one INVOCATION stream (`progress` on all but the last), and its YIELD of 6 the RESULT.
async fn stream_three_chunks(caller: &mut Client, callee: &mut Client, procedure: &str) {
    let request = caller.request_id();
    let mut invocation_id = None;
    for (chunk, more) in [(1, true), (2, true), (3, false)] {
        send_chunk(caller, request, procedure, chunk, more).await;
        match callee.recv().await {
            Message::Invocation {
                request: inv,
                details,
                args,
                ..
            } => {
                assert_eq!(*invocation_id.get_or_insert(inv), inv, "one invocation");
                assert_eq!(args, vec![Value::UInt(chunk)]);
                assert_eq!(
                    details.get("progress"),
                    more.then_some(&Value::Bool(true)),
                    "chunk {chunk}"
                );
            }
            other => panic!("expected INVOCATION, got {other:?}"),
        }
    }
    callee
        .send(&Message::Yield {
            request: invocation_id.expect("invoked"),
            options: Dict::new(),
            args: vec![Value::UInt(6)],
            kwargs: Dict::new(),
        })
        .await;
    match caller.recv().await {
        Message::Result {
            request: r, args, ..
        } => {
            assert_eq!((r, args), (request, vec![Value::UInt(6)]));
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
}

async fn send_chunk(caller: &mut Client, request: Id, procedure: &str, chunk: u64, more: bool) {
    let mut options = Dict::new();
    if more {
        options.insert("progress".into(), Value::Bool(true));
    }
    caller
        .send(&Message::Call {
            request,
            options,
            procedure: procedure.into(),
            args: vec![Value::UInt(chunk)],
            kwargs: Dict::new(),
        })
        .await;
}

/// Progressive call invocations (WAMP advanced profile): a caller streams CALLs with
/// `progress: true` under one request ID; the callee gets them as INVOCATIONs with one
/// invocation ID, `progress: true` on all but the last, and answers once. Reusing the request ID
/// after the final CALL is a protocol violation; a callee that did not announce the feature is
/// never sent a stream (the caller gets `wamp.error.feature_not_supported`); and a callee that
/// registered with `forward_timeout` gets the caller's timeout in `INVOCATION.Details.timeout`
/// and enforces it itself, while the dealer keeps enforcing it for other callees.
#[tokio::test]
async fn progressive_call_invocations_and_forward_timeout() {
    let server = TestServer::start(&[]).await;
    let mut callee = streaming_callee(&server).await;
    let mut caller = Client::join(&server, Serializer::MsgPack).await;
    register(&mut callee, "com.example.upload")
        .await
        .expect("registered");

    stream_three_chunks(&mut caller, &mut callee, "com.example.upload").await;

    // A callee without the feature never receives a stream.
    let mut plain = Client::join(&server, Serializer::Json).await;
    register(&mut plain, "com.example.plain")
        .await
        .expect("registered");
    let request = caller.request_id();
    send_chunk(&mut caller, request, "com.example.plain", 1, true).await;
    expect_call_error(&mut caller, request, "wamp.error.feature_not_supported").await;

    // forward_timeout: the callee gets the timeout and the dealer does not time the call out.
    register_with(
        &mut callee,
        "com.example.forwarded",
        opts(vec![("forward_timeout", Value::Bool(true))]),
    )
    .await
    .expect("registered");
    let request = call_with(
        &mut caller,
        "com.example.forwarded",
        opts(vec![("timeout", Value::UInt(150))]),
    )
    .await;
    let inv = match callee.recv().await {
        Message::Invocation {
            request, details, ..
        } => {
            assert_eq!(details.get("timeout"), Some(&Value::UInt(150)));
            request
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    callee
        .send(&Message::Yield {
            request: inv,
            options: Dict::new(),
            args: vec![Value::from("late but mine")],
            kwargs: Dict::new(),
        })
        .await;
    assert_eq!(
        result_args(&mut caller).await,
        vec![Value::from("late but mine")]
    );
    // The same timeout on a callee without forward_timeout: the dealer answers it.
    let request_plain = call_with(
        &mut caller,
        "com.example.plain",
        opts(vec![("timeout", Value::UInt(150))]),
    )
    .await;
    match plain.recv().await {
        Message::Invocation { details, .. } => assert_eq!(details.get("timeout"), None),
        other => panic!("expected INVOCATION, got {other:?}"),
    }
    expect_call_error(&mut caller, request_plain, "wamp.error.timeout").await;
    let _ = request;

    // Reusing a finished stream's request ID while a call with it is in flight is a violation.
    let request = caller.request_id();
    send_chunk(&mut caller, request, "com.example.upload", 1, false).await;
    let _ = invocation(&mut callee).await;
    send_chunk(&mut caller, request, "com.example.upload", 2, true).await;
    match caller.recv().await {
        Message::Abort { reason, .. } => assert_eq!(reason, "wamp.error.protocol_violation"),
        other => panic!("expected ABORT, got {other:?}"),
    }
    server.shutdown().await;
}

/// Issue 21: calls between two cluster nodes over a real Redis, in the details autobahn cannot
/// drive: progressive call invocations, caller disclosure, forward_timeout, every cancel mode
/// and the dealer's timeout, a callee that leaves mid-call, and a callee on the caller's own
/// node preferred over one elsewhere. (tests/interop_rpc.rs runs autobahn across nodes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_cross_cluster_nodes_as_they_work_on_one() {
    let redis = common::Redis::start().await;
    let dsn = redis.dsn();
    let vars = [("WEBSOCKET_CLUSTER_DSN", dsn.as_str())];
    let a = TestServer::start(&vars).await;
    let b = TestServer::start(&vars).await;
    common::wait_backplane(a.addr, true).await;
    common::wait_backplane(b.addr, true).await;

    let mut leaver = Client::join(&a, Serializer::Json).await;
    register(&mut leaver, "com.example.leave")
        .await
        .expect("registered");
    let mut callee = streaming_callee(&a).await;
    for procedure in ["com.example.upload", "com.example.slow"] {
        register(&mut callee, procedure).await.expect("registered");
    }
    register_with(
        &mut callee,
        "com.example.forwarded",
        opts(vec![("forward_timeout", Value::Bool(true))]),
    )
    .await
    .expect("registered");
    let mut caller = Client::join(&b, Serializer::MsgPack).await;
    common::until_routed(&mut caller, &mut callee, "com.example.upload").await;

    // Progressive call invocations: one INVOCATION stream on A for CALLs made on B.
    stream_three_chunks(&mut caller, &mut callee, "com.example.upload").await;

    // disclose_me: the caller's session on B, as B knows it.
    let request = call_with(
        &mut caller,
        "com.example.upload",
        opts(vec![("disclose_me", Value::Bool(true))]),
    )
    .await;
    match callee.recv().await {
        Message::Invocation {
            request: inv,
            details,
            ..
        } => {
            assert_eq!(details.get("caller"), Some(&Value::UInt(caller.session)));
            assert_eq!(
                details.get("caller_authid"),
                Some(&Value::from(caller.authid().as_str()))
            );
            callee
                .send(&Message::Yield {
                    request: inv,
                    options: Dict::new(),
                    args: vec![],
                    kwargs: Dict::new(),
                })
                .await;
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    }
    assert!(matches!(caller.recv().await, Message::Result { request: r, .. } if r == request));

    // forward_timeout: the timeout B capped reaches the callee on A.
    let request = call_with(
        &mut caller,
        "com.example.forwarded",
        opts(vec![("timeout", Value::UInt(150))]),
    )
    .await;
    match callee.recv().await {
        Message::Invocation {
            request: inv,
            details,
            ..
        } => {
            assert_eq!(details.get("timeout"), Some(&Value::UInt(150)));
            callee
                .send(&Message::Error {
                    request_type: 68,
                    request: inv,
                    details: Dict::new(),
                    error: "wamp.error.timeout".into(),
                    args: vec![],
                    kwargs: Dict::new(),
                })
                .await;
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    }
    expect_call_error(&mut caller, request, "wamp.error.timeout").await;

    // The dealer's timeout on A and skip / killnowait / kill from B.
    timeouts_and_cancel_modes(&mut callee, &mut caller).await;

    // A callee on A that leaves mid-call: the caller on B gets wamp.error.canceled.
    let request = call(&mut caller, "com.example.leave", vec![]).await;
    assert!(matches!(leaver.recv().await, Message::Invocation { .. }));
    drop(leaver);
    expect_call_error(&mut caller, request, "wamp.error.canceled").await;

    // A callee on the caller's own node is preferred over one elsewhere.
    let mut local = Client::join(&b, Serializer::Json).await;
    register(&mut local, "com.example.upload")
        .await
        .expect("registered on B too: registrations are checked per node");
    let request = call(&mut caller, "com.example.upload", vec![]).await;
    match local.recv().await {
        Message::Invocation { request: inv, .. } => {
            local
                .send(&Message::Yield {
                    request: inv,
                    options: Dict::new(),
                    args: vec![Value::from("local")],
                    kwargs: Dict::new(),
                })
                .await;
        }
        other => panic!("expected INVOCATION on B, got {other:?}"),
    }
    match caller.recv().await {
        Message::Result {
            request: r, args, ..
        } => assert_eq!((r, args), (request, vec![Value::from("local")])),
        other => panic!("expected RESULT, got {other:?}"),
    }
    callee.expect_silence(Duration::from_millis(100)).await;
    assert!(b.shutdown().await);
    assert!(a.shutdown().await);
}
