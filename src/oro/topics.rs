//! Oro's WebSocket topic route table and subscribe rules (protocol reference
//! `oro-gos.md` §6).
//!
//! Why: under GosWebSocketBundle every SUBSCRIBE/UNSUBSCRIBE/PUBLISH/CALL is
//! routed; a topic without a route is an error (Ratchet closes with 1007),
//! and user-scoped topics (`SecuredTopic`, `SyncFailTopic`) refuse
//! subscriptions from other users with a raw text frame. This module is that
//! table, hard-coded from the bundles' `websocket_routing.yml` files, with
//! PubSubRouterBundle's matching semantics: each `{var}` defaults to
//! `[^/]+`, the whole pattern is anchored (`#^…$#sD`, no trailing newline),
//! requirements are `\d+` or, with `wildcard: true`, `\d+|\*`.
//!
//! The user part is converted the way each handler does it (Oro master):
//! `SecuredTopic` uses Symfony's `ParameterBag::getInt` (`FILTER_VALIDATE_INT`:
//! leading zeros or values beyond `PHP_INT_MAX` are invalid and become `0`,
//! which is never allowed); `SyncFailTopic` casts with `(int)` (leading zeros
//! ignored, overflow saturates at `PHP_INT_MAX`). Either way only the exact
//! back-office user may subscribe, and id `0` never.

use std::time::Duration;

/// The keep-alive topic; the server broadcasts [`PING_PAYLOAD`] to it.
pub const PING_TOPIC: &str = "oro/ping";

/// What the keep-alive broadcast carries (`WebsocketPingTopic`).
pub const PING_PAYLOAD: &str = "Connection keep alive";

/// Keep-alive period (`oro_sync.websocket_ping.interval`, 50 s), while the
/// ping topic has subscribers.
pub const PING_INTERVAL: Duration = Duration::from_secs(50);

/// The user part of a user-scoped topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserMatch {
    /// A numeric user ID, converted as the handler converts it (see the
    /// module docs; `0` matches nobody).
    Id(u64),
    /// `*`: every user (only `oro/imap_sync_fail/*`).
    Any,
}

/// What a routed topic is, i.e. which Oro handler serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// `BroadcastTopic`: anyone may subscribe and publish.
    Broadcast,
    /// `WebsocketPingTopic` (`oro/ping`): anyone may subscribe; the server
    /// broadcasts [`PING_PAYLOAD`] every [`PING_INTERVAL`]; PUBLISH is ignored.
    Ping,
    /// `SecuredTopic`: only the back-office user `user_id` may subscribe;
    /// publishing is unrestricted.
    Secured {
        /// The topic's user part.
        user_id: UserMatch,
    },
    /// `SyncFailTopic` (`oro/imap_sync_fail/...`): like `Secured`, but `*`
    /// is open to everybody.
    SyncFail {
        /// The topic's user part.
        user_id: UserMatch,
    },
}

/// Routes a topic (after CURIE expansion) like Oro's route table; `None`
/// means "no route" (Ratchet: `ResourceNotFoundException`, close 1007).
///
/// | pattern | requirements | kind |
/// |---|---|---|
/// | `oro/ping` | | `Ping` |
/// | `oro/data/update`, `oro/maintenance`, `oro/outdated_user_page`, `oro/message_queue_heartbeat` | | `Broadcast` |
/// | `oro/email_event/{user_id}/{organization_id}` | `\d+` / `\d+\|\*` | `Secured` |
/// | `oro/reminder_remind/{user_id}` | `\d+` | `Secured` |
/// | `oro/imap_sync_fail/{user_id}` | `\d+\|\*` | `SyncFail` |
/// | `oro/attribute_import/{user_id}/{config_model_id}` | `\d+` / `\d+` | `Secured` |
pub fn route(topic: &str) -> Option<TopicKind> {
    let rest = topic.strip_prefix("oro/")?;
    match rest {
        "ping" => return Some(TopicKind::Ping),
        "data/update" | "maintenance" | "outdated_user_page" | "message_queue_heartbeat" => {
            return Some(TopicKind::Broadcast)
        }
        _ => {}
    }
    let mut parts = rest.split('/');
    let name = parts.next()?;
    let first = parts.next()?;
    let second = parts.next();
    if parts.next().is_some() {
        return None;
    }
    match (name, second) {
        ("email_event", Some(org)) if is_digits(first) && (is_digits(org) || org == "*") => {
            Some(secured(first))
        }
        ("reminder_remind", None) if is_digits(first) => Some(secured(first)),
        ("imap_sync_fail", None) if first == "*" => Some(TopicKind::SyncFail {
            user_id: UserMatch::Any,
        }),
        ("imap_sync_fail", None) if is_digits(first) => Some(TopicKind::SyncFail {
            user_id: UserMatch::Id(php_int_cast(first)),
        }),
        ("attribute_import", Some(model)) if is_digits(first) && is_digits(model) => {
            Some(secured(first))
        }
        _ => None,
    }
}

fn secured(user: &str) -> TopicKind {
    TopicKind::Secured {
        user_id: UserMatch::Id(filter_validate_int(user)),
    }
}

/// PCRE `\d+` without the `u` flag: one or more ASCII digits.
fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `ParameterBag::getInt` on a `\d+` string: `FILTER_VALIDATE_INT` rejects
/// leading zeros and values beyond `PHP_INT_MAX`; failure yields `0`.
fn filter_validate_int(digits: &str) -> u64 {
    if digits.len() > 1 && digits.starts_with('0') {
        return 0;
    }
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

/// PHP `(int)` of a `\d+` string: leading zeros ignored, saturating at
/// `PHP_INT_MAX`.
fn php_int_cast(digits: &str) -> u64 {
    let max = i64::MAX.unsigned_abs();
    digits.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(b - b'0'))
            .min(max)
    })
}

/// Whether a connection may subscribe to a topic of this kind. `user_id` is
/// the authenticated Oro back-office user's ID, `None` for anonymous
/// (backend) connections. Secured topics require the matching user (ID `0`
/// never matches); `oro/imap_sync_fail/*` and all other topics are open.
pub fn may_subscribe(kind: &TopicKind, user_id: Option<u64>) -> bool {
    let owner_matches = |m: &UserMatch| match (m, user_id) {
        (UserMatch::Id(want), Some(have)) => *want != 0 && *want == have,
        _ => false,
    };
    match kind {
        TopicKind::Broadcast | TopicKind::Ping => true,
        TopicKind::Secured { user_id: m } => owner_matches(m),
        TopicKind::SyncFail {
            user_id: UserMatch::Any,
        } => true,
        TopicKind::SyncFail { user_id: m } => owner_matches(m),
    }
}

/// The raw (non-JSON) text frame Oro sends when it refuses a subscription,
/// e.g. `You are not allowed to subscribe on topic "oro/reminder_remind/5".`
pub fn refusal_text(topic: &str) -> String {
    format!("You are not allowed to subscribe on topic \"{topic}\".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(id: u64) -> Option<TopicKind> {
        Some(TopicKind::Secured {
            user_id: UserMatch::Id(id),
        })
    }

    #[test]
    fn fixed_routes() {
        assert_eq!(route("oro/ping"), Some(TopicKind::Ping));
        assert_eq!(route(PING_TOPIC), Some(TopicKind::Ping));
        for t in [
            "oro/data/update",
            "oro/maintenance",
            "oro/outdated_user_page",
            "oro/message_queue_heartbeat",
        ] {
            assert_eq!(route(t), Some(TopicKind::Broadcast), "{t}");
        }
        for t in [
            "oro/ping/",
            "/oro/ping",
            "oro/ping\n",
            "oro/Ping",
            "ORO/ping",
            "oro/data",
            "oro/data/update/",
            "oro/data/update/x",
            "oro/maintenance/1",
            "oro//maintenance",
            "oro/",
            "oro",
            "",
            "oro/ticket",
            "no/such/topic",
            "oro/data/update ",
            " oro/data/update",
        ] {
            assert_eq!(route(t), None, "{t:?}");
        }
    }

    #[test]
    fn email_event() {
        assert_eq!(route("oro/email_event/7/1"), sec(7));
        assert_eq!(route("oro/email_event/7/*"), sec(7));
        for t in [
            "oro/email_event/*/1",
            "oro/email_event/7",
            "oro/email_event/7/",
            "oro/email_event/7/1/",
            "oro/email_event/7/1/2",
            "oro/email_event/7/x",
            "oro/email_event/x/1",
            "oro/email_event/-7/1",
            "oro/email_event//1",
            "oro/email_event/7/**",
            "oro/email_event/7/1*",
            "oro/email_event/٣/1",
        ] {
            assert_eq!(route(t), None, "{t}");
        }
    }

    #[test]
    fn reminder_and_attribute_import() {
        assert_eq!(route("oro/reminder_remind/5"), sec(5));
        assert_eq!(route("oro/reminder_remind/0"), sec(0));
        for t in [
            "oro/reminder_remind/*",
            "oro/reminder_remind/",
            "oro/reminder_remind",
            "oro/reminder_remind/5/",
            "oro/reminder_remind/5a",
            "oro/reminder_remind/+5",
            "oro/reminder_remind/ 5",
        ] {
            assert_eq!(route(t), None, "{t}");
        }
        assert_eq!(route("oro/attribute_import/3/42"), sec(3));
        for t in [
            "oro/attribute_import/3/*",
            "oro/attribute_import/*/42",
            "oro/attribute_import/3",
            "oro/attribute_import/3/42/",
            "oro/attribute_import/3/x",
        ] {
            assert_eq!(route(t), None, "{t}");
        }
    }

    #[test]
    fn imap_sync_fail() {
        assert_eq!(
            route("oro/imap_sync_fail/*"),
            Some(TopicKind::SyncFail {
                user_id: UserMatch::Any
            })
        );
        assert_eq!(
            route("oro/imap_sync_fail/12"),
            Some(TopicKind::SyncFail {
                user_id: UserMatch::Id(12)
            })
        );
        for t in [
            "oro/imap_sync_fail/",
            "oro/imap_sync_fail",
            "oro/imap_sync_fail/**",
            "oro/imap_sync_fail/*/",
            "oro/imap_sync_fail/12/",
            "oro/imap_sync_fail/1*",
            "oro/imap_sync_fail/x",
        ] {
            assert_eq!(route(t), None, "{t}");
        }
    }

    #[test]
    fn user_part_conversion() {
        // SecuredTopic: getInt / FILTER_VALIDATE_INT (PHP 8.2: "007" → false).
        assert_eq!(route("oro/reminder_remind/007"), sec(0));
        assert_eq!(
            route("oro/reminder_remind/9223372036854775807"),
            sec(i64::MAX.unsigned_abs())
        );
        assert_eq!(route("oro/reminder_remind/9223372036854775808"), sec(0));
        assert_eq!(route("oro/reminder_remind/99999999999999999999999"), sec(0));
        // SyncFailTopic: (int) cast (PHP 8.2: "007" → 7, overflow → PHP_INT_MAX).
        let sf = |id| {
            Some(TopicKind::SyncFail {
                user_id: UserMatch::Id(id),
            })
        };
        assert_eq!(route("oro/imap_sync_fail/007"), sf(7));
        assert_eq!(
            route("oro/imap_sync_fail/99999999999999999999"),
            sf(i64::MAX.unsigned_abs())
        );
    }

    #[test]
    fn subscribe_rules() {
        let b = TopicKind::Broadcast;
        assert!(may_subscribe(&b, None));
        assert!(may_subscribe(&b, Some(1)));
        assert!(may_subscribe(&TopicKind::Ping, None));

        let s5 = TopicKind::Secured {
            user_id: UserMatch::Id(5),
        };
        assert!(may_subscribe(&s5, Some(5)));
        assert!(!may_subscribe(&s5, Some(6)));
        assert!(!may_subscribe(&s5, None));
        let s0 = TopicKind::Secured {
            user_id: UserMatch::Id(0),
        };
        assert!(!may_subscribe(&s0, Some(0)));
        assert!(!may_subscribe(&s0, None));
        let s_any = TopicKind::Secured {
            user_id: UserMatch::Any,
        };
        assert!(!may_subscribe(&s_any, Some(1)));

        let any = TopicKind::SyncFail {
            user_id: UserMatch::Any,
        };
        assert!(may_subscribe(&any, None));
        assert!(may_subscribe(&any, Some(9)));
        let f9 = TopicKind::SyncFail {
            user_id: UserMatch::Id(9),
        };
        assert!(may_subscribe(&f9, Some(9)));
        assert!(!may_subscribe(&f9, Some(8)));
        assert!(!may_subscribe(&f9, None));
        let f0 = TopicKind::SyncFail {
            user_id: UserMatch::Id(0),
        };
        assert!(!may_subscribe(&f0, Some(0)));

        // End to end through route().
        let k = route("oro/reminder_remind/007").expect("routed");
        assert!(
            !may_subscribe(&k, Some(7)),
            "leading zeros never match in SecuredTopic"
        );
        let k = route("oro/imap_sync_fail/007").expect("routed");
        assert!(may_subscribe(&k, Some(7)), "(int) cast in SyncFailTopic");
        let k = route("oro/email_event/7/*").expect("routed");
        assert!(may_subscribe(&k, Some(7)));
        assert!(!may_subscribe(&k, Some(8)));
    }

    #[test]
    fn texts_and_constants() {
        assert_eq!(
            refusal_text("oro/reminder_remind/5"),
            "You are not allowed to subscribe on topic \"oro/reminder_remind/5\"."
        );
        assert_eq!(PING_PAYLOAD, "Connection keep alive");
        assert_eq!(PING_INTERVAL, Duration::from_secs(50));
    }
}
