//! What an Espo backend pushes over ZeroMQ, read as Espo's daemon reads it.
//!
//! `Submission::submit` sends one frame: a JSON object holding the payload's own fields, plus
//! `"topicId"` and, for a message to one user, `"userId"`. The daemon drops a message without a
//! `topicId` or whose topic is not an allowed category, and delivers the **whole** object (the
//! two routing fields included) as the EVENT payload (`Pusher::onMessageReceive`).

use wampd_proto::wamp::v1::Payload;
use wampd_proto::wamp::Value;

use super::categories::Categories;

/// One push, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct EspoPush {
    /// The topic (`topicId`).
    pub topic: String,
    /// The one user it is for (`userId`); `None` = every subscriber.
    pub user_id: Option<String>,
    /// The whole object, as every subscriber receives it: v1 subscribers get its JSON in the
    /// order it was sent, as Espo's `json_decode`/`json_encode` round trip keeps it.
    pub payload: Payload,
}

/// Why a push is dropped, as the metric label and log line say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    /// Not one JSON object.
    #[error("not a JSON object: {0}")]
    Invalid(String),
    /// No (or an empty) `topicId`.
    #[error("no topicId")]
    NoTopic,
    /// A topic outside every category.
    #[error("topic {0:?} is not in an allowed category")]
    Category(String),
}

impl Dropped {
    /// The `reason` label of `wampd_zmq_messages_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Dropped::Invalid(_) => "invalid",
            Dropped::NoTopic => "no_topic",
            Dropped::Category(_) => "category",
        }
    }
}

/// Reads one pushed frame.
pub fn parse(body: &[u8], categories: &Categories) -> Result<EspoPush, Dropped> {
    let text = std::str::from_utf8(body).map_err(|_| Dropped::Invalid("not UTF-8".into()))?;
    let payload =
        Payload::from_php_json(text).ok_or_else(|| Dropped::Invalid("not valid JSON".into()))?;
    let Value::Dict(object) = payload.value() else {
        return Err(Dropped::Invalid("expected an object".into()));
    };
    let topic = match object.get("topicId") {
        Some(Value::Str(topic)) if !topic.is_empty() => topic.clone(),
        _ => return Err(Dropped::NoTopic),
    };
    if categories.find(&topic).is_none() {
        return Err(Dropped::Category(topic));
    }
    // PHP's `$data->userId ?? null` then `if ($userId)`: empty, null, false and 0 mean "all".
    let user_id = match object.get("userId") {
        None | Some(Value::Null | Value::Bool(false)) => None,
        Some(Value::Str(s)) if s.is_empty() || s == "0" => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(Value::UInt(0) | Value::Int(0)) => None,
        Some(Value::UInt(n)) => Some(n.to_string()),
        Some(Value::Int(n)) => Some(n.to_string()),
        Some(_) => return Err(Dropped::Invalid("userId is not a string".into())),
    };
    Ok(EspoPush {
        topic,
        user_id,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_keeps_its_whole_object_as_payload() {
        let c = Categories::default();
        let push = parse(
            br#"{"list":[1],"userId":"u1","topicId":"popupNotifications.event"}"#,
            &c,
        )
        .expect("valid");
        assert_eq!(push.topic, "popupNotifications.event");
        assert_eq!(push.user_id.as_deref(), Some("u1"));
        assert_eq!(
            push.payload.php_json(),
            r#"{"list":[1],"userId":"u1","topicId":"popupNotifications.event"}"#
        );
        let Value::Dict(d) = push.payload.value() else {
            panic!("object")
        };
        assert!(d.contains_key("topicId") && d.contains_key("userId") && d.contains_key("list"));
    }

    #[test]
    fn pushes_without_topic_or_category_are_dropped() {
        let c = Categories::default();
        assert_eq!(parse(br#"{"a":1}"#, &c), Err(Dropped::NoTopic));
        assert_eq!(parse(br#"{"topicId":""}"#, &c), Err(Dropped::NoTopic));
        assert_eq!(
            parse(br#"{"topicId":"evil.topic"}"#, &c),
            Err(Dropped::Category("evil.topic".into()))
        );
        assert!(matches!(parse(b"[1]", &c), Err(Dropped::Invalid(_))));
        assert!(matches!(parse(b"\xff", &c), Err(Dropped::Invalid(_))));
    }

    #[test]
    fn an_empty_user_id_means_everyone() {
        let c = Categories::default();
        for body in [
            &br#"{"topicId":"appParamsUpdate"}"#[..],
            br#"{"topicId":"appParamsUpdate","userId":null}"#,
            br#"{"topicId":"appParamsUpdate","userId":""}"#,
        ] {
            assert_eq!(parse(body, &c).expect("valid").user_id, None);
        }
    }
}
