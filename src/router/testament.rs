//! Session testaments (Crossbar's `wamp.session.add_testament` / `flush_testaments`): events a
//! session leaves behind, published for it when it ends however it ends (GOODBYE, kill, a dropped
//! connection), so the others learn that it is gone ("user X went offline").
//!
//! A testament is checked when it is added exactly as a publication by the session would be (the
//! operations layer's publish checks: URI, authorization, options), so it can never publish
//! what the session could not. wampd has no session resumption: a session whose transport goes
//! is destroyed at once, so testaments of both scopes (`destroyed`, `detached`) are published
//! then. At most [`MAX_TESTAMENTS`] per session, each bounded by the message size that carried it.

use wampd_proto::wamp::{Dict, Value};

use crate::router::publisher::PublishRequest;

/// Procedure that adds a testament: `(topic, args, kwargs)`, keywords `publish_options` and
/// `scope`.
pub const ADD: &str = "wamp.session.add_testament";
/// Procedure that removes the session's testaments of one scope (keyword `scope`) and returns
/// how many there were.
pub const FLUSH: &str = "wamp.session.flush_testaments";
/// Most testaments one session may hold.
pub const MAX_TESTAMENTS: usize = 16;

/// When a testament is published (`scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// When the session ends.
    Destroyed,
    /// When its transport goes (the same moment in wampd: no resumption).
    Detached,
}

impl Scope {
    /// Parses the `scope` keyword (absent: `destroyed`).
    pub fn parse(value: Option<&Value>) -> Result<Scope, String> {
        match value {
            None => Ok(Scope::Destroyed),
            Some(v) => match v.as_str() {
                Some("destroyed") => Ok(Scope::Destroyed),
                Some("detached") => Ok(Scope::Detached),
                _ => Err("scope must be \"destroyed\" or \"detached\"".into()),
            },
        }
    }
}

/// One testament: the publication to make when the session ends.
#[derive(Debug, Clone)]
pub struct Testament {
    /// The topic.
    pub topic: String,
    /// Positional payload.
    pub args: Vec<Value>,
    /// Keyword payload.
    pub kwargs: Dict,
    /// PUBLISH.Options as given (checked when added).
    pub options: Dict,
    /// When it is published.
    pub scope: Scope,
}

impl Testament {
    /// The publication it makes, for the operations layer's checks and publishing.
    pub fn request(&self) -> PublishRequest<'_> {
        PublishRequest {
            topic: &self.topic,
            args: &self.args,
            kwargs: &self.kwargs,
            options: &self.options,
            any_topic: false,
            v1_payload: None,
        }
    }
}

/// Reads an `add_testament` call's arguments: `(topic, args?, kwargs?)` and the keywords.
pub fn parse_add(args: &[Value], kwargs: &Dict) -> Result<Testament, String> {
    let topic = args
        .first()
        .and_then(Value::as_str)
        .ok_or("expected the topic as the first argument")?
        .to_owned();
    let payload = match args.get(1) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(items)) => items.clone(),
        Some(_) => return Err("the second argument (args) must be a list".into()),
    };
    let keywords = match args.get(2) {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Dict(d)) => d.clone(),
        Some(_) => return Err("the third argument (kwargs) must be a dictionary".into()),
    };
    let options = match kwargs.get("publish_options") {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Dict(d)) => d.clone(),
        Some(_) => return Err("publish_options must be a dictionary".into()),
    };
    Ok(Testament {
        topic,
        args: payload,
        kwargs: keywords,
        options,
        scope: Scope::parse(kwargs.get("scope"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_as_crossbar_defines_them() {
        let mut kwargs = Dict::new();
        kwargs.insert("scope".into(), Value::Str("detached".into()));
        let t = parse_add(
            &[
                Value::Str("com.x".into()),
                Value::List(vec![Value::UInt(1)]),
            ],
            &kwargs,
        )
        .expect("valid");
        assert_eq!(t.topic, "com.x");
        assert_eq!(t.args, vec![Value::UInt(1)]);
        assert_eq!(t.scope, Scope::Detached);
        assert!(parse_add(&[], &Dict::new()).is_err());
        assert!(parse_add(&[Value::Str("t".into()), Value::UInt(1)], &Dict::new()).is_err());
        kwargs.insert("scope".into(), Value::Str("forever".into()));
        assert!(parse_add(&[Value::Str("t".into())], &kwargs).is_err());
    }
}
