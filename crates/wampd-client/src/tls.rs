//! TLS for `ssl://` and `tls://` DSNs, configured by the DSN's PHP `context_options`.
//!
//! Oro's PHP client hands `context_options[...]` to `stream_context_create(['ssl' => ...])`, so
//! operators already have DSNs such as
//! `ssl://ws.example.com:443/ws?context_options[verify_peer]=false&context_options[verify_peer_name]=false`.
//! The same DSN must mean the same thing here, so the options are read with PHP's meaning
//! (booleans as `FILTER_VALIDATE_BOOLEAN` reads them, `cafile` replacing the system roots) and
//! mapped onto native-tls (OpenSSL on Linux, like PHP):
//!
//! | option | default | here |
//! |---|---|---|
//! | `verify_peer` | true | false: the certificate chain is not checked (nor, unlike PHP, the name: native-tls cannot check one without the other) |
//! | `verify_peer_name` | true | false: the name is not checked |
//! | `allow_self_signed` | false | true: a self-signed leaf certificate is trusted (see [`crate::connect`]) |
//! | `cafile` | system roots | PEM (one or more certificates) or DER file; replaces the system roots, as in PHP |
//! | `peer_name` | the DSN host | the name checked and sent as SNI |
//! | `SNI_enabled` | true | false: no SNI |
//!
//! `capture_peer_cert`, `capture_peer_cert_chain` and `disable_compression` change nothing for a
//! publisher and are accepted. Every other option is refused rather than ignored, because most
//! of them (`peer_fingerprint`, `capath`, `ciphers`, `local_cert`, ...) tighten or change
//! security and silently dropping one would make a connection less safe than configured.

use std::path::{Path, PathBuf};

use native_tls::{Certificate, TlsConnector};

use wampd_proto::dsn::Dsn;
use wampd_proto::dsn::Param;

use super::error::ClientError;

/// Options that are accepted and have no effect on a publisher.
const HARMLESS: &[&str] = &[
    "capture_peer_cert",
    "capture_peer_cert_chain",
    "disable_compression",
];

/// Options that are understood.
const SUPPORTED: &[&str] = &[
    "verify_peer",
    "verify_peer_name",
    "allow_self_signed",
    "cafile",
    "peer_name",
    "SNI_enabled",
];

/// The TLS settings of one DSN.
#[derive(Clone)]
pub struct TlsOptions {
    /// `context_options[verify_peer]`: check the certificate chain.
    pub verify_peer: bool,
    /// `context_options[verify_peer_name]`: check the certificate's name.
    pub verify_peer_name: bool,
    /// `context_options[allow_self_signed]`: trust a self-signed leaf certificate.
    pub allow_self_signed: bool,
    /// `context_options[cafile]`: the file the roots were read from.
    pub cafile: Option<PathBuf>,
    /// The certificates read from `cafile` (empty: the system roots are used).
    pub roots: Vec<Certificate>,
    /// `context_options[peer_name]`: the name to check instead of the DSN host.
    pub peer_name: Option<String>,
    /// `context_options[SNI_enabled]`: send the name as SNI.
    pub sni: bool,
}

impl Default for TlsOptions {
    /// PHP's client defaults: verify everything against the system roots.
    fn default() -> Self {
        TlsOptions {
            verify_peer: true,
            verify_peer_name: true,
            allow_self_signed: false,
            cafile: None,
            roots: Vec::new(),
            peer_name: None,
            sni: true,
        }
    }
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("verify_peer", &self.verify_peer)
            .field("verify_peer_name", &self.verify_peer_name)
            .field("allow_self_signed", &self.allow_self_signed)
            .field("cafile", &self.cafile)
            .field("roots", &self.roots.len())
            .field("peer_name", &self.peer_name)
            .field("sni", &self.sni)
            .finish()
    }
}

/// PHP's `filter_var($v, FILTER_VALIDATE_BOOLEAN, FILTER_NULL_ON_FAILURE)`: `None` when PHP would
/// return null (Oro then refuses the configuration).
pub fn php_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" | "" => Some(false),
        _ => None,
    }
}

impl TlsOptions {
    /// Reads `dsn`'s `context_options` (`source` names the variable or flag in errors). Reads the
    /// `cafile` now, so a missing file is reported before anything is dialled.
    pub fn from_dsn(dsn: &Dsn, source: &str) -> Result<TlsOptions, ClientError> {
        let mut options = TlsOptions::default();
        let entries = match dsn.params.get("context_options") {
            None => return Ok(options),
            Some(Param::Map(map)) => map,
            Some(Param::Str(_)) => {
                return Err(ClientError::Config(format!(
                    "{source}: context_options must be given as context_options[name]=value"
                )))
            }
        };
        for (key, value) in entries {
            if HARMLESS.contains(&key.as_str()) {
                continue;
            }
            if !SUPPORTED.contains(&key.as_str()) {
                return Err(ClientError::Config(format!(
                    "{source}: context_options[{key}] is not supported by this client (supported: {})",
                    SUPPORTED.join(", ")
                )));
            }
            let Param::Str(value) = value else {
                return Err(ClientError::Config(format!(
                    "{source}: context_options[{key}] must be a single value"
                )));
            };
            let boolean = || {
                php_bool(value).ok_or_else(|| {
                    ClientError::Config(format!(
                        "{source}: context_options[{key}]={value:?} is not a boolean (true/false, 1/0, yes/no, on/off)"
                    ))
                })
            };
            match key.as_str() {
                "verify_peer" => options.verify_peer = boolean()?,
                "verify_peer_name" => options.verify_peer_name = boolean()?,
                "allow_self_signed" => options.allow_self_signed = boolean()?,
                "SNI_enabled" => options.sni = boolean()?,
                "peer_name" if !value.is_empty() => options.peer_name = Some(value.clone()),
                "cafile" if !value.is_empty() => {
                    options.roots = read_certificates(source, Path::new(value))?;
                    options.cafile = Some(PathBuf::from(value));
                }
                _ => {}
            }
        }
        Ok(options)
    }

    /// The name to verify and send as SNI: `peer_name`, else `host` (without IPv6 brackets).
    pub fn domain<'a>(&'a self, host: &'a str) -> &'a str {
        self.peer_name.as_deref().unwrap_or(host)
    }

    /// The connector for these options; `extra_root` is trusted in addition (the self-signed
    /// certificate `allow_self_signed` lets through).
    pub fn connector(&self, extra_root: Option<&Certificate>) -> Result<TlsConnector, ClientError> {
        let mut builder = TlsConnector::builder();
        builder
            .danger_accept_invalid_certs(!self.verify_peer)
            .danger_accept_invalid_hostnames(!self.verify_peer_name)
            .use_sni(self.sni);
        if !self.roots.is_empty() {
            builder.disable_built_in_roots(true);
            for root in &self.roots {
                builder.add_root_certificate(root.clone());
            }
        }
        if let Some(root) = extra_root {
            builder.add_root_certificate(root.clone());
        }
        builder
            .build()
            .map_err(|err| ClientError::Config(format!("cannot set up TLS: {err}")))
    }

    /// A connector that accepts any certificate, used only to fetch the leaf certificate a
    /// server presents (for `allow_self_signed`); nothing is sent over it.
    pub fn probe_connector(&self) -> Result<TlsConnector, ClientError> {
        TlsConnector::builder()
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true)
            .use_sni(self.sni)
            .build()
            .map_err(|err| ClientError::Config(format!("cannot set up TLS: {err}")))
    }
}

/// The certificates of a PEM file (one or more) or a DER file.
fn read_certificates(source: &str, path: &Path) -> Result<Vec<Certificate>, ClientError> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|err| {
        ClientError::Config(format!(
            "{source}: cannot read context_options[cafile] {shown}: {err}"
        ))
    })?;
    let certificates = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        Certificate::stack_from_pem(&bytes).unwrap_or_default()
    } else {
        Certificate::from_der(&bytes)
            .map(|c| vec![c])
            .unwrap_or_default()
    };
    if certificates.is_empty() {
        return Err(ClientError::Config(format!(
            "{source}: context_options[cafile] {shown} holds no PEM or DER certificate"
        )));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dsn: &str) -> Result<TlsOptions, ClientError> {
        TlsOptions::from_dsn(&Dsn::parse(dsn).expect("dsn"), "--dsn")
    }

    #[test]
    fn php_booleans() {
        for t in ["1", "true", "TRUE", " on ", "yes"] {
            assert_eq!(php_bool(t), Some(true), "{t}");
        }
        for f in ["0", "false", "False", "off", "no", ""] {
            assert_eq!(php_bool(f), Some(false), "{f}");
        }
        assert_eq!(php_bool("maybe"), None);
        assert_eq!(php_bool("2"), None);
    }

    #[test]
    fn defaults_verify_everything() {
        let o = options("ssl://h:443/ws").expect("ok");
        assert!(o.verify_peer && o.verify_peer_name && !o.allow_self_signed && o.sni);
        assert!(o.roots.is_empty() && o.cafile.is_none() && o.peer_name.is_none());
        assert_eq!(o.domain("h"), "h");
    }

    #[test]
    fn options_are_read_with_php_meaning() {
        let o = options(
            "ssl://h:443/ws?context_options[verify_peer]=false&context_options[verify_peer_name]=0&context_options[allow_self_signed]=yes&context_options[peer_name]=ws.example.com&context_options[SNI_enabled]=off&context_options[capture_peer_cert]=1",
        )
        .expect("ok");
        assert!(!o.verify_peer && !o.verify_peer_name && o.allow_self_signed && !o.sni);
        assert_eq!(o.domain("127.0.0.1"), "ws.example.com");
    }

    #[test]
    fn bad_and_unsupported_options_are_refused() {
        let err = options("ssl://h?context_options[verify_peer]=nope").unwrap_err();
        assert!(err.to_string().contains("verify_peer") && err.to_string().contains("boolean"));
        let err = options("ssl://h?context_options[capath]=/etc/ssl/certs").unwrap_err();
        assert!(err.to_string().contains("capath"), "{err}");
        let err = options("ssl://h?context_options[peer_fingerprint][]=ab").unwrap_err();
        assert!(err.to_string().contains("peer_fingerprint"), "{err}");
        let err = options("ssl://h?context_options=x").unwrap_err();
        assert!(err.to_string().contains("context_options[name]"), "{err}");
        let err = options("ssl://h?context_options[cafile]=/nonexistent/ca.pem").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "-----BEGIN NOTHING-----\n").expect("write");
        let Err(err) = read_certificates("--dsn", &path) else {
            panic!("a file without certificates is refused");
        };
        assert!(
            err.to_string().contains("no PEM or DER certificate"),
            "{err}"
        );
    }
}
