//! Unit tests of `v1`, kept beside it so the module itself reads as the code.

use super::super::codec::{self, Serializer};
use super::*;

fn dec(s: &str) -> Result<V1Message, V1Error> {
    decode_client(s.as_bytes())
}

fn json(s: &str) -> Value {
    codec::decode_value(Serializer::Json, s.as_bytes()).expect("test JSON is valid")
}

fn sub(topic: &str) -> V1Message {
    V1Message::Subscribe {
        topic: topic.to_owned(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn oro_publish_frame_and_event_byte_exact() {
    let frame = r#"[7,"oro\/data\/update",[{"username":"admin","tagname":"Oro_Bundle_UserBundle_Entity_User_1"}],[],[]]"#;
    let msg = dec(frame).expect("Oro's publish frame decodes");
    let V1Message::Publish {
        topic,
        event,
        exclude,
        eligible,
    } = msg.clone()
    else {
        panic!("not a PUBLISH: {msg:?}");
    };
    assert_eq!(topic, "oro/data/update");
    assert_eq!(exclude, Exclude::Sessions(vec![]));
    assert!(eligible.is_empty());
    // Re-encoding the PUBLISH reproduces the client's bytes.
    assert_eq!(encode(&msg), frame);
    let ev = V1Message::Event { topic, event };
    assert_eq!(
        encode(&ev),
        r#"[8,"oro\/data\/update",[{"username":"admin","tagname":"Oro_Bundle_UserBundle_Entity_User_1"}]]"#
    );
}

#[test]
fn other_oro_frames() {
    let m = dec(r#"[7,"oro\/maintenance",{"isOn":true,"userId":null},[],[]]"#).expect("ok");
    assert_eq!(
        encode(&m),
        r#"[7,"oro\/maintenance",{"isOn":true,"userId":null},[],[]]"#
    );
    let m = dec(r#"[7,"oro\/message_queue_heartbeat","",[],[]]"#).expect("ok");
    assert_eq!(
        m,
        V1Message::Publish {
            topic: "oro/message_queue_heartbeat".into(),
            event: Payload::new(Value::Str(String::new())),
            exclude: Exclude::Sessions(vec![]),
            eligible: vec![],
        }
    );
    let ping = V1Message::Event {
        topic: "oro/ping".into(),
        event: Payload::new(Value::from("Connection keep alive")),
    };
    assert_eq!(encode(&ping), r#"[8,"oro\/ping","Connection keep alive"]"#);
    assert_eq!(dec(r#"[5,"oro/ping"]"#), Ok(sub("oro/ping")));
    assert_eq!(
        dec(r#"[6,"oro/data/update"]"#),
        Ok(V1Message::Unsubscribe {
            topic: "oro/data/update".into()
        })
    );
    let err = V1Message::CallError {
        call_id: "3k2j1".into(),
        error_uri: "oro/ping".into(),
        desc: r#"A RPC handler for the "oro_sync.ping" route has not been registered."#.into(),
        details: Some(json(r#"{"code":404,"rpc":{},"params":[],"request":{}}"#)),
    };
    assert_eq!(
        encode(&err),
        r#"[4,"3k2j1","oro\/ping","A RPC handler for the \"oro_sync.ping\" route has not been registered.",{"code":404,"params":[],"request":{},"rpc":{}}]"#
    );
}

#[test]
fn welcome_encoding() {
    let w = V1Message::welcome("18936748655f1a2b3c4d5e6f712345678");
    assert_eq!(
        encode(&w),
        r#"[0,"18936748655f1a2b3c4d5e6f712345678",1,"Ratchet\/0.4.4"]"#
    );
    assert_eq!(w.code(), MSG_WELCOME);
    // A server must never accept WELCOME from a client.
    assert!(matches!(dec(&encode(&w)), Err(V1Error::InvalidType(_))));
}

#[test]
fn every_message_type_encodes() {
    let cases: Vec<(V1Message, &str)> = vec![
        (
            V1Message::Prefix {
                prefix: "event".into(),
                uri: "http://example.com/event/".into(),
            },
            r#"[1,"event","http:\/\/example.com\/event\/"]"#,
        ),
        (
            V1Message::Call {
                call_id: "c1".into(),
                proc_uri: "calc:add".into(),
                args: vec![Value::UInt(1), Value::Int(-2)],
            },
            r#"[2,"c1","calc:add",1,-2]"#,
        ),
        (
            V1Message::Call {
                call_id: "c2".into(),
                proc_uri: "p".into(),
                args: vec![],
            },
            r#"[2,"c2","p"]"#,
        ),
        (
            V1Message::CallResult {
                call_id: "c1".into(),
                result: Value::Float(1.5),
            },
            r#"[3,"c1",1.5]"#,
        ),
        (
            V1Message::CallError {
                call_id: "c1".into(),
                error_uri: "err".into(),
                desc: "d".into(),
                details: None,
            },
            r#"[4,"c1","err","d"]"#,
        ),
        (sub("a/b"), r#"[5,"a\/b"]"#),
        (V1Message::Unsubscribe { topic: "t".into() }, r#"[6,"t"]"#),
        (
            V1Message::Publish {
                topic: "t".into(),
                event: Payload::new(Value::Null),
                exclude: Exclude::None,
                eligible: vec![],
            },
            r#"[7,"t",null,[],[]]"#,
        ),
        (
            V1Message::Publish {
                topic: "t".into(),
                event: Payload::new(Value::from(1u64)),
                exclude: Exclude::Me,
                eligible: strings(&["a"]),
            },
            r#"[7,"t",1,true,["a"]]"#,
        ),
        (
            V1Message::Publish {
                topic: "t".into(),
                event: Payload::new(Value::from("x")),
                exclude: Exclude::Sessions(strings(&["1", "2"])),
                eligible: vec![],
            },
            r#"[7,"t","x",["1","2"],[]]"#,
        ),
        (
            V1Message::Event {
                topic: "t".into(),
                event: Payload::new(Value::Dict(Dict::new())),
            },
            r#"[8,"t",{}]"#,
        ),
    ];
    for (msg, want) in cases {
        assert_eq!(encode(&msg), want, "{msg:?}");
    }
}

#[test]
fn client_messages_round_trip() {
    let msgs = vec![
        V1Message::Prefix {
            prefix: "p".into(),
            uri: "http://x/y#".into(),
        },
        V1Message::Call {
            call_id: "id".into(),
            proc_uri: "p:add".into(),
            args: vec![Value::UInt(1), Value::from("two"), Value::Null],
        },
        sub("oro/ping"),
        V1Message::Unsubscribe {
            topic: "oro/ping".into(),
        },
        V1Message::Publish {
            topic: "t".into(),
            event: Payload::new(json(r#"{"a":[1,2.5,"é"]}"#)),
            exclude: Exclude::Me,
            eligible: strings(&["s1", "s2"]),
        },
        V1Message::Publish {
            topic: "t".into(),
            event: Payload::new(Value::Null),
            exclude: Exclude::Sessions(strings(&["s1"])),
            eligible: vec![],
        },
    ];
    for m in msgs {
        assert_eq!(dec(&encode(&m)), Ok(m.clone()), "{m:?}");
    }
}

#[test]
fn server_only_types_rejected() {
    for frame in [
        r#"[0,"s",1,"x"]"#,
        r#"[3,"c",1]"#,
        r#"[4,"c","e","d"]"#,
        r#"[8,"t",1]"#,
        r#"[9,"t"]"#,
        r#"[-1,"t"]"#,
        r#"[-0,"t"]"#,
    ] {
        assert!(
            matches!(dec(frame), Err(V1Error::InvalidType(_))),
            "{frame}"
        );
    }
    assert_eq!(dec("[]"), Err(V1Error::InvalidType("missing".into())));
}

#[test]
fn loose_type_comparison() {
    // Cross-checked with PHP 8.2 (`switch` over json_decode'd values).
    let subscribe = [
        r#"["5","t"]"#,
        r#"[5.0,"t"]"#,
        r#"[" 5","t"]"#,
        r#"["5 ","t"]"#,
        r#"["\n5","t"]"#,
        r#"["5.","t"]"#,
        r#"[".5e1","t"]"#,
        r#"["+5","t"]"#,
        r#"["05","t"]"#,
        r#"["5e0","t"]"#,
        r#"[5.0000000000000001,"t"]"#,
        r#"["5.0000000000000001","t"]"#,
    ];
    for f in subscribe {
        assert_eq!(dec(f), Ok(sub("t")), "{f}");
    }
    let invalid = [
        r#"["0x5","t"]"#,
        r#"["5abc","t"]"#,
        r#"[5.5,"t"]"#,
        r#"[[5],"t"]"#,
        r#"[{"a":5},"t"]"#,
        r#"["","t"]"#,
        r#"["\u00a05","t"]"#,
        r#"["5\u0000","t"]"#,
        r#"[false,"t"]"#,
        r#"[null,"t"]"#,
        r#"["1e1","t"]"#,
        r#"["inf","t"]"#,
        r#"["NaN","t"]"#,
        r#"["5e","t"]"#,
    ];
    for f in invalid {
        assert!(matches!(dec(f), Err(V1Error::InvalidType(_))), "{f}");
    }
    // true == 1 (PREFIX is the first case); 1e0 == 1.
    let prefix = V1Message::Prefix {
        prefix: "t".into(),
        uri: "u".into(),
    };
    assert_eq!(dec(r#"[true,"t","u"]"#), Ok(prefix.clone()));
    assert_eq!(dec(r#"[1e0,"t","u"]"#), Ok(prefix.clone()));
    assert_eq!(dec(r#"["1","t","u"]"#), Ok(prefix));
    assert!(matches!(
        dec(r#"["6.0","t"]"#),
        Ok(V1Message::Unsubscribe { .. })
    ));
    assert!(matches!(dec(r#"["7","t"]"#), Ok(V1Message::Publish { .. })));
    assert!(matches!(
        dec(r#"[2.0,"c","p"]"#),
        Ok(V1Message::Call { .. })
    ));
}

#[test]
fn json_and_format_errors() {
    assert_eq!(dec("null"), Err(V1Error::InvalidJson));
    assert_eq!(dec(" null "), Err(V1Error::InvalidJson));
    assert_eq!(dec(""), Err(V1Error::InvalidJson));
    assert_eq!(dec("[5,"), Err(V1Error::InvalidJson));
    assert_eq!(dec(r#"[5,"t"]x"#), Err(V1Error::InvalidJson));
    assert_eq!(decode_client(b"[5,\"\xff\"]"), Err(V1Error::InvalidJson));
    assert_eq!(dec(r#"[5,"\ud800"]"#), Err(V1Error::InvalidJson));
    assert_eq!(dec(r#"[5,"t"] "#), Ok(sub("t")));
    for f in ["5", r#""x""#, "true", "1.5", r#"{"0":5,"1":"t"}"#, "{}"] {
        assert_eq!(dec(f), Err(V1Error::NotAList), "{f}");
    }
    assert_eq!(
        V1Error::InvalidJson.to_string(),
        "Syntax error, malformed JSON"
    );
    assert_eq!(V1Error::NotAList.to_string(), "Invalid WAMP message format");
    assert_eq!(
        V1Error::InvalidTopic.to_string(),
        "Invalid Topic, must be a string"
    );
    assert!(V1Error::InvalidType("9".into())
        .to_string()
        .starts_with("Invalid WAMP message type"));
}

#[test]
fn topic_must_be_string_or_number() {
    for f in [
        r#"[5,true]"#,
        r#"[5,false]"#,
        r#"[5,[]]"#,
        r#"[5,{}]"#,
        r#"[5,["t"]]"#,
        // Checked before the type, like Ratchet.
        r#"[9,true]"#,
        r#"[7,{"a":1},1]"#,
    ] {
        assert_eq!(dec(f), Err(V1Error::InvalidTopic), "{f}");
    }
    // Numbers are topics in PHP's string form.
    assert_eq!(dec("[5,5]"), Ok(sub("5")));
    assert_eq!(dec("[5,-5]"), Ok(sub("-5")));
    assert_eq!(dec("[5,5.5]"), Ok(sub("5.5")));
    assert_eq!(dec("[5,5.0]"), Ok(sub("5")));
    assert_eq!(dec("[5,1e300]"), Ok(sub("1.0E+300")));
    assert_eq!(
        dec("[5,18446744073709551615]"),
        Ok(sub("1.844674407371E+19"))
    );
    // null passes Ratchet's check but is not a usable topic.
    assert!(matches!(dec("[5,null]"), Err(V1Error::Shape(_))));
    assert!(matches!(dec("[5]"), Err(V1Error::Shape(_))));
    assert!(matches!(dec("[6]"), Err(V1Error::Shape(_))));
    assert!(matches!(dec("[7]"), Err(V1Error::Shape(_))));
    // Extra elements are ignored.
    assert_eq!(dec(r#"[5,"t",1,2]"#), Ok(sub("t")));
    // Binary-convention strings survive as strings.
    assert_eq!(dec(r#"[5,"\u0000AAEC"]"#), Ok(sub("\0AAEC")));
}

#[test]
fn prefix_decoding() {
    assert_eq!(
        dec(r#"[1,"calc","http://example.com/simple/calc#"]"#),
        Ok(V1Message::Prefix {
            prefix: "calc".into(),
            uri: "http://example.com/simple/calc#".into()
        })
    );
    assert_eq!(
        dec(r#"[1,7,8]"#),
        Ok(V1Message::Prefix {
            prefix: "7".into(),
            uri: "8".into()
        })
    );
    for f in [
        r#"[1,"p"]"#,
        r#"[1,"p",null]"#,
        r#"[1,"p",[]]"#,
        r#"[1,"p",true]"#,
    ] {
        assert!(matches!(dec(f), Err(V1Error::Shape(_))), "{f}");
    }
}

#[test]
fn call_decoding() {
    let call = |id: &str, p: &str, args: Vec<Value>| V1Message::Call {
        call_id: id.into(),
        proc_uri: p.into(),
        args,
    };
    assert_eq!(
        dec(r#"[2,"id","proc",1,"a"]"#),
        Ok(call("id", "proc", vec![Value::UInt(1), Value::from("a")]))
    );
    // Exactly one list argument is spread.
    assert_eq!(
        dec(r#"[2,"id","proc",[1,2]]"#),
        Ok(call("id", "proc", vec![Value::UInt(1), Value::UInt(2)]))
    );
    assert_eq!(dec(r#"[2,"id","proc",[]]"#), Ok(call("id", "proc", vec![])));
    // Two lists are two arguments.
    assert_eq!(
        dec(r#"[2,"id","proc",[1],[2]]"#),
        Ok(call("id", "proc", vec![json("[1]"), json("[2]")]))
    );
    // A single object stays one argument (deviation, see module docs).
    assert_eq!(
        dec(r#"[2,"id","proc",{"a":1}]"#),
        Ok(call("id", "proc", vec![json(r#"{"a":1}"#)]))
    );
    assert_eq!(dec(r#"[2,"id","proc"]"#), Ok(call("id", "proc", vec![])));
    assert_eq!(dec(r#"[2,12,"proc"]"#), Ok(call("12", "proc", vec![])));
    for f in [
        r#"[2]"#,
        r#"[2,"id"]"#,
        r#"[2,"id",null]"#,
        r#"[2,"id",[]]"#,
        r#"[2,null,"p"]"#,
    ] {
        assert!(matches!(dec(f), Err(V1Error::Shape(_))), "{f}");
    }
}

#[test]
fn publish_exclude_and_eligible_forms() {
    let publish = |exclude: Exclude, eligible: Vec<String>| V1Message::Publish {
        topic: "t".into(),
        event: Payload::new(Value::from("e")),
        exclude,
        eligible,
    };
    let cases: Vec<(&str, V1Message)> = vec![
        (r#"[7,"t","e"]"#, publish(Exclude::None, vec![])),
        (r#"[7,"t","e",true]"#, publish(Exclude::Me, vec![])),
        (r#"[7,"t","e",false]"#, publish(Exclude::None, vec![])),
        (r#"[7,"t","e",null]"#, publish(Exclude::None, vec![])),
        (r#"[7,"t","e",0]"#, publish(Exclude::None, vec![])),
        (r#"[7,"t","e",0.0]"#, publish(Exclude::None, vec![])),
        (r#"[7,"t","e",""]"#, publish(Exclude::None, vec![])),
        (r#"[7,"t","e","0"]"#, publish(Exclude::None, vec![])),
        (r#"[7,"t","e",1]"#, publish(Exclude::Me, vec![])),
        (r#"[7,"t","e","false"]"#, publish(Exclude::Me, vec![])),
        (r#"[7,"t","e","0.0"]"#, publish(Exclude::Me, vec![])),
        (
            r#"[7,"t","e",[]]"#,
            publish(Exclude::Sessions(vec![]), vec![]),
        ),
        (
            r#"[7,"t","e",["a","b"]]"#,
            publish(Exclude::Sessions(strings(&["a", "b"])), vec![]),
        ),
        (
            r#"[7,"t","e",[12,3.0,1.5,true,null,["x"]]]"#,
            publish(Exclude::Sessions(strings(&["12", "3", "1.5"])), vec![]),
        ),
        (
            r#"[7,"t","e",{"x":"a"}]"#,
            publish(Exclude::Sessions(strings(&["a"])), vec![]),
        ),
        (
            r#"[7,"t","e",[],["a"]]"#,
            publish(Exclude::Sessions(vec![]), strings(&["a"])),
        ),
        (
            r#"[7,"t","e",false,["a","b"]]"#,
            publish(Exclude::None, strings(&["a", "b"])),
        ),
        (r#"[7,"t","e",true,[]]"#, publish(Exclude::Me, vec![])),
        (
            r#"[7,"t","e",true,{"k":"a"}]"#,
            publish(Exclude::Me, strings(&["a"])),
        ),
    ];
    for (frame, want) in cases {
        assert_eq!(dec(frame), Ok(want), "{frame}");
    }
    // Missing event: PHP reads null (with a warning).
    assert_eq!(
        dec(r#"[7,"t"]"#),
        Ok(V1Message::Publish {
            topic: "t".into(),
            event: Payload::new(Value::Null),
            exclude: Exclude::None,
            eligible: vec![]
        })
    );
    // Non-array eligible would be a PHP TypeError.
    for f in [
        r#"[7,"t","e",[],null]"#,
        r#"[7,"t","e",[],"a"]"#,
        r#"[7,"t","e",[],true]"#,
    ] {
        assert!(matches!(dec(f), Err(V1Error::Shape(_))), "{f}");
    }
}

#[test]
fn delivery_filter() {
    let none: Vec<String> = vec![];
    assert!(should_deliver(&Exclude::None, &none, "p", "p"));
    assert!(should_deliver(&Exclude::None, &none, "p", "s"));
    assert!(!should_deliver(&Exclude::Me, &none, "p", "p"));
    assert!(should_deliver(&Exclude::Me, &none, "p", "s"));
    let ex = Exclude::Sessions(strings(&["s"]));
    assert!(!should_deliver(&ex, &none, "p", "s"));
    assert!(should_deliver(&ex, &none, "p", "p"));
    let el = strings(&["a"]);
    assert!(should_deliver(&Exclude::None, &el, "p", "a"));
    assert!(!should_deliver(&Exclude::None, &el, "p", "b"));
    assert!(!should_deliver(
        &Exclude::Sessions(strings(&["a"])),
        &el,
        "p",
        "a"
    ));
}

#[test]
fn php_escaping_in_frames() {
    let ev = V1Message::Event {
        topic: "oro/é".into(),
        event: Payload::new(json(r#"{"k/é":"😀"}"#)),
    };
    assert_eq!(
        encode(&ev),
        r#"[8,"oro\/\u00e9",{"k\/\u00e9":"\ud83d\ude00"}]"#
    );
    let m = dec(r#"[7,"t",{"s":"a/é😀\u0001","n":[5.0,1e17,0.00001]}]"#).expect("ok");
    let V1Message::Publish { event, .. } = m else {
        panic!("not a PUBLISH");
    };
    assert_eq!(
        encode_event("t", &event),
        r#"[8,"t",{"s":"a\/\u00e9\ud83d\ude00\u0001","n":[5,1.0e+17,1.0e-5]}]"#
    );
}

#[test]
fn payload_key_order_is_preserved() {
    let frame = r#"[7,"t",{"z":1,"a":{"y":2,"b":[{"k":1,"c":2}]},"z":3}]"#;
    let V1Message::Publish { topic, event, .. } = dec(frame).expect("ok") else {
        panic!("not a PUBLISH");
    };
    // PHP: a repeated key keeps its first position and its last value.
    assert_eq!(
        event.php_json(),
        r#"{"z":3,"a":{"y":2,"b":[{"k":1,"c":2}]}}"#
    );
    assert_eq!(
        encode_event(&topic, &event),
        r#"[8,"t",{"z":3,"a":{"y":2,"b":[{"k":1,"c":2}]}}]"#
    );
    assert_eq!(
        encode(&V1Message::Event {
            topic: topic.clone(),
            event: event.clone()
        }),
        encode_event(&topic, &event)
    );
    // The value model sees the same data (keys sorted).
    assert_eq!(
        event.value(),
        &json(r#"{"a":{"b":[{"c":2,"k":1}],"y":2},"z":3}"#)
    );
    assert_eq!(
        to_php_json(event.value()),
        r#"{"a":{"b":[{"c":2,"k":1}],"y":2},"z":3}"#
    );
    // Payloads built from values use sorted keys.
    let p = Payload::from(json(r#"{"b":1,"a":2}"#));
    assert_eq!(p.php_json(), r#"{"a":2,"b":1}"#);
    assert_eq!(p.clone().into_value(), json(r#"{"a":2,"b":1}"#));
    // Binary-convention strings: Bin for v2, the original string for v1.
    let V1Message::Publish { event, .. } = dec(r#"[7,"t","\u0000AQID"]"#).expect("ok") else {
        panic!("not a PUBLISH");
    };
    assert_eq!(event.value(), &Value::Bin(vec![1, 2, 3]));
    assert_eq!(event.php_json(), r#""\u0000AQID""#);
}

#[test]
fn curie_resolution() {
    let mut p = Prefixes::new();
    assert!(p.is_empty());
    assert!(p.set("calc", "http://example.com/simple/calc"));
    assert!(p.set("event", "http://example.com/event"));
    assert_eq!(p.len(), 2);
    assert_eq!(
        p.resolve("calc:square"),
        "http://example.com/simple/calc#square"
    );
    assert_eq!(p.resolve("event:a:b"), "http://example.com/event#a");
    assert_eq!(p.resolve("event:"), "http://example.com/event#");
    assert_eq!(p.resolve("unknown:x"), "unknown:x");
    assert_eq!(p.resolve("oro/data/update"), "oro/data/update");
    assert_eq!(p.resolve("calc"), "calc");
    // Anything containing http(s*):// is left alone, even a known prefix.
    assert!(p.set("http", "http://evil"));
    assert_eq!(p.resolve("http://example.com/x"), "http://example.com/x");
    assert_eq!(p.resolve("https://example.com/x"), "https://example.com/x");
    assert_eq!(p.resolve("calc:httpsss://x"), "calc:httpsss://x");
    assert_eq!(p.resolve("http:x"), "http://evil#x");
    // Case-sensitive regex: HTTP:// does not match, so the CURIE applies.
    assert!(p.set("HTTP", "H"));
    assert_eq!(p.resolve("HTTP://x"), "H#//x");
    // Redefinition replaces.
    assert!(p.set("calc", "urn:c"));
    assert_eq!(p.resolve("calc:sq"), "urn:c#sq");
    // Empty prefix.
    assert!(p.set("", "urn:empty"));
    assert_eq!(p.resolve(":x"), "urn:empty#x");
}

#[test]
fn prefix_bounds() {
    let mut p = Prefixes::new();
    for i in 0..MAX_PREFIXES {
        assert!(p.set(&format!("p{i}"), "u"));
    }
    assert!(!p.set("one-too-many", "u"));
    assert_eq!(p.resolve("one-too-many:x"), "one-too-many:x");
    assert!(p.set("p0", "v"), "redefinition still allowed at capacity");
    assert_eq!(p.resolve("p0:x"), "v#x");
    let mut q = Prefixes::new();
    assert!(!q.set(&"x".repeat(MAX_PREFIX_LEN + 1), "u"));
    assert!(!q.set("x", &"u".repeat(MAX_PREFIX_URI_LEN + 1)));
    assert!(q.set(&"x".repeat(MAX_PREFIX_LEN), &"u".repeat(MAX_PREFIX_URI_LEN)));
}

#[test]
fn bridging_table() {
    let x = Value::from("x");
    let y = Value::UInt(2);
    let mut kw = Dict::new();
    kw.insert("k".into(), Value::Bool(true));
    let empty = Dict::new();
    assert_eq!(bridge_v2_to_v1(&[], &empty), Value::Null);
    assert_eq!(bridge_v2_to_v1(std::slice::from_ref(&x), &empty), x);
    assert_eq!(
        bridge_v2_to_v1(&[x.clone(), y.clone()], &empty),
        Value::List(vec![x.clone(), y.clone()])
    );
    assert_eq!(bridge_v2_to_v1(&[], &kw), Value::Dict(kw.clone()));
    assert_eq!(
        to_php_json(&bridge_v2_to_v1(&[x.clone(), y], &kw)),
        r#"{"args":["x",2],"kwargs":{"k":true}}"#
    );
    // A single list argument stays a list (not spread).
    let l = json("[1,2]");
    assert_eq!(bridge_v2_to_v1(std::slice::from_ref(&l), &empty), l);
    // Binary → JSON binary convention for v1 subscribers.
    let bin = bridge_v2_to_v1(&[Value::Bin(vec![1, 2, 3])], &empty);
    assert_eq!(to_php_json(&bin), r#""\u0000AQID""#);

    assert_eq!(bridge_v1_to_v2(x.clone()), (vec![x.clone()], Dict::new()));
    assert_eq!(
        bridge_v1_to_v2(Value::Null),
        (vec![Value::Null], Dict::new())
    );
    let d = json(r#"{"args":[1]}"#);
    assert_eq!(bridge_v1_to_v2(d.clone()), (vec![d], Dict::new()));
    // v1 → v2 → v1 is the identity.
    for e in [x, Value::Null, json("[1,[2]]"), json(r#"{"a":1}"#)] {
        let (args, kwargs) = bridge_v1_to_v2(e.clone());
        assert_eq!(bridge_v2_to_v1(&args, &kwargs), e);
    }
}

#[test]
fn numeric_string_grammar() {
    assert_eq!(php_numeric_string("5"), Some(5.0));
    assert_eq!(php_numeric_string(" \t\n\r\u{0B}\u{0C}5 \t"), Some(5.0));
    assert_eq!(php_numeric_string("-.5"), Some(-0.5));
    assert_eq!(php_numeric_string("5.e1"), Some(50.0));
    assert_eq!(php_numeric_string("5E+1"), Some(50.0));
    assert_eq!(php_numeric_string("."), None);
    assert_eq!(php_numeric_string("+"), None);
    assert_eq!(php_numeric_string(""), None);
    assert_eq!(php_numeric_string("5 5"), None);
    assert_eq!(php_numeric_string("infinity"), None);
    assert_eq!(php_numeric_string("1_000"), None);
}

#[test]
fn random_input_never_panics() {
    // Deterministic xorshift so failures are reproducible.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"[]{}\",:0123456789.-+eEtruefalsn \\/u\x00\xff";
    for round in 0..20_000 {
        let len = (next() % 48) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if round % 2 == 0 {
                    alphabet[(r % alphabet.len() as u64) as usize]
                } else {
                    r as u8
                }
            })
            .collect();
        if let Ok(m) = decode_client(&bytes) {
            let _ = encode(&m);
        }
    }
    // Structured near-misses around real frames.
    let base = br#"[7,"oro\/data\/update",[{"username":"admin"}],[],[]]"#;
    for i in 0..base.len() {
        for b in [b'[', b']', b'"', b'1', b'x', 0u8] {
            let mut m = base.to_vec();
            m[i] = b;
            if let Ok(msg) = decode_client(&m) {
                let _ = encode(&msg);
            }
            let mut t = base.to_vec();
            t.truncate(i);
            let _ = decode_client(&t);
        }
    }
}
