//! Well-known WAMP error and close-reason URIs (protocol reference §6.6,
//! §6.7), as constants so a typo becomes a compile error instead of a
//! client-visible protocol bug.

/// The caller is not allowed to perform the action.
pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
/// The authorizer itself failed (not a denial).
pub const AUTHORIZATION_FAILED: &str = "wamp.error.authorization_failed";
/// Authentication failed (e.g. bad signature/ticket).
pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
/// Authentication was denied by the authenticator.
pub const AUTHENTICATION_DENIED: &str = "wamp.error.authentication_denied";
/// The realm requires authentication but none was offered.
pub const AUTHENTICATION_REQUIRED: &str = "wamp.error.authentication_required";
/// None of the client's `authmethods` is acceptable.
pub const NO_MATCHING_AUTH_METHOD: &str = "wamp.error.no_matching_auth_method";
/// HELLO named a realm that does not exist.
pub const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";
/// The requested auth role does not exist.
pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
/// The `authid` is unknown.
pub const NO_SUCH_PRINCIPAL: &str = "wamp.error.no_such_principal";
/// A topic/procedure URI is malformed or reserved.
pub const INVALID_URI: &str = "wamp.error.invalid_uri";
/// CALL to a procedure nobody registered.
pub const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";
/// REGISTER of a procedure that is already registered.
pub const PROCEDURE_ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";
/// Shared REGISTER whose `invoke` policy differs from the existing one
/// (Crossbar's URI for this case).
pub const PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY: &str =
    "wamp.error.procedure_exists_with_different_invocation_policy";
/// UNREGISTER of an unknown registration.
pub const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";
/// UNSUBSCRIBE of an unknown subscription.
pub const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";
/// A meta-API call named an unknown session (e.g. `wamp.session.kill`).
pub const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
/// Arguments or options have the wrong type or value.
pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
/// The call was canceled (CANCEL / INTERRUPT).
pub const CANCELED: &str = "wamp.error.canceled";
/// The call timed out (`CALL.Options.timeout`).
pub const TIMEOUT: &str = "wamp.error.timeout";
/// The callee is unable to handle the invocation right now.
pub const UNAVAILABLE: &str = "wamp.error.unavailable";
/// No callee is available to take the call.
pub const NO_AVAILABLE_CALLEE: &str = "wamp.error.no_available_callee";
/// The requested feature is not supported by the router or peer.
pub const FEATURE_NOT_SUPPORTED: &str = "wamp.error.feature_not_supported";
/// An option is not allowed (generic form).
pub const OPTION_NOT_ALLOWED: &str = "wamp.error.option_not_allowed";
/// `disclose_me` was requested but is not permitted.
pub const OPTION_DISALLOWED_DISCLOSE_ME: &str = "wamp.error.option_disallowed.disclose_me";
/// The payload exceeds the transport's or peer's size limit.
pub const PAYLOAD_SIZE_EXCEEDED: &str = "wamp.error.payload_size_exceeded";
/// The peer broke the protocol (malformed or unexpected message).
pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
/// The transport failed underneath the session.
pub const NETWORK_FAILURE: &str = "wamp.error.network_failure";

/// GOODBYE reply reason (the echo of a peer's GOODBYE).
pub const CLOSE_GOODBYE_AND_OUT: &str = "wamp.close.goodbye_and_out";
/// Normal close initiated by a peer.
pub const CLOSE_NORMAL: &str = "wamp.close.normal";
/// The router is shutting down.
pub const CLOSE_SYSTEM_SHUTDOWN: &str = "wamp.close.system_shutdown";
/// The realm is being closed.
pub const CLOSE_CLOSE_REALM: &str = "wamp.close.close_realm";
/// The session was killed (e.g. via `wamp.session.kill`).
pub const CLOSE_KILLED: &str = "wamp.close.killed";

/// wampd's answer to a request that would exceed a configured limit (subscriptions per session,
/// calls in flight, …); not a WAMP-defined URI, so it lives in wampd's namespace.
pub const LIMIT_EXCEEDED: &str = "wampd.error.limit_exceeded";

#[cfg(test)]
mod tests {
    use super::super::uri::{is_reserved, is_valid_uri, MatchPolicy, UriPolicy};
    use super::*;

    #[test]
    fn all_constants_are_valid_strict_reserved_uris() {
        let all = [
            NOT_AUTHORIZED,
            AUTHORIZATION_FAILED,
            AUTHENTICATION_FAILED,
            AUTHENTICATION_DENIED,
            AUTHENTICATION_REQUIRED,
            NO_MATCHING_AUTH_METHOD,
            NO_SUCH_REALM,
            NO_SUCH_ROLE,
            NO_SUCH_PRINCIPAL,
            INVALID_URI,
            NO_SUCH_PROCEDURE,
            PROCEDURE_ALREADY_EXISTS,
            PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,
            NO_SUCH_REGISTRATION,
            NO_SUCH_SUBSCRIPTION,
            NO_SUCH_SESSION,
            INVALID_ARGUMENT,
            CANCELED,
            TIMEOUT,
            UNAVAILABLE,
            NO_AVAILABLE_CALLEE,
            FEATURE_NOT_SUPPORTED,
            OPTION_NOT_ALLOWED,
            OPTION_DISALLOWED_DISCLOSE_ME,
            PAYLOAD_SIZE_EXCEEDED,
            PROTOCOL_VIOLATION,
            NETWORK_FAILURE,
            CLOSE_GOODBYE_AND_OUT,
            CLOSE_NORMAL,
            CLOSE_SYSTEM_SHUTDOWN,
            CLOSE_CLOSE_REALM,
            CLOSE_KILLED,
        ];
        for uri in all {
            assert!(
                is_valid_uri(uri, UriPolicy::Strict, MatchPolicy::Exact),
                "{uri}"
            );
            assert!(is_reserved(uri), "{uri}");
        }
        assert_eq!(PROTOCOL_VIOLATION, "wamp.error.protocol_violation");
        assert_eq!(CLOSE_GOODBYE_AND_OUT, "wamp.close.goodbye_and_out");
    }
}
