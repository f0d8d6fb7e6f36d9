//! Unit tests of `codec`, kept beside it so the module itself reads as the code.

use super::super::message::code;
use super::super::samples::{all_messages, dict, s};
use super::super::value::Dict;
use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use Serializer::{Json, MsgPack};

fn json(text: &str) -> Result<Message, DecodeError> {
    decode(Json, text.as_bytes())
}

fn json_out(m: &Message) -> String {
    String::from_utf8(encode(Json, m).to_vec()).expect("JSON is UTF-8")
}

#[test]
fn all_messages_cover_every_code() {
    let mut codes: Vec<u64> = all_messages().iter().map(Message::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(
        codes,
        vec![
            1, 2, 3, 4, 5, 6, 8, 16, 17, 32, 33, 34, 35, 36, 48, 49, 50, 64, 65, 66, 67, 68, 69, 70
        ]
    );
}

#[test]
fn round_trip_every_message_both_formats() {
    for m in all_messages() {
        for ser in Serializer::ALL {
            let bytes = encode(ser, &m);
            assert_eq!(decode(ser, &bytes), Ok(m.clone()), "{ser:?} {}", m.name());
            // encode() and encode_value(to_value()) agree.
            assert_eq!(bytes, encode_value(ser, &m.to_value()), "{ser:?}");
        }
        assert!(std::str::from_utf8(&encode(Json, &m)).is_ok());
    }
}

#[test]
fn serializer_basics() {
    assert_eq!(Json.subprotocol(), "wamp.2.json");
    assert_eq!(MsgPack.subprotocol(), "wamp.2.msgpack");
    assert_eq!(Serializer::from_subprotocol("wamp.2.json"), Some(Json));
    assert_eq!(
        Serializer::from_subprotocol("wamp.2.msgpack"),
        Some(MsgPack)
    );
    assert_eq!(Serializer::from_subprotocol("wamp.2.json.batched"), None);
    assert_eq!(
        Serializer::from_subprotocol("wamp.2.cbor"),
        Some(Serializer::Cbor)
    );
    assert_eq!(Serializer::from_subprotocol("WAMP.2.JSON"), None);
    assert!(!Json.is_binary());
    assert!(MsgPack.is_binary());
    for (i, ser) in Serializer::ALL.into_iter().enumerate() {
        assert_eq!(ser.index(), i);
    }
}

#[test]
fn spec_examples_from_json_text() {
    assert_eq!(
        json(r#"[1,"somerealm",{"roles":{"publisher":{},"subscriber":{}}}]"#),
        Ok(Message::Hello {
            realm: s("somerealm"),
            details: dict(&[(
                "roles",
                Value::Dict(dict(&[
                    ("publisher", Value::Dict(Dict::new())),
                    ("subscriber", Value::Dict(Dict::new())),
                ]))
            )]),
        })
    );
    assert_eq!(
        json(r#"[2,9129137332,{"roles":{"broker":{}}}]"#),
        Ok(Message::Welcome {
            session: 9_129_137_332,
            details: dict(&[(
                "roles",
                Value::Dict(dict(&[("broker", Value::Dict(Dict::new()))]))
            )]),
        })
    );
    assert_eq!(
        json(r#"[3,{"message":"The realm does not exist."},"wamp.error.no_such_realm"]"#),
        Ok(Message::Abort {
            details: dict(&[("message", Value::from("The realm does not exist."))]),
            reason: s("wamp.error.no_such_realm"),
            args: vec![],
            kwargs: Dict::new(),
        })
    );
    assert_eq!(
        json(r#"[6,{"message":"The host is shutting down now."},"wamp.close.system_shutdown"]"#),
        Ok(Message::Goodbye {
            details: dict(&[("message", Value::from("The host is shutting down now."))]),
            reason: s("wamp.close.system_shutdown"),
        })
    );
    assert_eq!(
        json(r#"[6,{},"wamp.close.goodbye_and_out"]"#),
        Ok(Message::Goodbye {
            details: Dict::new(),
            reason: s("wamp.close.goodbye_and_out"),
        })
    );
    assert_eq!(
        json(r#"[32,713845233,{},"com.myapp.mytopic1"]"#),
        Ok(Message::Subscribe {
            request: 713_845_233,
            options: Dict::new(),
            topic: s("com.myapp.mytopic1"),
        })
    );
    assert_eq!(
        json(r#"[33,713845233,5512315355]"#),
        Ok(Message::Subscribed {
            request: 713_845_233,
            subscription: 5_512_315_355,
        })
    );
    assert_eq!(
        json(r#"[16,239714735,{},"com.myapp.mytopic1",["Hello, world!"]]"#),
        Ok(Message::Publish {
            request: 239_714_735,
            options: Dict::new(),
            topic: s("com.myapp.mytopic1"),
            args: vec![Value::from("Hello, world!")],
            kwargs: Dict::new(),
        })
    );
    assert_eq!(
        json(r#"[17,239714735,4429313566]"#),
        Ok(Message::Published {
            request: 239_714_735,
            publication: 4_429_313_566,
        })
    );
    assert_eq!(
        json(r#"[36,5512315355,4429313566,{},[],{"color":"orange","sizes":[23,42,7]}]"#),
        Ok(Message::Event {
            subscription: 5_512_315_355,
            publication: 4_429_313_566,
            details: Dict::new(),
            args: vec![],
            kwargs: dict(&[
                ("color", Value::from("orange")),
                (
                    "sizes",
                    Value::List(vec![Value::UInt(23), Value::UInt(42), Value::UInt(7)])
                ),
            ]),
        })
    );
    assert_eq!(
        json(r#"[34,85346237,5512315355]"#),
        Ok(Message::Unsubscribe {
            request: 85_346_237,
            subscription: 5_512_315_355,
        })
    );
    assert_eq!(
        json(r#"[35,85346237]"#),
        Ok(Message::Unsubscribed {
            request: 85_346_237,
            details: None,
        })
    );
    assert_eq!(
        json(r#"[35,0,{"subscription":1293722,"reason":"moved"}]"#),
        Ok(Message::Unsubscribed {
            request: 0,
            details: Some(dict(&[
                ("subscription", Value::UInt(1_293_722)),
                ("reason", Value::from("moved")),
            ])),
        })
    );
    assert_eq!(
        json(r#"[8,32,713845233,{},"wamp.error.not_authorized"]"#),
        Ok(Message::Error {
            request_type: code::SUBSCRIBE,
            request: 713_845_233,
            details: Dict::new(),
            error: s("wamp.error.not_authorized"),
            args: vec![],
            kwargs: Dict::new(),
        })
    );
    assert_eq!(
        json(
            r#"[8,48,7814135,{},"com.myapp.error.object_write_protected",["Object is write protected."],{"severity":3}]"#
        ),
        Ok(Message::Error {
            request_type: code::CALL,
            request: 7_814_135,
            details: Dict::new(),
            error: s("com.myapp.error.object_write_protected"),
            args: vec![Value::from("Object is write protected.")],
            kwargs: dict(&[("severity", Value::UInt(3))]),
        })
    );
    assert_eq!(
        json(
            r#"[48,7814135,{},"com.myapp.user.new",["johnny"],{"firstname":"John","surname":"Doe"}]"#
        ),
        Ok(Message::Call {
            request: 7_814_135,
            options: Dict::new(),
            procedure: s("com.myapp.user.new"),
            args: vec![Value::from("johnny")],
            kwargs: dict(&[
                ("firstname", Value::from("John")),
                ("surname", Value::from("Doe")),
            ]),
        })
    );
    assert_eq!(
        json(r#"[50,7814135,{},[30]]"#),
        Ok(Message::Result {
            request: 7_814_135,
            details: Dict::new(),
            args: vec![Value::UInt(30)],
            kwargs: Dict::new(),
        })
    );
    assert_eq!(
        json(r#"[64,25349185,{},"com.myapp.myprocedure1"]"#),
        Ok(Message::Register {
            request: 25_349_185,
            options: Dict::new(),
            procedure: s("com.myapp.myprocedure1"),
        })
    );
    assert_eq!(
        json(r#"[68,6131533,9823526,{},["Hello, world!"]]"#),
        Ok(Message::Invocation {
            request: 6_131_533,
            registration: 9_823_526,
            details: Dict::new(),
            args: vec![Value::from("Hello, world!")],
            kwargs: Dict::new(),
        })
    );
    assert_eq!(
        json(r#"[70,6131533,{},["Hello, world!"]]"#),
        Ok(Message::Yield {
            request: 6_131_533,
            options: Dict::new(),
            args: vec![Value::from("Hello, world!")],
            kwargs: Dict::new(),
        })
    );
    assert_eq!(
        json(r#"[4,"wampcra",{"challenge":"{}"}]"#),
        Ok(Message::Challenge {
            authmethod: s("wampcra"),
            extra: dict(&[("challenge", Value::from("{}"))]),
        })
    );
    assert_eq!(
        json(r#"[5,"Pji30JC9tb/T9tbEGvf/AbqR9UU=",{}]"#),
        Ok(Message::Authenticate {
            signature: s("Pji30JC9tb/T9tbEGvf/AbqR9UU="),
            extra: Dict::new(),
        })
    );
    assert_eq!(
        json(r#"[49,7814135,{"mode":"skip"}]"#),
        Ok(Message::Cancel {
            request: 7_814_135,
            options: dict(&[("mode", Value::from("skip"))]),
        })
    );
    assert_eq!(
        json(r#"[69,6131533,{}]"#),
        Ok(Message::Interrupt {
            request: 6_131_533,
            options: Dict::new(),
        })
    );
    assert_eq!(
        json(" [67, 788923562] \n"),
        Ok(Message::Unregistered {
            request: 788_923_562
        })
    );
}

#[test]
fn exact_json_encodings() {
    assert_eq!(
        json_out(&Message::Published {
            request: 1,
            publication: 2
        }),
        "[17,1,2]"
    );
    let event = |args: Vec<Value>, kwargs: Dict| Message::Event {
        subscription: 1,
        publication: 2,
        details: Dict::new(),
        args,
        kwargs,
    };
    assert_eq!(json_out(&event(vec![], Dict::new())), "[36,1,2,{}]");
    assert_eq!(
        json_out(&event(vec![Value::from("x"), Value::Int(-1)], Dict::new())),
        r#"[36,1,2,{},["x",-1]]"#
    );
    assert_eq!(
        json_out(&event(vec![], dict(&[("a", Value::UInt(1))]))),
        r#"[36,1,2,{},[],{"a":1}]"#
    );
    assert_eq!(
        json_out(&event(vec![Value::Null], dict(&[("a", Value::Float(0.5))]))),
        r#"[36,1,2,{},[null],{"a":0.5}]"#
    );
    assert_eq!(
        json_out(&Message::Hello {
            realm: s("realm1"),
            details: dict(&[(
                "roles",
                Value::Dict(dict(&[("caller", Value::Dict(Dict::new()))]))
            )]),
        }),
        r#"[1,"realm1",{"roles":{"caller":{}}}]"#
    );
    assert_eq!(
        json_out(&Message::Unsubscribed {
            request: 0,
            details: Some(dict(&[("subscription", Value::UInt(5))])),
        }),
        r#"[35,0,{"subscription":5}]"#
    );
    assert_eq!(
        json_out(&Message::Unsubscribed {
            request: 4,
            details: None
        }),
        "[35,4]"
    );
    assert_eq!(
        json_out(&Message::Error {
            request_type: 48,
            request: 3,
            details: Dict::new(),
            error: s("wamp.error.no_such_procedure"),
            args: vec![],
            kwargs: Dict::new(),
        }),
        r#"[8,48,3,{},"wamp.error.no_such_procedure"]"#
    );
}

#[test]
fn msgpack_hand_written_bytes() {
    // [1, "realm1", {"roles": {"subscriber": {}}}]
    let mut hello = vec![0x93, 0x01, 0xa6];
    hello.extend_from_slice(b"realm1");
    hello.extend_from_slice(&[0x81, 0xa5]);
    hello.extend_from_slice(b"roles");
    hello.extend_from_slice(&[0x81, 0xaa]);
    hello.extend_from_slice(b"subscriber");
    hello.push(0x80);
    let msg = Message::Hello {
        realm: s("realm1"),
        details: dict(&[(
            "roles",
            Value::Dict(dict(&[("subscriber", Value::Dict(Dict::new()))])),
        )]),
    };
    assert_eq!(decode(MsgPack, &hello), Ok(msg.clone()));
    assert_eq!(encode(MsgPack, &msg).as_ref(), &hello[..]);

    let event = Message::Event {
        subscription: 1,
        publication: 2,
        details: Dict::new(),
        args: vec![],
        kwargs: Dict::new(),
    };
    assert_eq!(
        encode(MsgPack, &event).as_ref(),
        &[0x94, 0x24, 0x01, 0x02, 0x80]
    );
    assert_eq!(decode(MsgPack, &[0x94, 0x24, 0x01, 0x02, 0x80]), Ok(event));

    // [36, 5512315355, 300, {}, ["a"], {"k": bin[1,2]}]
    let bytes = [
        0x96, 0x24, 0xcf, 0x00, 0x00, 0x00, 0x01, 0x48, 0x8f, 0x41, 0xdb, 0xcd, 0x01, 0x2c, 0x80,
        0x91, 0xa1, b'a', 0x81, 0xa1, b'k', 0xc4, 0x02, 0x01, 0x02,
    ];
    let event = Message::Event {
        subscription: 5_512_315_355,
        publication: 300,
        details: Dict::new(),
        args: vec![Value::from("a")],
        kwargs: dict(&[("k", Value::Bin(vec![1, 2]))]),
    };
    assert_eq!(decode(MsgPack, &bytes), Ok(event.clone()));
    assert_eq!(encode(MsgPack, &event).as_ref(), &bytes[..]);
    // kwargs only: [36,1,2,{},[],{"a":1}]
    let kw_only = Message::Event {
        subscription: 1,
        publication: 2,
        details: Dict::new(),
        args: vec![],
        kwargs: dict(&[("a", Value::UInt(1))]),
    };
    assert_eq!(
        encode(MsgPack, &kw_only).as_ref(),
        &[0x96, 0x24, 0x01, 0x02, 0x80, 0x90, 0x81, 0xa1, b'a', 0x01]
    );
}

#[test]
fn wampy_undefined_options_are_removed() {
    // [32, 1, {"match": ext0, "get_retained": ext0, "x": 1}, "com.topic"]
    let mut b = vec![0x94, 0x20, 0x01, 0x83, 0xa5];
    b.extend_from_slice(b"match");
    b.extend_from_slice(&[0xd4, 0x00, 0x00, 0xac]);
    b.extend_from_slice(b"get_retained");
    b.extend_from_slice(&[0xd4, 0x00, 0x00, 0xa1, b'x', 0x01, 0xa9]);
    b.extend_from_slice(b"com.topic");
    assert_eq!(
        decode(MsgPack, &b),
        Ok(Message::Subscribe {
            request: 1,
            options: dict(&[("x", Value::UInt(1))]),
            topic: s("com.topic"),
        })
    );
    // JSON null options are removed the same way.
    assert_eq!(
        json(r#"[32,1,{"match":null},"t"]"#),
        Ok(Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: s("t"),
        })
    );
}

#[test]
fn binary_from_msgpack_reencoded_as_json() {
    // PUBLISH [16, 1, {}, "t", [bin 00 ff 10]] over MessagePack.
    let bytes = [
        0x95, 0x10, 0x01, 0x80, 0xa1, b't', 0x91, 0xc4, 0x03, 0x00, 0xff, 0x10,
    ];
    let Ok(Message::Publish { args, kwargs, .. }) = decode(MsgPack, &bytes) else {
        panic!("PUBLISH expected");
    };
    assert_eq!(args, vec![Value::Bin(vec![0x00, 0xff, 0x10])]);
    let event = Message::Event {
        subscription: 3,
        publication: 4,
        details: Dict::new(),
        args,
        kwargs,
    };
    let text = json_out(&event);
    assert_eq!(text, r#"[36,3,4,{},["\u0000AP8Q"]]"#);
    // And back: the JSON subscriber's view decodes to the same bytes.
    assert_eq!(json(&text), Ok(event.clone()));
    // JSON-published bytes re-encode as MessagePack bin.
    let from_json = json(r#"[36,3,4,{},["\u0000AP8Q"]]"#).expect("valid");
    assert_eq!(
        encode(MsgPack, &from_json).as_ref(),
        &[0x95, 0x24, 0x03, 0x04, 0x80, 0x91, 0xc4, 0x03, 0x00, 0xff, 0x10]
    );
}

#[test]
fn ids() {
    assert_eq!(
        json("[33,3.0,4294967296.0]"),
        Ok(Message::Subscribed {
            request: 3,
            subscription: 4_294_967_296,
        })
    );
    assert_eq!(
        json("[33,1,9007199254740992]"),
        Ok(Message::Subscribed {
            request: 1,
            subscription: 1 << 53,
        })
    );
    for bad in [
        "[33,1,9007199254740993]",
        "[33,1,-1]",
        "[33,1,1.5]",
        "[33,-1.0,1]",
        "[33,1,\"1\"]",
        "[33,1,null]",
        "[33,1,1e300]",
        "[2,18446744073709551615,{}]",
    ] {
        assert!(
            matches!(json(bad), Err(DecodeError::Shape { .. })),
            "{bad}: {:?}",
            json(bad)
        );
    }
    // float64 ID over MessagePack: [17, 1, 4294967296.0]
    let mut b = vec![0x93, 0x11, 0x01, 0xcb];
    b.extend_from_slice(&4_294_967_296f64.to_be_bytes());
    assert_eq!(
        decode(MsgPack, &b),
        Ok(Message::Published {
            request: 1,
            publication: 4_294_967_296,
        })
    );
    let mut b = vec![0x93, 0x11, 0x01, 0xcb];
    b.extend_from_slice(&4.5f64.to_be_bytes());
    assert!(decode(MsgPack, &b).is_err());
    // negative int over MessagePack
    assert!(decode(MsgPack, &[0x93, 0x11, 0x01, 0xff]).is_err());
}

#[test]
fn malformed_inputs() {
    let syntax = |r: Result<Message, DecodeError>| matches!(r, Err(DecodeError::Syntax(_, _)));
    let shape = |r: Result<Message, DecodeError>, name: &str| matches!(r, Err(DecodeError::Shape { message, .. }) if message == name);
    // garbage / invalid syntax
    assert!(syntax(decode(Json, b"\x00\x01garbage")));
    assert!(syntax(json("[1,\"realm\",{}")));
    assert!(syntax(json("")));
    assert!(syntax(decode(Json, b"[1,\"\xff\",{}]")));
    assert!(syntax(decode(MsgPack, b"\xdb\x00\x00\x00\x10garbage")));
    assert!(decode(MsgPack, b"\x00\x01garbage").is_err());
    // not a list / empty list / bad code
    assert_eq!(json(r#"{"a":1}"#), Err(DecodeError::NotAList));
    assert_eq!(json("\"hello\""), Err(DecodeError::NotAList));
    assert_eq!(json("[]"), Err(DecodeError::NotAList));
    assert_eq!(decode(MsgPack, &[0x90]), Err(DecodeError::NotAList));
    assert_eq!(decode(MsgPack, &[0x01]), Err(DecodeError::NotAList));
    assert!(shape(json(r#"["1","realm",{}]"#), "message"));
    assert!(shape(json("[1.5]"), "message"));
    assert_eq!(json("[99]"), Err(DecodeError::UnknownCode(99)));
    assert_eq!(json("[7,1]"), Err(DecodeError::UnknownCode(7)));
    assert_eq!(json("[337,1,2]"), Err(DecodeError::UnknownCode(337)));
    // element types
    assert!(shape(json("[1,42,{}]"), "HELLO"));
    assert!(shape(json(r#"[1,"r",[]]"#), "HELLO"));
    assert!(shape(json(r#"[1,"r"]"#), "HELLO"));
    assert!(shape(json(r#"[6,"x","wamp.close.normal"]"#), "GOODBYE"));
    assert!(shape(json(r#"[32,1,"opts","t"]"#), "SUBSCRIBE"));
    assert!(shape(json(r#"[32,1,{},5]"#), "SUBSCRIBE"));
    // element counts
    assert!(shape(json("[32,1,{}]"), "SUBSCRIBE"));
    assert!(shape(json("[32,1]"), "SUBSCRIBE"));
    assert!(shape(json("[32]"), "SUBSCRIBE"));
    assert!(shape(json(r#"[32,1,{},"t",[]]"#), "SUBSCRIBE"));
    assert!(shape(json(r#"[32,1,{},"t","extra"]"#), "SUBSCRIBE"));
    assert!(shape(json("[17,1,2,3]"), "PUBLISHED"));
    assert!(shape(json("[35,1,{},{}]"), "UNSUBSCRIBED"));
    assert!(shape(json(r#"[36,1,2,{},[],{},"x"]"#), "EVENT"));
    assert!(shape(json(r#"[6,{},"r",[]]"#), "GOODBYE"));
    // payload types
    assert!(shape(json(r#"[16,1,{},"t",{"a":1}]"#), "PUBLISH"));
    assert!(shape(json(r#"[16,1,{},"t","args"]"#), "PUBLISH"));
    assert!(shape(json(r#"[16,1,{},"t",[],[]]"#), "PUBLISH"));
    assert!(shape(json(r#"[50,1,{},null]"#), "RESULT"));
    assert!(shape(json(r#"[70,1,{},[1],"kw"]"#), "YIELD"));
    // invalid UTF-8 in a MessagePack str: [1, str(ff fe), {}]
    assert!(syntax(decode(
        MsgPack,
        &[0x93, 0x01, 0xa2, 0xff, 0xfe, 0x80]
    )));
    // truncated msgpack
    assert!(syntax(decode(MsgPack, &[0x94, 0x24, 0x01, 0x02])));
    // huge declared length
    assert!(syntax(decode(
        MsgPack,
        &[0xdd, 0xff, 0xff, 0xff, 0xff, 0x24]
    )));
    // non-string map key: [1, "r", {1: 2}]
    assert!(syntax(decode(
        MsgPack,
        &[0x93, 0x01, 0xa1, b'r', 0x81, 0x01, 0x02]
    )));
    // trailing bytes
    assert_eq!(
        decode(MsgPack, &[0x94, 0x24, 0x01, 0x02, 0x80, 0x00]),
        Err(DecodeError::Trailing)
    );
    assert_eq!(json("[17,1,2] [17,1,2]"), Err(DecodeError::Trailing));
    // deep nesting in a payload
    let deep = format!("[16,1,{{}},\"t\",{}", "[".repeat(100_000));
    assert!(syntax(json(&deep)));
    let mut deep = vec![0x95, 0x10, 0x01, 0x80, 0xa1, b't'];
    deep.extend(std::iter::repeat_n(0x91, 100_000));
    assert!(syntax(decode(MsgPack, &deep)));
}

#[test]
fn error_display() {
    assert_eq!(
        DecodeError::UnknownCode(99).to_string(),
        "unknown message code 99"
    );
    let e = json("[32,1,{}]").expect_err("too short");
    assert!(e.to_string().starts_with("malformed SUBSCRIBE: "), "{e}");
    let e = decode(MsgPack, &[0xc0, 0x00]).expect_err("trailing");
    assert_eq!(e.to_string(), "trailing bytes after message");
    let e = json("[").expect_err("syntax");
    assert!(
        e.to_string().starts_with("invalid JSON serialization: "),
        "{e}"
    );
    let e = decode(MsgPack, &[0x92]).expect_err("syntax");
    assert!(
        e.to_string()
            .starts_with("invalid MessagePack serialization: "),
        "{e}"
    );
}

/// Decodes must never panic: every prefix of every valid encoding, random
/// byte strings, and random mutations of valid encodings.
#[test]
fn no_panics_on_prefixes_random_and_mutated_input() {
    let mut rng = StdRng::seed_from_u64(0xa11ce);
    let msgs = all_messages();
    for m in &msgs {
        for ser in Serializer::ALL {
            let bytes = encode(ser, m);
            for cut in 0..bytes.len() {
                let prefix = bytes.get(..cut).unwrap_or_default();
                // A strict prefix of a single value is never complete,
                // except JSON numbers (e.g. "[17,1,2" is still incomplete).
                assert!(decode(ser, prefix).is_err(), "{ser:?} prefix {cut}");
            }
            for _ in 0..20 {
                let mut mutated = bytes.to_vec();
                let flips = rng.random_range(1..4);
                for _ in 0..flips {
                    let i = rng.random_range(0..mutated.len());
                    if let Some(b) = mutated.get_mut(i) {
                        *b = rng.random();
                    }
                }
                let _ = decode(ser, &mutated);
            }
        }
    }
    for _ in 0..5_000 {
        let len = rng.random_range(0..48);
        let mut data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if let Some(first) = data.first_mut() {
            // Bias towards arrays so the message layer gets exercised.
            if rng.random_bool(0.5) {
                *first = 0x90 | (*first & 0x0f);
            }
        }
        for ser in Serializer::ALL {
            let _ = decode(ser, &data);
            let _ = decode_value(ser, &data);
        }
    }
    // Random JSON-ish token soup.
    let tokens = [
        "[", "]", "{", "}", ",", ":", "1", "-1", "1.5", "\"a\"", "null", "36", "{}", "[]",
    ];
    for _ in 0..5_000 {
        let n = rng.random_range(0..20);
        let text: String = (0..n)
            .map(|_| *tokens.get(rng.random_range(0..tokens.len())).unwrap_or(&""))
            .collect();
        let _ = json(&text);
    }
}

#[test]
fn batches_split_as_the_spec_frames_them() {
    use super::split_batch;
    let json: Vec<&[u8]> = vec![b"[1]", b"[2,3]"];
    assert_eq!(split_batch(Json, b"[1]\x1e[2,3]\x1e"), Ok(json.clone()));
    // A last message without its separator is still a message.
    assert_eq!(split_batch(Json, b"[1]\x1e[2,3]"), Ok(json));
    let mut binary = Vec::new();
    for m in [&b"\x91\x01"[..], b"\x92\x02\x03"] {
        binary.extend_from_slice(&(m.len() as u32).to_be_bytes());
        binary.extend_from_slice(m);
    }
    assert_eq!(
        split_batch(MsgPack, &binary),
        Ok(vec![&b"\x91\x01"[..], b"\x92\x02\x03"])
    );
    assert!(split_batch(Serializer::Cbor, &binary[..binary.len() - 1]).is_err());
    assert!(split_batch(MsgPack, &[0, 0, 1]).is_err());
    assert!(split_batch(MsgPack, &[0, 0, 0, 9, 1]).is_err());
    assert!(split_batch(Json, b"").is_err());
    assert!(split_batch(MsgPack, b"").is_err());
    assert_eq!(
        Serializer::from_batched_subprotocol("wamp.2.cbor.batched"),
        Some(Serializer::Cbor)
    );
    assert_eq!(Serializer::from_batched_subprotocol("wamp.2.cbor"), None);
}
