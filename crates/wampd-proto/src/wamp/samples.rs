//! Test data shared by the message and codec tests: every message type at least once.

use super::message::{code, Message};
use super::value::{Dict, Value};

pub(crate) fn dict(pairs: &[(&str, Value)]) -> Dict {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

pub(crate) fn s(x: &str) -> String {
    x.to_owned()
}

/// One or more instances of every message type, exercising payload
/// variations, binary data, floats and negative numbers.
pub(crate) fn all_messages() -> Vec<Message> {
    let details = dict(&[
        (
            "roles",
            Value::Dict(dict(&[("subscriber", Value::Dict(Dict::new()))])),
        ),
        ("agent", Value::from("test")),
    ]);
    let args = vec![
        Value::from("Hello, world!"),
        Value::UInt(42),
        Value::Int(-7),
        Value::Float(2.5),
        Value::Null,
        Value::Bool(false),
        Value::Bin(vec![0, 1, 2, 255]),
        Value::List(vec![Value::Dict(Dict::new())]),
    ];
    let kwargs = dict(&[
        ("color", Value::from("orange")),
        ("sizes", Value::List(vec![Value::UInt(23), Value::UInt(42)])),
        ("blob", Value::Bin(vec![9; 40])),
    ]);
    let big = super::id::MAX_ID;
    let mut out = vec![
        Message::Hello {
            realm: s("somerealm"),
            details: details.clone(),
        },
        Message::Welcome {
            session: big,
            details: details.clone(),
        },
        Message::Challenge {
            authmethod: s("ticket"),
            extra: Dict::new(),
        },
        Message::Authenticate {
            signature: s("secret!!!"),
            extra: dict(&[("x", Value::UInt(1))]),
        },
        Message::Goodbye {
            details: Dict::new(),
            reason: s("wamp.close.system_shutdown"),
        },
        Message::Published {
            request: 1,
            publication: big,
        },
        Message::Subscribe {
            request: 713_845_233,
            options: dict(&[("match", Value::from("prefix"))]),
            topic: s("com.myapp."),
        },
        Message::Subscribed {
            request: 713_845_233,
            subscription: 5_512_315_355,
        },
        Message::Unsubscribe {
            request: 85_346_237,
            subscription: 5_512_315_355,
        },
        Message::Unsubscribed {
            request: 85_346_237,
            details: None,
        },
        Message::Unsubscribed {
            request: 0,
            details: Some(dict(&[
                ("subscription", Value::UInt(1_293_722)),
                ("reason", Value::from("moved")),
            ])),
        },
        Message::Cancel {
            request: 7,
            options: dict(&[("mode", Value::from("kill"))]),
        },
        Message::Register {
            request: 25_349_185,
            options: Dict::new(),
            procedure: s("com.myapp.myprocedure1"),
        },
        Message::Registered {
            request: 25_349_185,
            registration: 2_103_333_224,
        },
        Message::Unregister {
            request: 788_923_562,
            registration: 2_103_333_224,
        },
        Message::Unregistered {
            request: 788_923_562,
        },
        Message::Interrupt {
            request: 9,
            options: dict(&[("mode", Value::from("killnowait"))]),
        },
    ];
    // Payload-carrying messages in all four payload shapes.
    let shapes = [
        (vec![], Dict::new()),
        (args.clone(), Dict::new()),
        (vec![], kwargs.clone()),
        (args, kwargs),
    ];
    for (a, k) in shapes {
        out.push(Message::Abort {
            details: dict(&[("message", Value::from("bye"))]),
            reason: s("wamp.error.no_such_realm"),
            args: a.clone(),
            kwargs: k.clone(),
        });
        out.push(Message::Error {
            request_type: code::CALL,
            request: 3,
            details: Dict::new(),
            error: s("com.myapp.error"),
            args: a.clone(),
            kwargs: k.clone(),
        });
        out.push(Message::Publish {
            request: 239_714_735,
            options: dict(&[("acknowledge", Value::Bool(true))]),
            topic: s("com.myapp.mytopic1"),
            args: a.clone(),
            kwargs: k.clone(),
        });
        out.push(Message::Event {
            subscription: 5_512_315_355,
            publication: 4_429_313_566,
            details: dict(&[("topic", Value::from("com.myapp.mytopic1"))]),
            args: a.clone(),
            kwargs: k.clone(),
        });
        out.push(Message::Call {
            request: 7_814_135,
            options: dict(&[("timeout", Value::UInt(1000))]),
            procedure: s("com.myapp.ping"),
            args: a.clone(),
            kwargs: k.clone(),
        });
        out.push(Message::Result {
            request: 7_814_135,
            details: dict(&[("progress", Value::Bool(true))]),
            args: a.clone(),
            kwargs: k.clone(),
        });
        out.push(Message::Invocation {
            request: 6_131_533,
            registration: 9_823_526,
            details: Dict::new(),
            args: a.clone(),
            kwargs: k.clone(),
        });
        out.push(Message::Yield {
            request: 6_131_533,
            options: Dict::new(),
            args: a,
            kwargs: k,
        });
    }
    out
}
