//! The optional authorization file (`WEBSOCKET_AUTHORIZATION_FILE`): permission rules, WAMP-CRA
//! users, static WAMP-Ticket principals, WAMP-cryptosign principals and per-realm anonymous access,
//! in TOML.
//!
//! Why a file: roles, URI patterns and users are structured data that environment variables
//! express badly (DESIGN.md §5). The file is parsed and checked completely at start-up (and by
//! `wampd config:check`), so a typo stops the server with the entry and field at fault instead of
//! silently denying or allowing at run time. This module is pure: the router's
//! [`crate::router::authorizer`] makes the decisions.
//!
//! ```toml
//! [[rule]]
//! role = "user"                      # "*" = every role
//! realm = "realm1"                   # optional, "*" (default) = every realm
//! uri = "com.app.user.{authid}."     # {authid} = the session's authid
//! match = "prefix"                   # exact (default) | prefix | wildcard
//! allow = ["subscribe", "call"]      # subscribe | publish | call | register
//!
//! [[user]]                           # WAMP-CRA credentials
//! authid = "peter"
//! role = "backend"
//! secret = "secret1"                 # or secret_env = "PETER_SECRET"
//! # salt = "salt123", iterations = 1000, keylen = 32: salted WAMP-CRA (secret = the derived key)
//!
//! [[ticket]]                         # static WAMP-Ticket principals, as Crossbar's "static" ticket
//! authid = "martin"
//! role = "backend"
//! realm = "realm1"                   # optional; one authid may be listed once per realm
//! ticket = "wEx9TPFtHdRr2Zg7rtRE"    # or ticket_env = "MARTIN_TICKET"
//!
//! [[cryptosign]]                     # WAMP-cryptosign principals (Ed25519 public keys, hex)
//! authid = "worker-1"
//! role = "backend"
//! realm = "realm1"                   # optional; a key may be listed in several entries
//! authorized_keys = ["545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122"]
//!
//! [[realm]]
//! name = "realm1"
//! anonymous = false                  # overrides WEBSOCKET_ANONYMOUS for this realm
//! anonymous_role = "guest"           # overrides WEBSOCKET_ANONYMOUS_ROLE for this realm
//! ```

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use wampd_proto::cryptosign::PublicKey;
use wampd_proto::wamp::MatchPolicy;
use wampd_proto::wampcra::{Salt, DEFAULT_ITERATIONS, DEFAULT_KEYLEN, MAX_KEYLEN};

/// What a session asks to do with a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// SUBSCRIBE to a topic or pattern.
    Subscribe,
    /// PUBLISH to a topic.
    Publish,
    /// CALL a procedure.
    Call,
    /// REGISTER a procedure or pattern.
    Register,
    /// PUBLISH with `retain: true`: keep the event for later subscribers (besides `publish`).
    Retain,
}

impl Action {
    /// Every action, in a fixed order.
    pub const ALL: [Action; 5] = [
        Action::Subscribe,
        Action::Publish,
        Action::Call,
        Action::Register,
        Action::Retain,
    ];

    /// The name used in rules, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Subscribe => "subscribe",
            Action::Publish => "publish",
            Action::Call => "call",
            Action::Register => "register",
            Action::Retain => "retain",
        }
    }

    /// The message of the `wamp.error.not_authorized` answer to this action on `uri`.
    pub fn refusal(self, uri: &str) -> String {
        let verb = match self {
            Action::Subscribe => "subscribe to",
            Action::Publish => "publish to",
            Action::Call => "call",
            Action::Register => "register",
            Action::Retain => "retain events on",
        };
        format!("not authorized to {verb} \"{uri}\"")
    }

    fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// What happens to (realm, role) pairs no rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultPolicy {
    /// Browsers subscribe (and call), backends do everything.
    #[default]
    Standard,
    /// Everything is allowed.
    Open,
    /// Nothing is allowed.
    Deny,
}

impl DefaultPolicy {
    /// Parses `standard`, `open` or `deny`.
    pub fn parse(value: &str) -> Option<DefaultPolicy> {
        match value {
            "standard" => Some(DefaultPolicy::Standard),
            "open" => Some(DefaultPolicy::Open),
            "deny" => Some(DefaultPolicy::Deny),
            _ => None,
        }
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultPolicy::Standard => "standard",
            DefaultPolicy::Open => "open",
            DefaultPolicy::Deny => "deny",
        }
    }
}

/// One permission: sessions of `role` in `realm` may do `allow` on URIs matching `uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Realm name; `None` = every realm.
    pub realm: Option<String>,
    /// Auth role; `None` = every role.
    pub role: Option<String>,
    /// URI or pattern; `{authid}` is replaced by the session's authid.
    pub uri: String,
    /// How `uri` matches.
    pub policy: MatchPolicy,
    allow: u8,
}

impl Rule {
    /// Whether the rule grants `action` (whatever the URI).
    pub fn grants(&self, action: Action) -> bool {
        self.allow & action.bit() != 0
    }

    /// Whether the rule applies to sessions of `role` in `realm`.
    pub fn applies_to(&self, realm: &str, role: &str) -> bool {
        self.realm.as_deref().is_none_or(|r| r == realm)
            && self.role.as_deref().is_none_or(|r| r == role)
    }
}

/// A WAMP-CRA user.
#[derive(Clone, PartialEq, Eq)]
pub struct CraUser {
    /// The WAMP authid the client sends in HELLO.
    pub authid: String,
    /// The auth role it gets.
    pub role: String,
    /// Realm it may join; `None` = every realm.
    pub realm: Option<String>,
    /// The HMAC key: the plain secret, or (salted) the derived base64 key, as UTF-8 bytes.
    pub key: Vec<u8>,
    /// PBKDF2 parameters sent in the CHALLENGE for salted credentials.
    pub salt: Option<Salt>,
}

impl std::fmt::Debug for CraUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CraUser")
            .field("authid", &self.authid)
            .field("role", &self.role)
            .field("realm", &self.realm)
            .field("key", &"***")
            .field("salted", &self.salt.is_some())
            .finish()
    }
}

/// A static WAMP-Ticket principal: the client names `authid` in HELLO and answers the ticket
/// CHALLENGE with `ticket`.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketPrincipal {
    /// The auth role it gets.
    pub role: String,
    /// Realm it may join; `None` = every realm.
    pub realm: Option<String>,
    /// SHA-256 of the ticket: compared in constant time, and the ticket's length cannot leak.
    pub digest: [u8; 32],
}

impl TicketPrincipal {
    /// Whether `ticket` is this principal's, in constant time.
    pub fn accepts(&self, ticket: &str) -> bool {
        use sha2::Digest;
        use subtle::ConstantTimeEq;
        let digest: [u8; 32] = sha2::Sha256::digest(ticket.as_bytes()).into();
        bool::from(digest.ct_eq(&self.digest))
    }
}

impl std::fmt::Debug for TicketPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketPrincipal")
            .field("role", &self.role)
            .field("realm", &self.realm)
            .field("ticket", &"***")
            .finish()
    }
}

/// Static WAMP-Ticket principals by authid, each with one entry per realm it is listed for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketPrincipals(HashMap<String, Vec<TicketPrincipal>>);

impl TicketPrincipals {
    /// Whether no principal is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many authids are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `authid` is listed at all (for any realm).
    pub fn knows(&self, authid: &str) -> bool {
        self.0.contains_key(authid)
    }

    /// The entry for `authid` in `realm`: one naming the realm wins over one for every realm.
    pub fn find(&self, authid: &str, realm: &str) -> Option<&TicketPrincipal> {
        let entries = self.0.get(authid)?;
        entries
            .iter()
            .find(|p| p.realm.as_deref() == Some(realm))
            .or_else(|| entries.iter().find(|p| p.realm.is_none()))
    }

    fn realm_names(&self) -> impl Iterator<Item = &str> {
        self.0.values().flatten().filter_map(|p| p.realm.as_deref())
    }
}

/// A WAMP-cryptosign principal: whoever proves one of `keys` may join as `authid` with `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptosignPrincipal {
    /// The authid the session gets.
    pub authid: String,
    /// The auth role it gets.
    pub role: String,
    /// Realm it may join; `None` = every realm.
    pub realm: Option<String>,
    /// Public keys that authenticate as this principal.
    pub keys: Vec<PublicKey>,
}

/// WAMP-cryptosign principals in file order. One key may be listed in several entries (other
/// realms, roles or authids); [`CryptosignPrincipals::find`] picks among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CryptosignPrincipals(Vec<CryptosignPrincipal>);

impl CryptosignPrincipals {
    /// Whether no principal is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The principal `key` authenticates as in `realm`, limited to `authid` when the HELLO named
    /// one: an entry naming the realm wins over one for every realm, then file order decides.
    pub fn find(
        &self,
        key: &PublicKey,
        realm: &str,
        authid: Option<&str>,
    ) -> Option<&CryptosignPrincipal> {
        let candidates = || {
            self.0
                .iter()
                .filter(move |p| p.keys.contains(key) && authid.is_none_or(|a| a == p.authid))
        };
        candidates()
            .find(|p| p.realm.as_deref() == Some(realm))
            .or_else(|| candidates().find(|p| p.realm.is_none()))
    }

    fn realm_names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| p.realm.as_deref())
    }
}

/// Per-realm overrides of anonymous authentication.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RealmAuth {
    /// Whether `anonymous` is offered in this realm.
    pub anonymous: Option<bool>,
    /// Role of anonymous sessions in this realm.
    pub anonymous_role: Option<String>,
}

/// The parsed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFile {
    /// Permission rules, in file order.
    pub rules: Vec<Rule>,
    /// WAMP-CRA users by authid.
    pub users: HashMap<String, CraUser>,
    /// Static WAMP-Ticket principals.
    pub tickets: TicketPrincipals,
    /// WAMP-cryptosign principals.
    pub cryptosign: CryptosignPrincipals,
    /// Per-realm anonymous settings by realm name.
    pub realms: HashMap<String, RealmAuth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    user: Vec<RawUser>,
    #[serde(default)]
    ticket: Vec<RawTicket>,
    #[serde(default)]
    cryptosign: Vec<RawCryptosign>,
    #[serde(default)]
    realm: Vec<RawRealm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCryptosign {
    authid: String,
    role: String,
    #[serde(default)]
    realm: Option<String>,
    authorized_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTicket {
    authid: String,
    role: String,
    #[serde(default)]
    realm: Option<String>,
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default)]
    ticket_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    role: String,
    #[serde(default)]
    realm: Option<String>,
    uri: String,
    #[serde(default, rename = "match")]
    match_: Option<String>,
    allow: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    authid: String,
    role: String,
    #[serde(default)]
    realm: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secret_env: Option<String>,
    #[serde(default)]
    salt: Option<String>,
    #[serde(default)]
    iterations: Option<u32>,
    #[serde(default)]
    keylen: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRealm {
    name: String,
    #[serde(default)]
    anonymous: Option<bool>,
    #[serde(default)]
    anonymous_role: Option<String>,
}

/// A credential given either inline (`field = "..."`) or by the name of an environment variable
/// (`field_env = "NAME"`): exactly one of them, and a named variable must be set.
fn inline_or_env(
    at: &str,
    field: &str,
    inline: Option<String>,
    from_env: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    match (inline, from_env) {
        (Some(value), None) => Ok(value),
        (None, Some(name)) => env(&name).ok_or_else(|| {
            format!("{at}: {field}_env names the variable {name}, which is not set")
        }),
        _ => Err(format!("{at}: give exactly one of {field} and {field}_env")),
    }
}

fn any_or(name: Option<String>) -> Option<String> {
    name.filter(|n| n != "*")
}

impl AuthFile {
    /// Parses and checks the file's text. `env` resolves `secret_env` names. `Err` names the
    /// entry (`rule #2`, `user "peter"`) and what is wrong, and never contains a secret.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<AuthFile, String> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            // toml's message quotes the offending line, which may hold a secret.
            let mut message = e.message().to_owned();
            if let Some(span) = e.span() {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                message = format!("line {line}: {message}");
            }
            message
        })?;
        let mut file = AuthFile::default();
        for (i, r) in raw.rule.into_iter().enumerate() {
            let at = format!("rule #{}", i + 1);
            let policy = match r.match_.as_deref().unwrap_or("exact") {
                "exact" => MatchPolicy::Exact,
                "prefix" => MatchPolicy::Prefix,
                "wildcard" => MatchPolicy::Wildcard,
                other => {
                    return Err(format!(
                        "{at}: match \"{other}\" is not one of exact, prefix, wildcard"
                    ))
                }
            };
            if r.role.is_empty() {
                return Err(format!(
                    "{at}: role must not be empty (use \"*\" for every role)"
                ));
            }
            if r.uri.is_empty() && policy != MatchPolicy::Prefix {
                return Err(format!(
                    "{at}: an empty uri only makes sense with match = \"prefix\" (every URI)"
                ));
            }
            if r.uri.chars().any(char::is_whitespace) || r.uri.contains('#') {
                return Err(format!(
                    "{at}: uri \"{}\" contains whitespace or '#'",
                    r.uri
                ));
            }
            let rest = r.uri.replace("{authid}", "");
            if rest.contains('{') || rest.contains('}') {
                return Err(format!(
                    "{at}: uri \"{}\": the only placeholder is {{authid}}",
                    r.uri
                ));
            }
            if r.allow.is_empty() {
                return Err(format!("{at}: allow must list at least one action"));
            }
            let mut allow = 0u8;
            for name in &r.allow {
                let action = Action::parse(name).ok_or_else(|| {
                    format!("{at}: \"{name}\" is not one of subscribe, publish, call, register")
                })?;
                allow |= action.bit();
            }
            file.rules.push(Rule {
                realm: any_or(r.realm),
                role: any_or(Some(r.role)),
                uri: r.uri,
                policy,
                allow,
            });
        }
        for u in raw.user {
            let at = format!("user \"{}\"", u.authid);
            if u.authid.is_empty() {
                return Err("user: authid must not be empty".into());
            }
            if file.users.contains_key(&u.authid) {
                return Err(format!("{at}: defined twice"));
            }
            if u.role.is_empty() {
                return Err(format!("{at}: role must not be empty"));
            }
            let secret = inline_or_env(&at, "secret", u.secret, u.secret_env, env)?;
            if secret.is_empty() {
                return Err(format!("{at}: the secret is empty"));
            }
            let salt = match u.salt {
                None if u.iterations.is_some() || u.keylen.is_some() => {
                    return Err(format!("{at}: iterations and keylen need a salt"))
                }
                None => None,
                Some(salt) => {
                    let salt = Salt {
                        salt,
                        iterations: u.iterations.unwrap_or(DEFAULT_ITERATIONS),
                        keylen: u.keylen.unwrap_or(DEFAULT_KEYLEN),
                    };
                    if salt.salt.is_empty() || !salt.is_valid() {
                        return Err(format!(
                            "{at}: salt must be non-empty, iterations above 0 and keylen in 1..={MAX_KEYLEN}"
                        ));
                    }
                    Some(salt)
                }
            };
            file.users.insert(
                u.authid.clone(),
                CraUser {
                    authid: u.authid,
                    role: u.role,
                    realm: any_or(u.realm),
                    key: secret.into_bytes(),
                    salt,
                },
            );
        }
        for t in raw.ticket {
            let at = format!("ticket \"{}\"", t.authid);
            if t.authid.is_empty() {
                return Err("ticket: authid must not be empty".into());
            }
            if t.role.is_empty() {
                return Err(format!("{at}: role must not be empty"));
            }
            let ticket = inline_or_env(&at, "ticket", t.ticket, t.ticket_env, env)?;
            if ticket.trim().is_empty() {
                return Err(format!("{at}: the ticket is empty"));
            }
            let realm = any_or(t.realm);
            let entries = file.tickets.0.entry(t.authid.clone()).or_default();
            if entries.iter().any(|p| p.realm == realm) {
                return Err(format!(
                    "{at}: listed twice for {}",
                    realm
                        .as_deref()
                        .map_or("every realm".into(), |r| format!("realm \"{r}\""))
                ));
            }
            use sha2::Digest;
            entries.push(TicketPrincipal {
                role: t.role,
                realm,
                digest: sha2::Sha256::digest(ticket.as_bytes()).into(),
            });
        }
        for (i, c) in raw.cryptosign.into_iter().enumerate() {
            let at = format!("cryptosign #{} (\"{}\")", i + 1, c.authid);
            if c.authid.is_empty() || c.role.is_empty() {
                return Err(format!("{at}: authid and role must not be empty"));
            }
            if c.authorized_keys.is_empty() {
                return Err(format!("{at}: authorized_keys must list at least one key"));
            }
            let mut keys = Vec::with_capacity(c.authorized_keys.len());
            for text in &c.authorized_keys {
                let key = PublicKey::from_hex(text).ok_or_else(|| {
                    format!("{at}: \"{text}\" is not an Ed25519 public key (64 hex digits)")
                })?;
                keys.push(key);
            }
            let realm = any_or(c.realm);
            if let Some(twin) = file.cryptosign.0.iter().find(|p| {
                p.authid == c.authid && p.realm == realm && p.keys.iter().any(|k| keys.contains(k))
            }) {
                return Err(format!(
                    "{at}: a key is already listed for authid \"{}\" in the same realm",
                    twin.authid
                ));
            }
            file.cryptosign.0.push(CryptosignPrincipal {
                authid: c.authid,
                role: c.role,
                realm,
                keys,
            });
        }
        let mut seen = HashSet::new();
        for r in raw.realm {
            if !seen.insert(r.name.clone()) {
                return Err(format!("realm \"{}\": defined twice", r.name));
            }
            if r.anonymous_role.as_deref() == Some("") {
                return Err(format!(
                    "realm \"{}\": anonymous_role must not be empty",
                    r.name
                ));
            }
            file.realms.insert(
                r.name,
                RealmAuth {
                    anonymous: r.anonymous,
                    anonymous_role: r.anonymous_role,
                },
            );
        }
        Ok(file)
    }

    /// Realm names the file mentions, so start-up can refuse names that are not configured.
    pub fn realm_names(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .filter_map(|r| r.realm.as_deref())
            .chain(self.users.values().filter_map(|u| u.realm.as_deref()))
            .chain(self.tickets.realm_names())
            .chain(self.cryptosign.realm_names())
            .chain(self.realms.keys().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AuthFile, String> {
        AuthFile::parse(text, &|name| {
            (name == "PETER").then(|| "s3cret".to_string())
        })
    }

    #[test]
    fn a_complete_file_parses() {
        let file = parse(
            r#"
            [[rule]]
            role = "user"
            uri = "com.app.user.{authid}."
            match = "prefix"
            allow = ["subscribe", "call"]

            [[rule]]
            role = "*"
            realm = "realm1"
            uri = "com.app.public"
            allow = ["subscribe"]

            [[user]]
            authid = "peter"
            role = "backend"
            secret_env = "PETER"

            [[user]]
            authid = "joe"
            role = "user"
            secret = "derived=="
            salt = "salt123"

            [[ticket]]
            authid = "martin"
            role = "backend"
            ticket = "wEx9TPFtHdRr2Zg7rtRE"

            [[ticket]]
            authid = "martin"
            role = "reader"
            realm = "realm2"
            ticket_env = "PETER"

            [[cryptosign]]
            authid = "worker-1"
            role = "backend"
            authorized_keys = ["d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"]

            [[cryptosign]]
            authid = "worker-1"
            role = "reader"
            realm = "realm2"
            authorized_keys = ["D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A"]

            [[realm]]
            name = "realm1"
            anonymous = false
            "#,
        )
        .expect("valid");
        assert_eq!(file.rules.len(), 2);
        assert_eq!(file.rules[0].role.as_deref(), Some("user"));
        assert_eq!(file.rules[0].policy, MatchPolicy::Prefix);
        assert!(file.rules[0].grants(Action::Subscribe));
        assert!(file.rules[0].grants(Action::Call));
        assert!(!file.rules[0].grants(Action::Publish));
        assert_eq!(file.rules[1].role, None);
        assert!(file.rules[1].applies_to("realm1", "anyone"));
        assert!(!file.rules[1].applies_to("realm2", "anyone"));
        assert_eq!(file.users["peter"].key, b"s3cret");
        let salt = file.users["joe"].salt.as_ref().expect("salted");
        assert_eq!((salt.iterations, salt.keylen), (1000, 32));
        assert_eq!(file.realms["realm1"].anonymous, Some(false));
        let martin = file.tickets.find("martin", "realm1").expect("every realm");
        assert_eq!(martin.role, "backend");
        assert!(martin.accepts("wEx9TPFtHdRr2Zg7rtRE"));
        assert!(!martin.accepts("wEx9TPFtHdRr2Zg7rtRe"));
        let in_realm2 = file
            .tickets
            .find("martin", "realm2")
            .expect("its own entry");
        assert_eq!(in_realm2.role, "reader");
        assert!(in_realm2.accepts("s3cret"));
        assert!(file.tickets.find("joe", "realm1").is_none());
        let key =
            PublicKey::from_hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                .expect("RFC 8032 test key");
        let find = |realm, authid| {
            file.cryptosign
                .find(&key, realm, authid)
                .map(|p| p.role.as_str())
        };
        assert_eq!(find("realm1", None), Some("backend"));
        assert_eq!(find("realm2", None), Some("reader"));
        assert_eq!(find("realm2", Some("worker-1")), Some("reader"));
        assert_eq!(find("realm1", Some("someone-else")), None);
        let names: Vec<&str> = file.realm_names().collect();
        assert!(names.contains(&"realm1"));
        assert!(names.contains(&"realm2"));
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                "[[rule]]\nrole='a'\nuri='x'\nallow=['read']",
                "rule #1: \"read\"",
            ),
            (
                "[[rule]]\nrole='a'\nuri='x'\nmatch='regex'\nallow=['call']",
                "match \"regex\"",
            ),
            (
                "[[rule]]\nrole='a'\nuri='x.{user}'\nallow=['call']",
                "placeholder",
            ),
            ("[[rule]]\nrole='a'\nuri='x'\nallow=[]", "at least one"),
            ("[[rule]]\nrole='a'\nuri=''\nallow=['call']", "empty uri"),
            ("[[user]]\nauthid='p'\nrole='r'", "exactly one of secret"),
            (
                "[[user]]\nauthid='p'\nrole='r'\nsecret_env='NOPE'",
                "NOPE, which is not set",
            ),
            (
                "[[user]]\nauthid='p'\nrole='r'\nsecret='x'\nkeylen=5",
                "need a salt",
            ),
            (
                "[[user]]\nauthid='p'\nrole='r'\nsecret='x'\nsalt='s'\niterations=0",
                "iterations",
            ),
            ("[[realm]]\nname='a'\n[[realm]]\nname='a'", "defined twice"),
            ("[[ticket]]\nauthid='m'\nrole='r'", "exactly one of ticket"),
            ("[[ticket]]\nauthid='m'\nrole='r'\nticket=' '", "ticket is empty"),
            (
                "[[ticket]]\nauthid='m'\nrole='r'\nticket='a'\n[[ticket]]\nauthid='m'\nrole='q'\nticket='b'",
                "listed twice for every realm",
            ),
            ("[[ticket]]\nauthid='m'\nrole=''\nticket='a'", "role must not be empty"),
            (
                "[[cryptosign]]\nauthid='w'\nrole='r'\nauthorized_keys=['abc']",
                "is not an Ed25519 public key",
            ),
            (
                "[[cryptosign]]\nauthid='w'\nrole='r'\nauthorized_keys=[]",
                "at least one key",
            ),
            ("[[rules]]\nrole='a'", "unknown field"),
        ];
        for (text, expected) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn parse_errors_never_echo_secrets() {
        let err = parse("[[user]]\nauthid='p'\nrole='r'\nsecret='hunter2'\nsecret='hunter3'")
            .expect_err("duplicate key");
        assert!(!err.contains("hunter"), "{err}");
        assert!(err.starts_with("line "), "{err}");
    }

    #[test]
    fn debug_output_masks_keys() {
        let file = parse("[[user]]\nauthid='p'\nrole='r'\nsecret='hunter2'\n[[ticket]]\nauthid='t'\nrole='r'\nticket='hunter4'").expect("valid");
        assert!(!format!("{file:?}").contains("hunter"));
    }
}
