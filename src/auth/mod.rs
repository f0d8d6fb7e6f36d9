//! Pure (sans-I/O) authentication building blocks for the router's HELLO →
//! CHALLENGE → AUTHENTICATE exchange and the WebSocket `?ticket=` parameter.
//!
//! Why separate: the credential checks are security-critical and must be
//! byte-compatible with other implementations (backends minting tickets in
//! PHP/Python/shell, Autobahn clients doing WAMP-CRA), so they live here with
//! cross-language test vectors, free of sockets, clocks and config. The
//! session layer supplies the secret, the current time and the messages.
//!
//! * [`ticket`]: stateless HMAC-SHA256 signed tickets (`ticket` authmethod).
//! * [`wampcra`]: WAMP-CRA challenge/response, plain and PBKDF2-salted.
//! * [`rules`]: the optional TOML file of permission rules, WAMP-CRA users and realm settings.

pub mod rules;
pub mod ticket;
pub mod wampcra;
