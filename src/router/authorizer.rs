//! Authorization: may this session subscribe, publish, call or register this URI?
//!
//! Decisions come from the rules of `WEBSOCKET_AUTHORIZATION_FILE` ([`crate::auth::rules`]) and,
//! for the (realm, role) pairs no rule names, from the default policy
//! (`WEBSOCKET_AUTHORIZATION_DEFAULT`):
//!
//! * `standard` (the default): **browsers subscribe, backends publish.** The backend role
//!   (`WEBSOCKET_BACKEND_ROLE`) may do everything; every other role may subscribe to anything and
//!   call any procedure outside the router's `wamp.` namespace, but not publish or register.
//! * `open`: everything is allowed (a trusted network, tests, benchmarks).
//! * `deny`: nothing is allowed unless a rule says so.
//!
//! When rules name a session's (realm, role) — directly or through `"*"` — only those rules
//! decide: a request is allowed when one of them grants the action and *covers* the URI, i.e.
//! every URI the request can touch matches the rule (a prefix subscription to `com.app.` is not
//! covered by a rule for `com.app.user.42.`). `{authid}` in a rule's URI becomes the session's
//! authid, so `user.{authid}.` admits each user to their own topics only; an authid that could
//! escape its URI component (empty, or containing `.`, `#` or whitespace) never matches such a
//! rule.
//!
//! Pure and lock-free: rules are immutable after start-up and a check walks a short list.

use std::borrow::Cow;

use tracing::info;

use crate::auth::rules::{Action, DefaultPolicy, Rule};
use crate::router::handle::SessionHandle;
use crate::router::Router;
use wampd_proto::wamp::uri::wildcard_fixed_prefix;
use wampd_proto::wamp::MatchPolicy;

/// The realm-wide permission checker.
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    default: DefaultPolicy,
    backend_role: String,
    rules: Vec<Rule>,
}

/// One request to check.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Realm of the session.
    pub realm: &'a str,
    /// The session's authid (for `{authid}`).
    pub authid: &'a str,
    /// The session's auth role.
    pub authrole: &'a str,
    /// What it wants to do.
    pub action: Action,
    /// The topic, procedure or pattern.
    pub uri: &'a str,
    /// How `uri` matches (always `Exact` for publish and call).
    pub policy: MatchPolicy,
}

impl Authorizer {
    /// A checker with `rules` (file order) and `default` for everything they do not name.
    pub fn new(default: DefaultPolicy, backend_role: &str, rules: Vec<Rule>) -> Authorizer {
        Authorizer {
            default,
            backend_role: backend_role.to_owned(),
            rules,
        }
    }

    /// Whether `request` is allowed.
    pub fn allows(&self, request: &Request<'_>) -> bool {
        let mut named = false;
        for rule in &self.rules {
            if !rule.applies_to(request.realm, request.authrole) {
                continue;
            }
            named = true;
            if !rule.grants(request.action) {
                continue;
            }
            let Some(pattern) = substitute(&rule.uri, request.authid) else {
                continue;
            };
            if covers(&pattern, rule.policy, request.uri, request.policy) {
                return true;
            }
        }
        if named {
            return false;
        }
        match self.default {
            DefaultPolicy::Open => true,
            DefaultPolicy::Deny => false,
            DefaultPolicy::Standard => {
                request.authrole == self.backend_role
                    || match request.action {
                        Action::Subscribe => !touches_meta(request.uri, request.policy),
                        Action::Call => !request.uri.starts_with("wamp."),
                        Action::Publish | Action::Register | Action::Retain => false,
                    }
            }
        }
    }
}

impl Router {
    /// Checks `action` on `uri` for `session` in `realm`; a denial is logged at info (session,
    /// authid, action, URI) and counted, and the caller answers `wamp.error.not_authorized`.
    pub fn authorize(
        &self,
        realm: &str,
        session: &SessionHandle,
        action: Action,
        uri: &str,
        policy: MatchPolicy,
    ) -> bool {
        let allowed = self.authorizer().allows(&Request {
            realm,
            authid: &session.authid,
            authrole: &session.authrole,
            action,
            uri,
            policy,
        });
        if !allowed {
            info!(
                session = session.id,
                realm,
                authid = %session.authid,
                authrole = %session.authrole,
                action = action.as_str(),
                uri,
                "not authorized"
            );
            self.metrics().authorization_denied(action.as_str());
        }
        allowed
    }
}

/// Whether a subscription to `uri` under `policy` can receive the router's meta events (topics
/// in the reserved `wamp.` namespace): they describe other sessions, so the standard policy
/// keeps them for the backend role unless a rule opens them.
fn touches_meta(uri: &str, policy: MatchPolicy) -> bool {
    match policy {
        MatchPolicy::Exact => uri.split('.').next() == Some("wamp"),
        MatchPolicy::Prefix => "wamp.".starts_with(uri) || uri.starts_with("wamp."),
        MatchPolicy::Wildcard => matches!(uri.split('.').next(), Some("" | "wamp")),
    }
}

/// `pattern` with `{authid}` replaced; `None` when the authid cannot stand in a URI component.
fn substitute<'a>(pattern: &'a str, authid: &str) -> Option<Cow<'a, str>> {
    if !pattern.contains("{authid}") {
        return Some(Cow::Borrowed(pattern));
    }
    let safe = !authid.is_empty()
        && !authid
            .chars()
            .any(|c| c == '.' || c == '#' || c.is_whitespace());
    safe.then(|| Cow::Owned(pattern.replace("{authid}", authid)))
}

/// Whether wildcard `pattern` matches the concrete `uri`.
fn wildcard_matches(pattern: &str, uri: &str) -> bool {
    let mut p = pattern.split('.');
    let mut u = uri.split('.');
    loop {
        match (p.next(), u.next()) {
            (None, None) => return true,
            (Some(pc), Some(uc)) if pc.is_empty() || pc == uc => {}
            _ => return false,
        }
    }
}

/// Whether every URI matched by `(uri, policy)` is matched by the rule `(rule, rule_policy)`.
fn covers(rule: &str, rule_policy: MatchPolicy, uri: &str, policy: MatchPolicy) -> bool {
    // A wildcard pattern without empty components matches exactly one URI.
    let policy = match policy {
        MatchPolicy::Wildcard if wildcard_fixed_prefix(uri).is_none() => MatchPolicy::Exact,
        other => other,
    };
    match (rule_policy, policy) {
        (MatchPolicy::Exact, MatchPolicy::Exact) => uri == rule,
        (MatchPolicy::Exact, _) => false,
        (MatchPolicy::Prefix, MatchPolicy::Exact | MatchPolicy::Prefix) => uri.starts_with(rule),
        (MatchPolicy::Prefix, MatchPolicy::Wildcard) => {
            wildcard_fixed_prefix(uri).is_some_and(|fixed| fixed.starts_with(rule))
        }
        (MatchPolicy::Wildcard, MatchPolicy::Exact) => wildcard_matches(rule, uri),
        (MatchPolicy::Wildcard, MatchPolicy::Wildcard) => {
            let (mut r, mut u) = (rule.split('.'), uri.split('.'));
            loop {
                match (r.next(), u.next()) {
                    (None, None) => return true,
                    (Some(rc), Some(uc)) if rc.is_empty() || (!uc.is_empty() && rc == uc) => {}
                    _ => return false,
                }
            }
        }
        (MatchPolicy::Wildcard, MatchPolicy::Prefix) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::rules::AuthFile;

    fn authorizer(default: DefaultPolicy, file: &str) -> Authorizer {
        let file = AuthFile::parse(file, &|_| None).expect("valid rules");
        Authorizer::new(default, "backend", file.rules)
    }

    fn ask(
        a: &Authorizer,
        role: &str,
        authid: &str,
        action: Action,
        uri: &str,
        policy: MatchPolicy,
    ) -> bool {
        a.allows(&Request {
            realm: "realm1",
            authid,
            authrole: role,
            action,
            uri,
            policy,
        })
    }

    use Action::*;
    use MatchPolicy::*;

    #[test]
    fn standard_default_lets_browsers_subscribe_and_backends_publish() {
        let a = authorizer(DefaultPolicy::Standard, "");
        assert!(ask(&a, "anonymous", "x", Subscribe, "com.app.news", Exact));
        assert!(ask(&a, "anonymous", "x", Subscribe, "com.", Prefix));
        assert!(ask(&a, "anonymous", "x", Call, "com.app.add", Exact));
        assert!(!ask(
            &a,
            "anonymous",
            "x",
            Call,
            "wamp.session.kill_all",
            Exact
        ));
        assert!(!ask(&a, "anonymous", "x", Publish, "com.app.news", Exact));
        assert!(!ask(&a, "anonymous", "x", Retain, "com.app.news", Exact));
        assert!(!ask(&a, "user", "x", Register, "com.app.add", Exact));
        for action in Action::ALL {
            assert!(ask(&a, "backend", "b", action, "com.app.news", Exact));
        }
        assert!(ask(&a, "backend", "b", Call, "wamp.session.count", Exact));
    }

    #[test]
    fn open_and_deny_defaults() {
        let open = authorizer(DefaultPolicy::Open, "");
        let deny = authorizer(DefaultPolicy::Deny, "");
        for action in Action::ALL {
            assert!(ask(&open, "anonymous", "x", action, "a.b", Exact));
            assert!(!ask(&deny, "backend", "x", action, "a.b", Exact));
        }
    }

    #[test]
    fn authid_substitution_admits_each_user_to_their_own_topics() {
        let a = authorizer(
            DefaultPolicy::Standard,
            r#"
            [[rule]]
            role = "user"
            uri = "com.app.user.{authid}."
            match = "prefix"
            allow = ["subscribe"]
            "#,
        );
        assert!(ask(
            &a,
            "user",
            "42",
            Subscribe,
            "com.app.user.42.mail",
            Exact
        ));
        assert!(ask(&a, "user", "42", Subscribe, "com.app.user.42.", Prefix));
        assert!(ask(
            &a,
            "user",
            "42",
            Subscribe,
            "com.app.user.42..x",
            Wildcard
        ));
        assert!(!ask(
            &a,
            "user",
            "42",
            Subscribe,
            "com.app.user.43.mail",
            Exact
        ));
        assert!(!ask(
            &a,
            "user",
            "4",
            Subscribe,
            "com.app.user.42.mail",
            Exact
        ));
        assert!(!ask(&a, "user", "42", Subscribe, "com.app.user.", Prefix));
        assert!(!ask(
            &a,
            "user",
            "42",
            Subscribe,
            "com.app.user..mail",
            Wildcard
        ));
        // An authid that would span components never matches.
        assert!(!ask(
            &a,
            "user",
            "42.x",
            Subscribe,
            "com.app.user.42.x.mail",
            Exact
        ));
        assert!(!ask(&a, "user", "", Subscribe, "com.app.user..mail", Exact));
        // Named roles are decided by their rules alone; other roles keep the default.
        assert!(!ask(&a, "user", "42", Call, "com.app.add", Exact));
        assert!(ask(
            &a,
            "anonymous",
            "x",
            Subscribe,
            "com.app.user.43.mail",
            Exact
        ));
        assert!(ask(
            &a,
            "backend",
            "b",
            Publish,
            "com.app.user.43.mail",
            Exact
        ));
    }

    #[test]
    fn every_rule_kind_covers_what_it_should() {
        let a = authorizer(
            DefaultPolicy::Deny,
            r#"
            [[rule]]
            role = "*"
            uri = "com.app.status"
            allow = ["subscribe", "publish"]

            [[rule]]
            role = "*"
            uri = "com.app.rpc."
            match = "prefix"
            allow = ["call", "register"]

            [[rule]]
            role = "*"
            uri = "com.app..status"
            match = "wildcard"
            allow = ["subscribe"]
            "#,
        );
        // exact
        assert!(ask(&a, "r", "x", Publish, "com.app.status", Exact));
        assert!(!ask(&a, "r", "x", Publish, "com.app.status2", Exact));
        assert!(!ask(&a, "r", "x", Subscribe, "com.app.status", Prefix));
        assert!(ask(&a, "r", "x", Subscribe, "com.app.status", Wildcard));
        // prefix
        assert!(ask(&a, "r", "x", Call, "com.app.rpc.add", Exact));
        assert!(ask(&a, "r", "x", Register, "com.app.rpc.math.", Prefix));
        assert!(ask(&a, "r", "x", Register, "com.app.rpc..add", Wildcard));
        assert!(!ask(&a, "r", "x", Register, "com.app.", Prefix));
        assert!(!ask(&a, "r", "x", Register, "com..rpc", Wildcard));
        assert!(!ask(&a, "r", "x", Publish, "com.app.rpc.add", Exact));
        // wildcard
        assert!(ask(&a, "r", "x", Subscribe, "com.app.a.status", Exact));
        assert!(ask(&a, "r", "x", Subscribe, "com.app..status", Wildcard));
        assert!(!ask(&a, "r", "x", Subscribe, "com...status", Wildcard));
        assert!(!ask(&a, "r", "x", Subscribe, "com.app.a.b.status", Exact));
        assert!(!ask(&a, "r", "x", Subscribe, "com.app.a.", Prefix));
    }

    #[test]
    fn rules_are_scoped_to_their_realm() {
        let a = authorizer(
            DefaultPolicy::Deny,
            "[[rule]]\nrole='user'\nrealm='other'\nuri='a'\nallow=['subscribe']",
        );
        assert!(!ask(&a, "user", "x", Subscribe, "a", Exact));
        assert!(a.allows(&Request {
            realm: "other",
            authid: "x",
            authrole: "user",
            action: Subscribe,
            uri: "a",
            policy: Exact,
        }));
    }

    #[test]
    fn an_empty_prefix_rule_covers_everything() {
        let a = authorizer(
            DefaultPolicy::Deny,
            "[[rule]]\nrole='ops'\nuri=''\nmatch='prefix'\nallow=['subscribe']",
        );
        assert!(ask(&a, "ops", "x", Subscribe, "a.b", Exact));
        assert!(ask(&a, "ops", "x", Subscribe, "", Prefix));
        assert!(ask(&a, "ops", "x", Subscribe, ".b", Wildcard));
    }
}
