//! Payload passthru mode: payloads the router forwards without reading, for end-to-end
//! encryption and for payloads in other formats (MQTT, …).
//!
//! Two forms exist and both are forwarded:
//! * the spec's Payload Passthru Mode: `ppt_scheme` (required), `ppt_serializer`, `ppt_cipher`,
//!   `ppt_keyid` in the Options of PUBLISH, CALL, YIELD and ERROR, the payload one binary
//!   argument;
//! * autobahn's payload transparency (its WAMP-cryptobox end-to-end encryption): `enc_algo`,
//!   `enc_key`, `enc_serializer`, the payload one binary in place of the arguments list (the
//!   codec handles the placement, see [`wampd_proto::wamp::message::TRANSPARENT_PAYLOAD`]).
//!
//! The attributes are copied unchanged into the Details of the EVENT, INVOCATION, RESULT or
//! ERROR that carries the payload on, on this node or across the cluster, and the payload stays
//! the same bytes (re-framed only between serializers, as every binary is). What the router
//! checks is only what it must to forward them: the attributes are strings, and the payload is
//! one binary with no keyword arguments. A callee must have announced the feature
//! (`payload_passthru_mode`, or autobahn's `payload_transparency`), else its caller gets
//! `wamp.error.feature_not_supported`, as the spec says; subscribers cannot be checked (the spec
//! leaves that to them). Senders are not required to have announced it: autobahn announces
//! `payload_transparency` where the spec says `payload_passthru_mode`, and refusing either
//! would refuse the other's clients.

use crate::router::refusal::Refusal;
use wampd_proto::wamp::{error_uri, Dict, OptionError, Value};

/// The spec's attributes; `ppt_scheme` is required when any is present.
const PPT: [&str; 4] = ["ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"];
/// autobahn's attributes; `enc_algo` is required when any is present.
const ENC: [&str; 3] = ["enc_algo", "enc_key", "enc_serializer"];

/// The HELLO feature names under which a peer announces that it takes such payloads.
pub const FEATURES: [&str; 2] = ["payload_passthru_mode", "payload_transparency"];

/// The passthru attributes of one message, to be copied into what carries its payload on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Passthru(Vec<(&'static str, String)>);

impl Passthru {
    /// The attributes in `options` (type-checked); `None` for an ordinary message.
    pub fn from_options(options: &Dict) -> Result<Option<Passthru>, OptionError> {
        let mut found = Vec::new();
        for key in PPT.iter().chain(ENC.iter()) {
            match options.get(*key) {
                None => {}
                Some(Value::Str(s)) => found.push((*key, s.clone())),
                Some(_) => return Err(OptionError::invalid(key, "a string")),
            }
        }
        if found.is_empty() {
            return Ok(None);
        }
        let given = |names: &[&str]| found.iter().any(|(k, _)| names.contains(k));
        let set = |name: &str| found.iter().any(|(k, v)| *k == name && !v.is_empty());
        if given(&PPT) && !set("ppt_scheme") {
            return Err(OptionError::invalid(
                "ppt_scheme",
                "a non-empty string whenever a ppt_ option is given",
            ));
        }
        if given(&ENC) && !set("enc_algo") {
            return Err(OptionError::invalid(
                "enc_algo",
                "a non-empty string whenever an enc_ option is given",
            ));
        }
        Ok(Some(Passthru(found)))
    }

    /// The payload a passthru message must have: one binary argument, no keyword arguments.
    pub fn check_payload(args: &[Value], kwargs: &Dict) -> Result<(), Refusal> {
        if matches!(args, [Value::Bin(_)]) && kwargs.is_empty() {
            return Ok(());
        }
        Err(Refusal::new(
            error_uri::INVALID_ARGUMENT,
            "in payload passthru mode the payload is one binary argument and no keyword arguments",
        ))
    }

    /// [`Passthru::from_options`] and [`Passthru::check_payload`] together.
    pub fn parse(
        options: &Dict,
        args: &[Value],
        kwargs: &Dict,
    ) -> Result<Option<Passthru>, Refusal> {
        let found = Passthru::from_options(options)?;
        if found.is_some() {
            Passthru::check_payload(args, kwargs)?;
        }
        Ok(found)
    }

    /// Copies the attributes into `details`.
    pub fn insert_into(&self, details: &mut Dict) {
        for (key, value) in &self.0 {
            details.insert((*key).to_owned(), Value::Str(value.clone()));
        }
    }

    /// The attributes as a dict (how they travel between nodes).
    pub fn to_dict(&self) -> Dict {
        let mut dict = Dict::new();
        self.insert_into(&mut dict);
        dict
    }
}

/// Whether a role's `HELLO.Details.roles.<role>.features` announce passthru payloads (under
/// either name).
pub fn announced(features: Option<&Dict>) -> bool {
    FEATURES.iter().any(|name| {
        features
            .and_then(|f| f.get(*name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, Value)]) -> Dict {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn both_forms_are_taken_and_checked() {
        let blob = vec![Value::Bin(vec![1, 2, 3])];
        let none = Dict::new();
        assert_eq!(
            Passthru::parse(&dict(&[("acknowledge", Value::Bool(true))]), &[], &none),
            Ok(None)
        );
        let ppt = dict(&[
            ("ppt_scheme", Value::from("wamp.eth")),
            ("ppt_serializer", Value::from("cbor")),
            ("acknowledge", Value::Bool(true)),
        ]);
        let parsed = Passthru::parse(&ppt, &blob, &none).ok().flatten();
        let parsed = parsed.expect("passthru");
        let mut details = Dict::new();
        parsed.insert_into(&mut details);
        assert_eq!(details.len(), 2, "only the ppt_ attributes travel");
        assert_eq!(
            Passthru::from_options(&parsed.to_dict()).ok().flatten(),
            Some(parsed),
            "the attributes survive a trip between nodes"
        );
        let enc = dict(&[
            ("enc_algo", Value::from("cryptobox")),
            ("enc_serializer", Value::from("json")),
        ]);
        assert!(Passthru::parse(&enc, &blob, &none).ok().flatten().is_some());

        let refused = |options: &Dict, args: &[Value]| {
            Passthru::parse(options, args, &none).map_err(|r| r.error)
        };
        assert_eq!(
            refused(&dict(&[("ppt_cipher", Value::from("x"))]), &blob),
            Err(error_uri::INVALID_ARGUMENT)
        );
        assert_eq!(
            refused(&dict(&[("ppt_scheme", Value::UInt(1))]), &blob),
            Err(error_uri::INVALID_ARGUMENT)
        );
        assert_eq!(
            refused(&ppt, &[Value::from("text")]),
            Err(error_uri::INVALID_ARGUMENT)
        );
        assert_eq!(refused(&ppt, &[]), Err(error_uri::INVALID_ARGUMENT));
    }

    #[test]
    fn either_feature_name_announces_it() {
        let features = |name: &str| dict(&[(name, Value::Bool(true))]);
        assert!(announced(Some(&features("payload_passthru_mode"))));
        assert!(announced(Some(&features("payload_transparency"))));
        assert!(!announced(Some(&features("call_canceling"))));
        assert!(!announced(Some(&dict(&[(
            "payload_passthru_mode",
            Value::Bool(false)
        )]))));
        assert!(!announced(None));
    }
}
