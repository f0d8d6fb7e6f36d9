//! Basic Profile RPC over real sockets: registration, calls from WAMP v2 and v1 callers, errors,
//! and a callee that disappears mid-call.

mod common;

use std::time::Duration;

use common::{connect_ws, Client, TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wampd::wamp::{Dict, Id, Message, Serializer, Value};

async fn register(callee: &mut Client, procedure: &str) -> Result<Id, String> {
    let request = callee.request_id();
    callee
        .send(&Message::Register {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
        })
        .await;
    match callee.recv().await {
        Message::Registered {
            request: r,
            registration,
        } if r == request => Ok(registration),
        Message::Error {
            request: r, error, ..
        } if r == request => Err(error),
        other => panic!("unexpected {other:?}"),
    }
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
