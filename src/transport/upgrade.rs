//! Answers a connection's first request when it is a WebSocket upgrade: admission (origin,
//! Oro ticket), negotiation, and the 101 response, for WAMP v2 and v1 alike.
//!
//! The 101 is written by hand so that, for WAMP v1, the response and the WELCOME frame leave in
//! a single write with nothing after them until the client speaks, and the head contains no `[`
//! or `]`: Oro's PHP backend client reads once and cuts the WELCOME out of whatever it got
//! between the first `[` and `]` (`oro-gos.md` §8). Refusals happen before the 101 with a plain
//! HTTP status, so a browser sees a failed (unclean) connection and retries with a new ticket.
//! Behind a trusted proxy, every check and log line uses the client the proxy names
//! ([`super::client_addr`]).

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::header::{self, HeaderMap};
use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info, warn};

use crate::checks::{Checker, Outcome, Params, Runner};
use crate::config::checks::ConnectCheckSettings;
use crate::oro::user_store::UserStore;
use crate::oro::verified_tickets::VerifiedTickets;
use crate::router::session_v1::V1Identity;
use crate::router::ticket_clock;
use crate::socketio::session::SioIdentity;
use crate::transport::client_addr::ClientAddr;
use crate::transport::connection::{self, Flavor, Wire};
use crate::transport::http_head::RequestHead;
use crate::transport::origin::{OriginList, OriginRefused};
use crate::transport::websocket::{self, Protocol};
use crate::transport::{websocket_wire, ConnectionSlot, ListenerSpec, ServerState};
use wampd_proto::oro_ticket::{self as ticket, ParsedTicket, TicketCheck, TicketError};
use wampd_proto::ticket::{self as auth_ticket, Claims};
use wampd_proto::wamp::v1::{self, V1Message};
use wampd_proto::wamp::{id, Serializer};

/// Who may open WebSockets, decided before the upgrade.
#[derive(Clone)]
pub struct Admission {
    /// The Origin allow-list; `None` = no check.
    pub origins: Option<OriginList>,
    /// Whether WAMP v1 clients are accepted.
    pub v1: bool,
    /// Oro's secret: when set, WAMP v1 clients need a valid ticket.
    pub oro_secret: Option<String>,
    /// wampd's ticket secret: a `?ticket=` on a WAMP v2 upgrade is verified with it.
    pub ticket_secret: Option<Vec<u8>>,
    /// Oro's users, for named tickets; `None` refuses them.
    pub oro_users: Option<Arc<UserStore>>,
    /// The role of v1 clients holding an anonymous Oro ticket: only backends can mint one.
    pub backend_role: Arc<str>,
    /// The application's check of browser upgrades (`WEBSOCKET_CONNECT_CHECK`, Espo's
    /// `AuthTokenCheck`); `None` = none.
    pub connect: Option<Arc<ConnectCheck>>,
    /// Oro tickets that already passed their digest check.
    pub verified_tickets: Arc<VerifiedTickets>,
}

/// The connect check and the checker it runs on.
#[derive(Debug)]
pub struct ConnectCheck {
    /// Runs checks within their limits (shared with the subscribe gate).
    pub checker: Arc<Checker>,
    /// What to ask and what the answer means.
    pub settings: ConnectCheckSettings,
}

/// Most query parameters sent to an HTTP connect check.
const MAX_CHECK_PARAMS: usize = 32;

impl ConnectCheck {
    /// The placeholder values for a request with `query` from `client`: the query parameters
    /// (first value of each name) and `:ip`.
    fn params(&self, query: Option<&str>, client: &ClientAddr) -> Params {
        let mut params: Params = Vec::new();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if params.len() == MAX_CHECK_PARAMS {
                break;
            }
            if name != "ip" && !params.iter().any(|(k, _)| *k == name) {
                params.push((name.into_owned(), value.into_owned()));
            }
        }
        params.push(("ip".into(), client.ip().to_string()));
        params
    }

    /// Runs the check; `Ok` = the admitted (authid, authrole).
    async fn admit(
        &self,
        query: Option<&str>,
        client: &ClientAddr,
    ) -> Result<(String, String), CredentialError> {
        let params = self.params(query, client);
        let value = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        // Every placeholder a command or the identity needs must be in the request (Espo closes
        // a connection without authToken or userId).
        let mut needed = self.settings.authid.placeholders();
        if let Runner::Exec { args, .. } = &self.settings.check.runner {
            needed.extend(args.placeholders());
        }
        if let Some(expect) = &self.settings.check.expect {
            needed.extend(expect.placeholders());
        }
        if let Some(missing) = needed.iter().find(|n| value(n).is_none_or(str::is_empty)) {
            return Err(CredentialError::ConnectCheck(format!(
                "the request has no {missing} parameter"
            )));
        }
        let authid = self
            .settings
            .authid
            .render(value)
            .map_err(CredentialError::ConnectCheck)?
            .join(" ");
        if authid.is_empty() {
            return Err(CredentialError::ConnectCheck("an empty authid".into()));
        }
        let outcome = self.checker.run(&self.settings.check, &params).await;
        match outcome {
            Outcome::Allowed(_) => Ok((authid, self.settings.authrole.clone())),
            Outcome::Denied(why) => Err(CredentialError::ConnectCheck(why)),
            Outcome::Failed(why) => Err(CredentialError::CheckUnavailable(why)),
        }
    }
}

impl Admission {
    /// The auth role of a WAMP v2 WebSocket client arriving on a listener whose sessions get
    /// `listener_role`. A program on this machine rather than a browser (`wampd publish
    /// ws://127.0.0.1`, a local worker), i.e. a local client (loopback, not relayed by a proxy)
    /// that sent no `Origin`, which browsers always send, is a backend, as loopback RawSocket and
    /// `POST /publish` clients are.
    pub fn websocket_role(
        &self,
        client: &ClientAddr,
        headers: &HeaderMap,
        listener_role: &Arc<str>,
    ) -> Arc<str> {
        if client.is_local() && !headers.contains_key(header::ORIGIN) {
            self.backend_role.clone()
        } else {
            listener_role.clone()
        }
    }
}

impl Admission {
    /// The auth role of a RawSocket peer at `peer` on a listener whose sessions get
    /// `listener_role`: browsers cannot speak RawSocket, so a peer on this machine is a backend
    /// (`wampd publish`, a local worker); remote peers need the backend listener or credentials.
    /// RawSocket carries no Origin, query or forwarding headers, so this, the accept loop's
    /// connection slots and HELLO's failed-auth limiter are its whole admission.
    pub fn rawsocket_role(&self, peer: SocketAddr, listener_role: &Arc<str>) -> Arc<str> {
        if peer.ip().is_loopback() {
            self.backend_role.clone()
        } else {
            listener_role.clone()
        }
    }
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("origins", &self.origins)
            .field("v1", &self.v1)
            .field("oro_secret", &self.oro_secret.as_ref().map(|_| "***"))
            .field("ticket_secret", &self.ticket_secret.as_ref().map(|_| "***"))
            .field("oro_users", &self.oro_users)
            .field("backend_role", &self.backend_role)
            .field("connect", &self.connect.is_some())
            .finish()
    }
}

impl Admission {
    /// Checks the Origin header against the allow-list ([`OriginList`]); requests without one
    /// (non-browser clients) pass.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> Result<(), OriginRefused> {
        let Some(allowed) = &self.origins else {
            return Ok(());
        };
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        allowed.allows(origin.to_str().unwrap_or(""))
    }
}

/// The server identity in v1 WELCOMEs (no brackets, short enough for one small frame).
fn server_ident() -> String {
    format!("wampd/{}", env!("CARGO_PKG_VERSION"))
}

fn status_text(status: StatusCode) -> String {
    format!(
        "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    )
}

async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, status: StatusCode, body: &str) {
    let response = format!("{}{}\n", status_text(status), body);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A wampd ticket on a WAMP v2 upgrade (`?ticket=`), when ticket authentication is on: verified
/// here, so the session's HELLO is welcomed with the ticket's identity.
fn v2_ticket(
    admission: &Admission,
    query: Option<&str>,
) -> Result<Option<Claims>, CredentialError> {
    let Some(secret) = &admission.ticket_secret else {
        return Ok(None);
    };
    let Some(token) = query.and_then(ticket::ticket_from_query) else {
        return Ok(None);
    };
    ticket_clock::verify_now(secret, &token)
        .map(Some)
        .map_err(CredentialError::V2Ticket)
}

/// How long the identity a connect check gave a WAMP v2 session stays valid for its HELLO (the
/// check vouches for the upgrade, not for a session's lifetime; a session is not cut off later).
const CHECKED_SESSION_SECS: i64 = 86_400;

/// The auth role of Oro back-office users authenticated by a named ticket.
pub const ORO_USER_ROLE: &str = "user";

/// Decides who a v1 client is from its ticket.
///
/// Without `ORO_SECRET` nobody is checked and everyone is a browser (`listener_role`). An anonymous
/// ticket proves the holder knows `ORO_SECRET`, which only Oro's backend does: it gets the backend
/// role. A named ticket is checked against the user's password hash from the application
/// database and gets [`ORO_USER_ROLE`] and the user's id (for user-scoped topics). The 5000
/// SHA-512 rounds of a digest run off the async workers, so ticket checks never stall routing.
async fn v1_identity(
    admission: Admission,
    query: Option<String>,
    session_id: u64,
    listener_role: Arc<str>,
) -> Result<V1Identity, CredentialError> {
    let identity = |authid: String, authrole: &str, user_id| V1Identity {
        authid,
        authrole: authrole.to_owned(),
        user_id,
    };
    let anonymous_id = format!("anonymous-{session_id}");
    let Some(secret) = admission.oro_secret.clone() else {
        return Ok(identity(anonymous_id, &listener_role, None));
    };
    let Some(raw) = query.as_deref().and_then(ticket::ticket_from_query) else {
        return Err(CredentialError::NoTicket);
    };
    let parsed = ParsedTicket::parse(&raw)?;
    parsed.check_time(ticket_clock::unix_now(), &TicketCheck::default())?;
    let verified = &admission.verified_tickets;
    if parsed.is_anonymous() {
        let key = VerifiedTickets::key(&raw, &secret);
        let mut failure = None;
        let passed = verified
            .verify(key, || async {
                let digest =
                    tokio::task::spawn_blocking(move || ticket::verify_anonymous(&parsed, &secret));
                match digest.await {
                    Ok(Ok(())) => true,
                    Ok(Err(err)) => {
                        failure = Some(CredentialError::from(err));
                        false
                    }
                    Err(_) => {
                        failure = Some(CredentialError::CheckFailed);
                        false
                    }
                }
            })
            .await;
        if !passed {
            return Err(failure.unwrap_or(CredentialError::CheckFailed));
        }
        return Ok(identity(anonymous_id, &admission.backend_role, None));
    }
    let username = parsed.username().into_owned();
    let Some(users) = admission.oro_users.clone() else {
        return Err(CredentialError::NoUserStore(username));
    };
    let user = match users.find(&username).await {
        Ok(Some(user)) => user,
        Ok(None) => return Err(CredentialError::NoSuchUser(username)),
        Err(err) => {
            warn!(error = %err, "cannot check an Oro named ticket");
            return Err(CredentialError::LookupFailed(username));
        }
    };
    let password = user.password.clone();
    let key = VerifiedTickets::key(&raw, &password);
    let valid = verified
        .verify(key, || async {
            tokio::task::spawn_blocking(move || {
                !password.is_empty() && ticket::verify_named(&parsed, &password, &secret)
            })
            .await
            .unwrap_or(false)
        })
        .await;
    if !valid {
        return Err(CredentialError::InvalidDigest(username));
    }
    Ok(identity(user.username, ORO_USER_ROLE, Some(user.id)))
}

/// An upgrade request as either path sees it: the first request of a connection (read by
/// [`super::http_head`]) or a later one on a kept-alive connection (read by hyper).
pub struct UpgradeRequest<'a> {
    /// Request method.
    pub method: &'a hyper::Method,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The query string, where `?ticket=` is.
    pub query: Option<&'a str>,
    /// The path: the Socket.IO path gets Socket.IO.
    pub path: &'a str,
    /// True for HTTP/1.1.
    pub http11: bool,
    /// Whether WAMP v1 may be negotiated: only where the WELCOME can share the 101's write.
    pub v1_possible: bool,
}

/// What admission decided for an upgrade: who the client is and what its session starts as.
pub struct Admitted {
    /// The client (the one a trusted proxy names, or the TCP peer).
    pub client: ClientAddr,
    /// Its per-address slot when it came through a trusted proxy (held for the connection).
    pub client_slot: Option<crate::transport::per_ip::IpSlot>,
    /// The negotiated protocol and handshake answer.
    pub accepted: websocket::Accepted,
    /// How the session starts.
    pub flavor: Flavor,
    /// Its serializer.
    pub serializer: Serializer,
    /// The auth role anonymous sessions of this connection get.
    pub authrole: Arc<str>,
}

/// A refused upgrade: the HTTP status and body to answer with (already logged and counted). An
/// HTTP answer, unlike the router's [`crate::router::refusal::Refusal`] (a WAMP error URI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRefusal {
    /// HTTP status.
    pub status: StatusCode,
    /// One line for the body.
    pub body: &'static str,
}

/// Why the credentials on an upgrade were refused. The text is the log line; for WAMP v1 it
/// follows GosWebSocketBundle's wording (oro-gos §7), which Oro operators grep for.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A wampd ticket in `?ticket=` that does not verify.
    #[error("Authentication failed: ticket on the upgrade refused: {0}")]
    V2Ticket(auth_ticket::TicketError),
    /// `ORO_SECRET` is set and the v1 request carries no ticket.
    #[error("Authentication failed: no ticket in the request")]
    NoTicket,
    /// The Oro ticket is malformed, expired or its digest is wrong.
    #[error("Authentication failed: {0}")]
    OroTicket(#[from] TicketError),
    /// The digest check itself could not run.
    #[error("Authentication failed: the ticket check failed")]
    CheckFailed,
    /// A named ticket without `WEBSOCKET_DATABASE_DSN` to check it against.
    #[error("Authentication failed: ticket for user {0:?}: named tickets need WEBSOCKET_DATABASE_DSN (the application database)")]
    NoUserStore(String),
    /// A named ticket for a user the application database does not have.
    #[error("Authentication failed: ticket for user {0:?}: no such user")]
    NoSuchUser(String),
    /// The application database could not be asked.
    #[error("Authentication failed: ticket for user {0:?}: the user could not be looked up")]
    LookupFailed(String),
    /// A named ticket whose digest does not match the user's password hash.
    #[error("Authentication failed: Ticket for {0:?} is not valid - invalid digest.")]
    InvalidDigest(String),
    /// The connect check refused the request.
    #[error("Authentication failed: the connect check refused: {0}")]
    ConnectCheck(String),
    /// The connect check gave no answer (timeout, overload): not the client's fault.
    #[error("the connect check gave no answer: {0}")]
    CheckUnavailable(String),
}

impl Admitted {
    /// The auth role that decides the connection's message size limit: a WAMP v1 ticket's or
    /// a v2 upgrade ticket's role when there is one, otherwise the listener's.
    pub fn effective_role(&self) -> &str {
        match &self.flavor {
            Flavor::V1 { identity, .. } => &identity.authrole,
            Flavor::V2 {
                preauth: Some(claims),
                ..
            } => &claims.authrole,
            Flavor::V2 { preauth: None, .. } => &self.authrole,
            Flavor::SocketIo { identity, .. } => &identity.authrole,
        }
    }
}

/// The one admission function: every WebSocket upgrade, on a fresh connection or a kept-alive
/// one, goes through here. In order: the client's real address behind a trusted proxy and its
/// per-address slot, HTTP/1.1, the WebSocket handshake and subprotocol, the failed-auth limiter,
/// the Origin allow-list, then the credentials (`?ticket=` for v2, Oro's ticket for v1). A
/// refusal is logged and counted here; the caller only writes it.
pub async fn admit(
    state: &ServerState,
    spec: &ListenerSpec,
    peer: SocketAddr,
    request: UpgradeRequest<'_>,
) -> Result<Admitted, HttpRefusal> {
    let metrics = state.connection.router.metrics();
    let admission = &state.admission;
    let headers = request.headers;
    let client = state.trusted_proxies.resolve(peer, headers);
    let Ok(client_slot) = state.proxied_client_slot(peer, &client) else {
        return Err(HttpRefusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: "connection limit reached; retry",
        });
    };
    if !request.http11 {
        metrics.handshake_failure("bad_version");
        return Err(HttpRefusal {
            status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            body: "HTTP/1.1 required",
        });
    }
    let socketio = super::socketio::is_engineio(request.path);
    if socketio {
        if let Err(refused) = super::socketio::check_websocket_query(request.query) {
            info!(%client, reason = refused.body, "Engine.IO request refused");
            metrics.handshake_failure(refused.label);
            return Err(HttpRefusal {
                status: StatusCode::BAD_REQUEST,
                body: refused.body,
            });
        }
    }
    let accepted = websocket::accept(
        request.method,
        headers,
        admission.v1 && request.v1_possible,
        socketio,
    )
    .map_err(|refused| {
        info!(%client, status = refused.status.as_u16(), reason = refused.reason, "WebSocket handshake refused");
        metrics.handshake_failure(refused.label);
        HttpRefusal {
            status: refused.status,
            body: refused.reason,
        }
    })?;
    let (authrole, checked) =
        admit_browser(state, spec, &client, headers, request.query, socketio).await?;
    let credentials_refused = |why: CredentialError| credential_refusal(state, &client, why);
    let (flavor, serializer) = match accepted.protocol {
        Protocol::V2(serializer) | Protocol::V2Batched(serializer) => {
            let preauth = match checked {
                Some((authid, authrole)) => Some(Claims {
                    authid,
                    authrole,
                    expires: ticket_clock::unix_now().saturating_add(CHECKED_SESSION_SECS),
                    topics: None,
                }),
                None => v2_ticket(admission, request.query).map_err(credentials_refused)?,
            };
            let batched = matches!(accepted.protocol, Protocol::V2Batched(_));
            (Flavor::V2 { preauth, batched }, serializer)
        }
        Protocol::SocketIo => {
            let identity = SioIdentity {
                authid: checked.as_ref().map(|(authid, _)| authid.clone()),
                authrole: checked
                    .map(|(_, role)| role)
                    .unwrap_or_else(|| authrole.to_string()),
            };
            let engine_sid = match super::socketio_polling::upgrade_target(state, request.query) {
                Ok(sid) => sid,
                Err(super::socketio_polling::UnknownSid) => {
                    metrics.handshake_failure(super::socketio::UNKNOWN_SID.label);
                    return Err(HttpRefusal {
                        status: StatusCode::BAD_REQUEST,
                        body: super::socketio::UNKNOWN_SID.body,
                    });
                }
            };
            (
                Flavor::SocketIo {
                    identity,
                    engine_sid,
                },
                Serializer::Json,
            )
        }
        Protocol::V1 => {
            let session_id = id::random_id();
            let identity = match checked {
                Some((authid, authrole)) => V1Identity {
                    authid,
                    authrole,
                    user_id: None,
                },
                None => v1_identity(
                    admission.clone(),
                    request.query.map(str::to_owned),
                    session_id,
                    spec.authrole.clone(),
                )
                .await
                .map_err(credentials_refused)?,
            };
            (
                Flavor::V1 {
                    session_id,
                    identity,
                },
                Serializer::Json,
            )
        }
    };
    Ok(Admitted {
        client,
        client_slot,
        accepted,
        flavor,
        serializer,
        authrole,
    })
}

/// The refusal of credentials: logged, counted, and charged to the failed-auth limiter (a check
/// that gave no answer is not the client's fault: 503, not charged).
fn credential_refusal(
    state: &ServerState,
    client: &ClientAddr,
    why: CredentialError,
) -> HttpRefusal {
    let metrics = state.connection.router.metrics();
    if let CredentialError::CheckUnavailable(_) = why {
        warn!(%client, "{why}");
        metrics.handshake_failure("check_unavailable");
        return HttpRefusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: "retry later",
        };
    }
    info!(%client, "{why}");
    metrics.auth_failures.inc();
    metrics.handshake_failure("ticket");
    state.connection.router.auth_limiter().failed(client.ip());
    HttpRefusal {
        status: StatusCode::FORBIDDEN,
        body: "Forbidden",
    }
}

/// The refusal of a page's origin: logged (within the connection warning budget), counted, and
/// answered 403, or 400 on the Engine.IO path, as python-engineio answers it.
pub fn origin_refusal(
    state: &ServerState,
    client: &ClientAddr,
    why: OriginRefused,
    engineio: bool,
) -> HttpRefusal {
    crate::router::log_budget::connection_warning(
        |suppressed| warn!(%client, %why, suppressed, "Client rejected, bad origin"),
    );
    state
        .connection
        .router
        .metrics()
        .handshake_failure("bad_origin");
    HttpRefusal {
        status: if engineio {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::FORBIDDEN
        },
        body: "origin not allowed",
    }
}

/// What every request that opens a session checks, whatever its transport (a WebSocket upgrade,
/// an Engine.IO polling handshake): the failed-auth limiter, the Origin allow-list, the role (a
/// local program without an Origin is a backend) and, for browsers, the connect check. Returns
/// the role and the connect check's (authid, authrole). `engineio`: the request is on the
/// Engine.IO path, whose refusals are its own.
pub async fn admit_browser(
    state: &ServerState,
    spec: &ListenerSpec,
    client: &ClientAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    engineio: bool,
) -> Result<(Arc<str>, Option<(String, String)>), HttpRefusal> {
    let metrics = state.connection.router.metrics();
    let admission = &state.admission;
    let limiter = state.connection.router.auth_limiter();
    if !limiter.allows(client.ip()) {
        info!(%client, "Authentication failed: too many failed attempts from this address");
        metrics.handshake_failure("auth_rate_limit");
        return Err(HttpRefusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: "too many failed attempts",
        });
    }
    if let Err(why) = admission.origin_allowed(headers) {
        return Err(origin_refusal(state, client, why, engineio));
    }
    let authrole = admission.websocket_role(client, headers, &spec.authrole);
    let checked = match &admission.connect {
        Some(check) if authrole != admission.backend_role => {
            let outcome = check.admit(query, client).await;
            metrics.external_check(
                "connect",
                match &outcome {
                    Ok(_) => "allowed",
                    Err(CredentialError::CheckUnavailable(_)) => "failed",
                    Err(_) => "denied",
                },
            );
            Some(outcome.map_err(|why| credential_refusal(state, client, why))?)
        }
        _ => None,
    };
    Ok((authrole, checked))
}

/// Serves a connection whose first request is a WebSocket upgrade.
pub async fn serve<S>(
    state: Arc<ServerState>,
    mut stream: S,
    head: RequestHead,
    peer: SocketAddr,
    slot: ConnectionSlot,
    spec: Arc<ListenerSpec>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let request = UpgradeRequest {
        method: &head.method,
        headers: &head.headers,
        query: head.query(),
        path: head.path(),
        http11: head.http11,
        v1_possible: true,
    };
    // Boxed: admission (connect checks, database lookups) is large and over once the session
    // runs; inline, the connection's task would keep its size for the session's whole life.
    let admitted = match Box::pin(admit(&state, &spec, peer, request)).await {
        Ok(admitted) => admitted,
        Err(refusal) => return refuse(&mut stream, refusal.status, refusal.body).await,
    };
    let mut response = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    if let Some(subprotocol) = admitted.accepted.subprotocol {
        response.push_str(&format!("Sec-WebSocket-Protocol: {subprotocol}\r\n"));
    }
    response.push_str(&format!(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nX-Powered-By: {}\r\n\r\n",
        admitted.accepted.accept_key,
        server_ident()
    ));
    let mut bytes = response.into_bytes();
    if let Flavor::V1 { session_id, .. } = &admitted.flavor {
        let welcome = v1::encode(&V1Message::Welcome {
            session: session_id.to_string(),
            version: 1,
            server: server_ident(),
        });
        wampd_proto::websocket::write_server_frame(
            &mut bytes,
            wampd_proto::websocket::OP_TEXT,
            welcome.as_bytes(),
        );
    }
    let client = admitted.client;
    // One write: the 101 and (for v1) the WELCOME reach the client together.
    if let Err(err) = stream.write_all(&bytes).await {
        debug!(%client, error = %err, "writing the upgrade response failed");
        return;
    }
    // Not kept for the session's life.
    drop(bytes);
    let config = state.websocket_config(admitted.effective_role());
    // The request head is not needed any more: keep only the bytes that followed it, so an idle
    // session does not carry its HTTP headers for its whole life.
    let rest = head.rest().to_vec();
    drop(head);
    let client_slot = admitted.client_slot;
    debug!(%client, protocol = ?admitted.accepted.protocol, "WebSocket established");
    if let Flavor::SocketIo {
        engine_sid: Some(sid),
        ..
    } = &admitted.flavor
    {
        // The upgrade of a polling session: the session exists; this WebSocket becomes its wire.
        let ws =
            WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(config)).await;
        let _held = (slot, client_slot);
        return Box::pin(super::socketio_polling::upgrade(
            state.clone(),
            sid.clone(),
            ws,
        ))
        .await;
    }
    let batched = admitted.flavor.is_batched();
    let (inbound, sink) = websocket_wire::split(stream, rest, config, batched).await;
    let wire = Wire {
        inbound,
        sink,
        serializer: admitted.serializer,
        transport: "websocket",
        authrole: admitted.authrole,
        flavor: admitted.flavor,
    };
    // The session in a task of its own: this one's state (the request head, admission) is
    // freed, and the session's task is no larger than the session.
    let ctx = state.connection.clone();
    state
        .tracker
        .spawn(connection::run(ctx, wire, client.addr, (slot, client_slot)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::choices::OriginMatch;

    #[test]
    fn origin_check_compares_hosts_only() {
        let admission = Admission {
            origins: Some(OriginList::new(
                OriginMatch::Host,
                &["crm.example.com".into()],
            )),
            v1: true,
            oro_secret: None,
            ticket_secret: None,
            oro_users: None,
            backend_role: "backend".into(),
            connect: None,
            verified_tickets: Arc::new(VerifiedTickets::new(
                ticket::DEFAULT_TTL,
                Arc::new(crate::metrics::Metrics::new()),
            )),
        };
        let with = |origin: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ORIGIN, origin.parse().expect("header"));
            h
        };
        assert!(admission
            .origin_allowed(&with("https://crm.example.com:8443"))
            .is_ok());
        assert!(admission.origin_allowed(&with("127.0.0.1")).is_ok());
        assert!(admission.origin_allowed(&with("http://localhost")).is_ok());
        assert!(admission
            .origin_allowed(&with("https://evil.example.com"))
            .is_err());
        assert!(
            admission
                .origin_allowed(&with("https://CRM.example.com"))
                .is_err(),
            "case-sensitive like Gos"
        );
        assert!(
            admission.origin_allowed(&HeaderMap::new()).is_ok(),
            "non-browser clients send none"
        );
    }

    #[test]
    fn the_v1_welcome_and_101_contain_no_brackets_before_the_frame() {
        let welcome = v1::encode(&V1Message::Welcome {
            session: "9007199254740992".into(),
            version: 1,
            server: server_ident(),
        });
        assert!(welcome.len() < 126 && welcome.len() != 91 && welcome.len() != 93);
        assert!(!server_ident().contains(['[', ']']));
    }
}
