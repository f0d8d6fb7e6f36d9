//! The meta procedures (`wamp.session.*`, `wamp.subscription.*`, `wamp.registration.*`,
//! `wampd.cluster.session.count`), answered by the router before the dealer looks for a callee,
//! from the realm's own broker and dealer state.

use super::events::{entry_details, session_details};
use crate::router::handle::SessionHandle;
use crate::router::outbound::Frame;
use crate::router::realm::Realm;
use crate::router::refusal::Refusal;
use wampd_proto::wamp::{codec, error_uri, Dict, Id, MatchPolicy, Message, Value};

/// wampd's own procedure: sessions in the caller's realm across every node of the cluster.
pub const CLUSTER_SESSION_COUNT: &str = "wampd.cluster.session.count";
/// Error when the cluster-wide count is not known (backplane down).
pub const CLUSTER_UNAVAILABLE: &str = "wampd.error.cluster_unavailable";
/// How old a cluster-wide count may be (nodes report every 2 s).
const CLUSTER_COUNT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10);

/// What a meta procedure answers.
pub type Outcome = Result<Vec<Value>, Refusal>;

fn arg_id(args: &[Value], what: &str) -> Result<Id, Refusal> {
    args.first().and_then(Value::as_id).ok_or_else(|| {
        Refusal::new(
            error_uri::INVALID_ARGUMENT,
            format!("expected the {what} ID as the first argument"),
        )
    })
}

fn arg_str<'a>(args: &'a [Value], what: &str) -> Result<&'a str, Refusal> {
    args.first().and_then(Value::as_str).ok_or_else(|| {
        Refusal::new(
            error_uri::INVALID_ARGUMENT,
            format!("expected the {what} as the first argument"),
        )
    })
}

fn ids(list: Vec<Id>) -> Value {
    Value::List(list.into_iter().map(Value::UInt).collect())
}

fn match_option(kwargs: &Dict, args: &[Value]) -> Result<MatchPolicy, Refusal> {
    let options = args
        .get(1)
        .and_then(Value::as_dict)
        .cloned()
        .unwrap_or_else(|| kwargs.clone());
    MatchPolicy::from_options(&options).map_err(Refusal::from)
}

fn by_policy(entries: &[(Id, MatchPolicy)]) -> Value {
    let mut out = Dict::new();
    for policy in [
        MatchPolicy::Exact,
        MatchPolicy::Prefix,
        MatchPolicy::Wildcard,
    ] {
        let list = entries
            .iter()
            .filter(|(_, p)| *p == policy)
            .map(|(id, _)| *id)
            .collect();
        out.insert(policy.as_str().into(), ids(list));
    }
    Value::Dict(out)
}

/// Answers `procedure` if it is a meta procedure; `None` lets the dealer route it.
pub fn call(
    realm: &Realm,
    caller: &SessionHandle,
    procedure: &str,
    args: &[Value],
    kwargs: &Dict,
) -> Option<Outcome> {
    let outcome = match procedure {
        CLUSTER_SESSION_COUNT => realm
            .cluster_session_count(CLUSTER_COUNT_MAX_AGE)
            .map(|count| vec![Value::UInt(count)])
            .ok_or_else(|| Refusal::new(CLUSTER_UNAVAILABLE,
                "the cluster backplane is down: the cluster-wide count is unknown (wamp.session.count answers for this node)",
            )),
        "wamp.session.count" => Ok(vec![Value::UInt(
            filter_roles(realm.sessions(), args).len() as u64,
        )]),
        "wamp.session.list" => Ok(vec![ids(filter_roles(realm.sessions(), args)
            .iter()
            .map(|s| s.id)
            .collect())]),
        "wamp.session.get" => arg_id(args, "session").and_then(|id| {
            realm
                .session(id)
                .map(|s| vec![session_details(&s, realm.is_trusted(caller))])
                .ok_or_else(|| Refusal::new(error_uri::NO_SUCH_SESSION, format!("no session {id}")))
        }),
        "wamp.session.kill" => arg_id(args, "session").and_then(|id| {
            if id == caller.id {
                return Err(Refusal::new(error_uri::NO_SUCH_SESSION,
                    "a session cannot kill itself".to_string(),
                ));
            }
            let session = realm
                .session(id)
                .ok_or_else(|| Refusal::new(error_uri::NO_SUCH_SESSION, format!("no session {id}")))?;
            kill(&session, kwargs);
            Ok(Vec::new())
        }),
        "wamp.session.kill_all" => {
            let killed = realm
                .sessions()
                .into_iter()
                .filter(|s| s.id != caller.id)
                .inspect(|s| kill(s, kwargs))
                .count();
            Ok(vec![Value::UInt(killed as u64)])
        }
        "wamp.session.kill_by_authid" | "wamp.session.kill_by_authrole" => {
            let by_role = procedure.ends_with("authrole");
            arg_str(args, if by_role { "authrole" } else { "authid" }).map(|wanted| {
                let killed: Vec<Id> = realm
                    .sessions()
                    .into_iter()
                    .filter(|s| s.id != caller.id)
                    .filter(|s| {
                        if by_role {
                            s.authrole == wanted
                        } else {
                            s.authid == wanted
                        }
                    })
                    .map(|s| {
                        kill(&s, kwargs);
                        s.id
                    })
                    .collect();
                if by_role {
                    vec![Value::UInt(killed.len() as u64)]
                } else {
                    vec![ids(killed)]
                }
            })
        }
        "wamp.subscription.list" => Ok(vec![by_policy(&realm.subscriptions())]),
        "wamp.subscription.lookup" => arg_str(args, "topic").and_then(|topic| {
            let policy = match_option(kwargs, args)?;
            Ok(vec![realm
                .subscription_lookup(topic, policy)
                .map_or(Value::Null, Value::UInt)])
        }),
        "wamp.subscription.match" => arg_str(args, "topic").map(|topic| {
            let found = realm.subscription_matches(topic);
            vec![if found.is_empty() {
                Value::Null
            } else {
                ids(found)
            }]
        }),
        "wamp.subscription.get" => arg_id(args, "subscription").and_then(|id| {
            realm
                .subscription_details(id)
                .map(|(uri, policy, _)| vec![entry_details(id, &uri, policy, None)])
                .ok_or_else(|| Refusal::new(error_uri::NO_SUCH_SUBSCRIPTION,
                    format!("no subscription {id}"),
                ))
        }),
        "wamp.subscription.list_subscribers" | "wamp.subscription.count_subscribers" => {
            arg_id(args, "subscription").and_then(|id| {
                let (_, _, subscribers) = realm.subscription_details(id).ok_or_else(|| Refusal::new(error_uri::NO_SUCH_SUBSCRIPTION,
                    format!("no subscription {id}"),
                ))?;
                Ok(vec![if procedure.ends_with("count_subscribers") {
                    Value::UInt(subscribers.len() as u64)
                } else {
                    ids(subscribers)
                }])
            })
        }
        "wamp.registration.list" => {
            let entries: Vec<(Id, MatchPolicy)> = realm
                .dealer()
                .registrations()
                .into_iter()
                .map(|(id, _, policy, _)| (id, policy))
                .collect();
            Ok(vec![by_policy(&entries)])
        }
        "wamp.registration.lookup" => arg_str(args, "procedure").and_then(|wanted| {
            let policy = match_option(kwargs, args)?;
            let found = realm
                .dealer()
                .registrations()
                .into_iter()
                .find(|(_, uri, p, _)| uri == wanted && *p == policy)
                .map(|(id, ..)| id);
            Ok(vec![found.map_or(Value::Null, Value::UInt)])
        }),
        "wamp.registration.match" => arg_str(args, "procedure").map(|wanted| {
            vec![realm
                .dealer()
                .resolve_id(wanted)
                .map_or(Value::Null, Value::UInt)]
        }),
        "wamp.registration.get"
        | "wamp.registration.list_callees"
        | "wamp.registration.count_callees" => arg_id(args, "registration").and_then(|id| {
            let entry = realm
                .dealer()
                .registrations()
                .into_iter()
                .find(|(rid, ..)| *rid == id)
                .ok_or_else(|| Refusal::new(error_uri::NO_SUCH_REGISTRATION,
                    format!("no registration {id}"),
                ))?;
            let (_, uri, policy, callees) = entry;
            Ok(vec![match procedure {
                "wamp.registration.get" => entry_details(id, &uri, policy, None),
                "wamp.registration.list_callees" => ids(callees),
                _ => Value::UInt(callees.len() as u64),
            }])
        }),
        _ => return None,
    };
    Some(outcome)
}

fn filter_roles(
    sessions: Vec<std::sync::Arc<SessionHandle>>,
    args: &[Value],
) -> Vec<std::sync::Arc<SessionHandle>> {
    match args.first().and_then(Value::as_list) {
        Some(roles) => sessions
            .into_iter()
            .filter(|s| {
                roles
                    .iter()
                    .any(|r| r.as_str() == Some(s.authrole.as_str()))
            })
            .collect(),
        None => sessions,
    }
}

/// Ends a session the way `wamp.session.kill` asks: GOODBYE `wamp.close.killed` (v2), then the
/// transport closes.
fn kill(session: &SessionHandle, kwargs: &Dict) {
    if !session.v1 {
        let mut details = Dict::new();
        if let Some(message) = kwargs.get("message") {
            details.insert("message".into(), message.clone());
        }
        let reason = kwargs
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or(error_uri::CLOSE_KILLED)
            .to_owned();
        let goodbye = Message::Goodbye { details, reason };
        let frame = Frame::from_encoded(
            session.serializer,
            codec::encode(session.serializer, &goodbye),
        );
        let _ = session.send(frame);
    }
    let _ = session.send(Frame::Close(1000, "killed".into()));
}
