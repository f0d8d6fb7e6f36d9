//! TLS for listeners whose DSN scheme is `ssl://` or `tls://` (native `wss://` and RawSocket over
//! TLS without a proxy), with native-tls (the platform's OpenSSL on Linux).
//!
//! The certificate and key come from the DSN's PHP-style context options, as Oro's configuration
//! names them: `context_options[local_cert]` is a PEM file with the certificate chain (and the
//! key, when `local_pk` is absent) or a PKCS#12 bundle (`.p12`/`.pfx`, opened with
//! `context_options[passphrase]`); `context_options[local_pk]` is a PEM PKCS#8 private key.
//! Every problem is reported at start-up with the variable and the file it concerns.

use std::path::Path;

use tokio_native_tls::TlsAcceptor;

use crate::config::Dsn;

fn read(variable: &str, option: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|err| {
        format!("{variable}: cannot read context_options[{option}] file {path:?}: {err}")
    })
}

fn is_pkcs12(path: &str, bytes: &[u8]) -> bool {
    let extension = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(extension.as_deref(), Some("p12" | "pfx")) || !bytes.starts_with(b"-----")
}

/// Builds the acceptor for `dsn` (named by `variable` in errors); `Ok(None)` when the DSN is not
/// TLS.
pub fn acceptor(dsn: &Dsn, variable: &str) -> Result<Option<TlsAcceptor>, String> {
    if !dsn.wants_tls() {
        return Ok(None);
    }
    let options = dsn.context_options();
    let Some(cert_path) = options.get("local_cert").filter(|p| !p.is_empty()) else {
        return Err(format!(
            "{variable} uses {}:// but has no context_options[local_cert] (a PEM certificate chain or a PKCS#12 file)",
            dsn.scheme
        ));
    };
    let cert = read(variable, "local_cert", cert_path)?;
    let identity = if is_pkcs12(cert_path, &cert) {
        let passphrase = options.get("passphrase").map(String::as_str).unwrap_or("");
        native_tls::Identity::from_pkcs12(&cert, passphrase).map_err(|err| {
            format!("{variable}: context_options[local_cert] {cert_path:?} is not a PKCS#12 bundle this passphrase opens: {err}")
        })?
    } else {
        let key = match options.get("local_pk").filter(|p| !p.is_empty()) {
            Some(key_path) => read(variable, "local_pk", key_path)?,
            None => cert.clone(),
        };
        native_tls::Identity::from_pkcs8(&cert, &key).map_err(|err| {
            format!("{variable}: context_options[local_cert]/[local_pk] are not a PEM certificate and PKCS#8 private key: {err}")
        })?
    };
    let acceptor = native_tls::TlsAcceptor::new(identity)
        .map_err(|err| format!("{variable}: cannot set up TLS: {err}"))?;
    Ok(Some(TlsAcceptor::from(acceptor)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_dsns_need_no_tls_and_missing_files_are_named() {
        let plain = Dsn::parse("tcp://127.0.0.1:8080").expect("dsn");
        assert!(acceptor(&plain, "WEBSOCKET_SERVER_DSN")
            .expect("ok")
            .is_none());

        let no_cert = Dsn::parse("ssl://127.0.0.1:8443").expect("dsn");
        let err = acceptor(&no_cert, "WEBSOCKET_SERVER_DSN").expect_err("needs a cert");
        assert!(
            err.contains("WEBSOCKET_SERVER_DSN") && err.contains("local_cert"),
            "{err}"
        );

        let missing =
            Dsn::parse("ssl://127.0.0.1:8443?context_options[local_cert]=/nonexistent/cert.pem")
                .expect("dsn");
        let err = acceptor(&missing, "WEBSOCKET_BACKEND_DSN").expect_err("missing file");
        assert!(
            err.contains("/nonexistent/cert.pem") && err.contains("WEBSOCKET_BACKEND_DSN"),
            "{err}"
        );
    }
}
