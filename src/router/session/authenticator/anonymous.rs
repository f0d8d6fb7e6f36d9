//! `anonymous`: no credentials. Offered where the realm allows it; the session gets a random
//! authid and the anonymous role (a realm's `anonymous_role`, never replacing the backend role).

use super::{Answer, Authenticator, Hello, Identity};
use crate::router::AuthConfig;
use wampd_proto::wamp::id;

/// The `anonymous` method.
pub struct Anonymous;

impl Authenticator for Anonymous {
    fn method(&self) -> &'static str {
        "anonymous"
    }

    fn available(&self, auth: &AuthConfig, realm: &str) -> bool {
        auth.anonymous_in(realm)
    }

    fn hello(&self, hello: &Hello<'_>) -> Answer {
        Answer::Welcome(Identity {
            authid: format!("anonymous-{:012x}", id::random_id()),
            authrole: hello
                .auth
                .anonymous_role(hello.realm, hello.listener_role)
                .to_owned(),
            authmethod: "anonymous",
            claims: None,
            session: None,
        })
    }
}
