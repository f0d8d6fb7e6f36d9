//! The wire formats of calls between nodes: one MessagePack array per [`RemoteCall`], sent to
//! the channel of the node it is for, and the list of procedures a node announces.
//!
//! ```text
//! [ 1, from, realm, kind, call, …]      kind 0 CALL:   procedure, args, kwargs,
//!                                                      receive_progress, progress, timeout_ms | nil,
//!                                                      caller session, authid, authrole, disclose_me,
//!                                                      passthru
//!                                       kind 1 RESULT: args, kwargs, progress, passthru
//!                                       kind 2 ERROR:  error, message, args, kwargs, passthru
//!                                       kind 3 CANCEL: mode ("skip", "kill", "killnowait")
//! [ 1, [realm, procedure, match, invoke], … ]     a node's procedures
//! ```
//!
//! `passthru` is the payload passthru attributes as a dict (empty for an ordinary payload).
//!
//! Like the publication envelope, a message of another version or shape is refused with an
//! [`EnvelopeError`] (counted and logged at debug by the receiver, never fatal).

use bytes::Bytes;

use super::envelope::{open, EnvelopeError, VERSION};
use crate::router::backplane::{Announced, CallerIdentity, RemoteCall};
use crate::router::dealer::{CancelMode, InvokePolicy};
use crate::router::passthru::Passthru;
use wampd_proto::wamp::codec::msgpack_writer as w;
use wampd_proto::wamp::{Dict, MatchPolicy, Value};

const CALL: u64 = 0;
const RESULT: u64 = 1;
const ERROR: u64 = 2;
const CANCEL: u64 = 3;

/// Encodes `message` of a call in `realm`, sent by node `from`.
pub fn encode_call(from: u64, realm: &str, message: &RemoteCall) -> Bytes {
    let mut out = Vec::with_capacity(96);
    let fields = match message {
        RemoteCall::Call { .. } => 11,
        RemoteCall::Result { .. } => 4,
        RemoteCall::Error { .. } => 5,
        RemoteCall::Cancel { .. } => 1,
    };
    w::array_len(&mut out, 5 + fields);
    w::uint(&mut out, VERSION);
    w::uint(&mut out, from);
    w::str(&mut out, realm);
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
            w::uint(&mut out, CALL);
            w::uint(&mut out, *call);
            w::str(&mut out, procedure);
            w::list(&mut out, args);
            w::dict(&mut out, kwargs);
            w::bool(&mut out, *receive_progress);
            w::bool(&mut out, *progress);
            match timeout_ms {
                Some(ms) => w::uint(&mut out, *ms),
                None => w::nil(&mut out),
            }
            w::uint(&mut out, caller.session);
            w::str(&mut out, &caller.authid);
            w::str(&mut out, &caller.authrole);
            w::bool(&mut out, *disclose_me);
            write_passthru(&mut out, passthru.as_ref());
        }
        RemoteCall::Result {
            call,
            args,
            kwargs,
            progress,
            passthru,
        } => {
            w::uint(&mut out, RESULT);
            w::uint(&mut out, *call);
            w::list(&mut out, args);
            w::dict(&mut out, kwargs);
            w::bool(&mut out, *progress);
            write_passthru(&mut out, passthru.as_ref());
        }
        RemoteCall::Error {
            call,
            error,
            message,
            args,
            kwargs,
            passthru,
        } => {
            w::uint(&mut out, ERROR);
            w::uint(&mut out, *call);
            w::str(&mut out, error);
            w::str(&mut out, message);
            w::list(&mut out, args);
            w::dict(&mut out, kwargs);
            write_passthru(&mut out, passthru.as_ref());
        }
        RemoteCall::Cancel { call, mode } => {
            w::uint(&mut out, CANCEL);
            w::uint(&mut out, *call);
            w::str(&mut out, mode.as_str());
        }
    }
    Bytes::from(out)
}

fn write_passthru(out: &mut Vec<u8>, passthru: Option<&Passthru>) {
    w::dict(out, &passthru.map(Passthru::to_dict).unwrap_or_default());
}

/// A decoded call message: who sent it, the realm, the message.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEnvelope {
    /// The sending node.
    pub from: u64,
    /// The realm of the call.
    pub realm: String,
    /// The message.
    pub message: RemoteCall,
}

/// Reads the elements of one envelope in order, each with the name it is refused under.
struct Fields(std::vec::IntoIter<Value>);

impl Fields {
    fn next(&mut self, what: &'static str) -> Result<Value, EnvelopeError> {
        self.0.next().ok_or(EnvelopeError::Malformed(what))
    }

    fn uint(&mut self, what: &'static str) -> Result<u64, EnvelopeError> {
        self.next(what)?
            .as_u64()
            .ok_or(EnvelopeError::Malformed(what))
    }

    fn string(&mut self, what: &'static str) -> Result<String, EnvelopeError> {
        match self.next(what)? {
            Value::Str(s) => Ok(s),
            _ => Err(EnvelopeError::Malformed(what)),
        }
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, EnvelopeError> {
        self.next(what)?
            .as_bool()
            .ok_or(EnvelopeError::Malformed(what))
    }

    fn list(&mut self, what: &'static str) -> Result<Vec<Value>, EnvelopeError> {
        match self.next(what)? {
            Value::List(items) => Ok(items),
            _ => Err(EnvelopeError::Malformed(what)),
        }
    }

    fn dict(&mut self, what: &'static str) -> Result<Dict, EnvelopeError> {
        match self.next(what)? {
            Value::Dict(dict) => Ok(dict),
            _ => Err(EnvelopeError::Malformed(what)),
        }
    }

    fn passthru(&mut self) -> Result<Option<Passthru>, EnvelopeError> {
        Passthru::from_options(&self.dict("passthru")?)
            .map_err(|_| EnvelopeError::Malformed("passthru"))
    }
}

/// Decodes a call message.
pub fn decode_call(data: &[u8]) -> Result<CallEnvelope, EnvelopeError> {
    use EnvelopeError::Malformed;
    let mut f = Fields(open(data)?);
    let from = f.uint("from")?;
    let realm = f.string("realm")?;
    let kind = f.uint("kind")?;
    let call = f.uint("call")?;
    let message = match kind {
        CALL => RemoteCall::Call {
            call,
            procedure: f.string("procedure")?,
            args: f.list("args")?,
            kwargs: f.dict("kwargs")?,
            receive_progress: f.flag("receive_progress")?,
            progress: f.flag("progress")?,
            timeout_ms: match f.next("timeout")? {
                Value::Null => None,
                v => Some(v.as_u64().ok_or(Malformed("timeout"))?),
            },
            caller: CallerIdentity {
                session: f.uint("caller")?,
                authid: f.string("authid")?,
                authrole: f.string("authrole")?,
            },
            disclose_me: f.flag("disclose_me")?,
            passthru: f.passthru()?,
        },
        RESULT => RemoteCall::Result {
            call,
            args: f.list("args")?,
            kwargs: f.dict("kwargs")?,
            progress: f.flag("progress")?,
            passthru: f.passthru()?,
        },
        ERROR => RemoteCall::Error {
            call,
            error: f.string("error")?,
            message: f.string("message")?,
            args: f.list("args")?,
            kwargs: f.dict("kwargs")?,
            passthru: f.passthru()?,
        },
        CANCEL => {
            let mode = f.string("mode")?;
            let mut options = Dict::new();
            options.insert("mode".into(), Value::Str(mode));
            RemoteCall::Cancel {
                call,
                mode: CancelMode::from_options(&options).map_err(|_| Malformed("mode"))?,
            }
        }
        _ => return Err(Malformed("kind")),
    };
    Ok(CallEnvelope {
        from,
        realm,
        message,
    })
}

fn policy_name(policy: MatchPolicy) -> &'static str {
    match policy {
        MatchPolicy::Exact => "exact",
        MatchPolicy::Prefix => "prefix",
        MatchPolicy::Wildcard => "wildcard",
    }
}

/// Encodes a node's procedures.
pub fn encode_procedures(procedures: &[Announced]) -> Bytes {
    let mut out = Vec::with_capacity(16 + 48 * procedures.len());
    w::array_len(&mut out, 1 + procedures.len());
    w::uint(&mut out, VERSION);
    for p in procedures {
        w::array_len(&mut out, 4);
        w::str(&mut out, &p.realm);
        w::str(&mut out, &p.procedure);
        w::str(&mut out, policy_name(p.policy));
        w::str(&mut out, p.invoke.as_str());
    }
    Bytes::from(out)
}

/// Decodes a node's procedures.
pub fn decode_procedures(data: &[u8]) -> Result<Vec<Announced>, EnvelopeError> {
    use EnvelopeError::Malformed;
    let mut all = Vec::new();
    for item in open(data)? {
        let Value::List(fields) = item else {
            return Err(Malformed("procedure"));
        };
        let mut f = Fields(fields.into_iter());
        let realm = f.string("realm")?;
        let procedure = f.string("procedure")?;
        let mut options = Dict::new();
        options.insert("match".into(), Value::Str(f.string("match")?));
        options.insert("invoke".into(), Value::Str(f.string("invoke")?));
        all.push(Announced {
            realm,
            procedure,
            policy: MatchPolicy::from_options(&options).map_err(|_| Malformed("match"))?,
            invoke: InvokePolicy::from_options(&options).map_err(|_| Malformed("invoke"))?,
        });
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(message: RemoteCall) {
        let bytes = encode_call(42, "realm1", &message);
        let decoded = decode_call(&bytes).expect("decodes");
        assert_eq!(
            decoded,
            CallEnvelope {
                from: 42,
                realm: "realm1".into(),
                message
            }
        );
    }

    #[test]
    fn every_kind_of_call_message_survives_the_trip() {
        let mut kwargs = Dict::new();
        kwargs.insert("k".into(), Value::Bin(vec![0, 255]));
        round_trip(RemoteCall::Call {
            call: 7,
            procedure: "com.app.add".into(),
            args: vec![Value::UInt(1), Value::Float(2.5), Value::Null],
            kwargs: kwargs.clone(),
            receive_progress: true,
            progress: false,
            timeout_ms: Some(1500),
            caller: CallerIdentity {
                session: 9,
                authid: "alice".into(),
                authrole: "user".into(),
            },
            disclose_me: true,
            passthru: None,
        });
        let mut ppt = Dict::new();
        ppt.insert("ppt_scheme".into(), Value::from("x_app"));
        let passthru = Passthru::from_options(&ppt).ok().flatten();
        assert!(passthru.is_some());
        round_trip(RemoteCall::Result {
            call: 7,
            args: vec![Value::Str("x".into())],
            kwargs,
            progress: true,
            passthru: passthru.clone(),
        });
        round_trip(RemoteCall::Error {
            call: 7,
            error: "com.app.error".into(),
            message: "no".into(),
            args: Vec::new(),
            kwargs: Dict::new(),
            passthru,
        });
        for mode in [CancelMode::Skip, CancelMode::Kill, CancelMode::KillNoWait] {
            round_trip(RemoteCall::Cancel { call: 7, mode });
        }
    }

    #[test]
    fn procedures_survive_the_trip_and_garbage_is_refused() {
        let announced = vec![
            Announced {
                realm: "realm1".into(),
                procedure: "com.app.".into(),
                policy: MatchPolicy::Prefix,
                invoke: InvokePolicy::RoundRobin,
            },
            Announced {
                realm: "other".into(),
                procedure: "a..c".into(),
                policy: MatchPolicy::Wildcard,
                invoke: InvokePolicy::Single,
            },
        ];
        assert_eq!(
            decode_procedures(&encode_procedures(&announced)).ok(),
            Some(announced)
        );
        assert!(decode_procedures(b"\x91\x02").is_err());
        assert!(decode_call(b"junk").is_err());
        let mut bytes = encode_call(
            1,
            "r",
            &RemoteCall::Cancel {
                call: 1,
                mode: CancelMode::Kill,
            },
        )
        .to_vec();
        bytes.truncate(bytes.len() - 2);
        assert!(decode_call(&bytes).is_err());
    }
}
