//! Reading an Espo installation: its configuration (`data/config.php`, `data/config-internal.php`,
//! overridden by the Docker images' `ESPOCRM_CONFIG_*` variables) and its metadata's categories.
//!
//! The configuration becomes wampd variables ([`with_profile`]) laid *under* the environment, so
//! that `config:check` shows exactly what Espo's configuration meant and any `WEBSOCKET_*`
//! variable the operator sets still wins. PHP reads the PHP files, once, at start-up; only the
//! websocket keys ([`KEYS`]) come back.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;

use super::categories::Categories;

/// The `app/webSocket.json` metadata files of an installation, in Espo's merge order: the core,
/// then modules, then `custom/`.
fn metadata_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![root.join("application/Espo/Resources/metadata/app/webSocket.json")];
    for modules in ["application/Espo/Modules", "custom/Espo/Modules"] {
        if let Ok(entries) = std::fs::read_dir(root.join(modules)) {
            let mut names: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            names.sort();
            files.extend(
                names
                    .into_iter()
                    .map(|m| m.join("Resources/metadata/app/webSocket.json")),
            );
        }
    }
    files.push(root.join("custom/Espo/Custom/Resources/metadata/app/webSocket.json"));
    files
}

/// Adds the categories declared in the installation's metadata to `categories`. Missing files
/// are normal; a file that exists but is not valid is an error naming it.
pub fn merge_metadata(root: &Path, categories: &mut Categories) -> Result<(), String> {
    for file in metadata_files(root) {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(format!("{} cannot be read: {err}", file.display())),
        };
        let document: serde_json::Value = serde_json::from_str(&text)
            .map_err(|err| format!("{} is not valid JSON: {err}", file.display()))?;
        categories
            .merge_metadata(&document)
            .map_err(|why| format!("{}: {why}", file.display()))?;
    }
    Ok(())
}

/// Espo's configuration keys the profile reads (nothing else leaves PHP: `config-internal.php`
/// also holds the database password).
pub const KEYS: &[&str] = &[
    "webSocketPort",
    "webSocketUseSecureServer",
    "webSocketSslCertificateFile",
    "webSocketSslCertificateLocalPrivateKey",
    "webSocketSslCertificatePassphrase",
    "webSocketZeroMQSubscriberDsn",
    "phpExecutablePath",
    "siteUrl",
];

/// Espo's default `webSocketZeroMQSubscriberDsn`.
pub const DEFAULT_SUBSCRIBER_DSN: &str = "tcp://127.0.0.1:5555";

/// How long the EspoCRM profile's pings to v1 peers are apart (Espo's `enableKeepAlive($loop, 60)`).
pub const ESPO_PING_INTERVAL: &str = "60s";

/// The Docker variable that overrides `key`: Espo's images turn `ESPOCRM_CONFIG_WEB_SOCKET_PORT`
/// into `webSocketPort` (every capital letter starts a new `_` word).
pub fn env_name(key: &str) -> String {
    let mut name = String::from("ESPOCRM_CONFIG_");
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// Reads [`KEYS`] from `data/config.php` and `data/config-internal.php` under `root` with `php`
/// (the files are PHP: `return [...]`), the internal file winning as in Espo.
pub fn read_config(php: &str, root: &Path) -> Result<serde_json::Map<String, Json>, String> {
    const SCRIPT: &str = r#"$keys = json_decode($argv[1], true); $out = [];
foreach (['data/config.php', 'data/config-internal.php'] as $f) {
    if (!is_file($f)) { continue; }
    $c = include $f;
    if (!is_array($c)) { continue; }
    foreach ($keys as $k) { if (array_key_exists($k, $c)) { $out[$k] = $c[$k]; } }
}
echo json_encode((object) $out);"#;
    let keys = serde_json::to_string(KEYS).map_err(|e| e.to_string())?;
    let output = std::process::Command::new(php)
        .arg("-r")
        .arg(SCRIPT)
        .arg(keys)
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| format!("cannot run {php} to read Espo's data/config.php: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "{php} could not read Espo's data/config.php ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    match serde_json::from_slice(&output.stdout) {
        Ok(Json::Object(map)) => Ok(map),
        _ => Err(format!(
            "{php} printed something other than Espo's configuration: {}",
            String::from_utf8_lossy(&output.stdout).trim()
        )),
    }
}

/// A configuration value as text: strings as they are, numbers and booleans spelled out.
fn text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Espo's settings (config files, then `ESPOCRM_CONFIG_*` overrides) as the wampd variables they
/// mean. The caller lays these under the environment, so wampd's own variables win.
pub fn profile_variables(
    config: &serde_json::Map<String, Json>,
    env: &HashMap<String, String>,
    root: &Path,
    php: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    let get = |key: &str| -> Option<String> {
        env.get(&env_name(key))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .or_else(|| config.get(key).and_then(text))
            .filter(|v| !v.is_empty())
    };
    let secure = match get("webSocketUseSecureServer").as_deref() {
        None => false,
        Some(v) => wampd_proto::units::parse_bool(v)
            .map_err(|expected| format!("webSocketUseSecureServer = {v:?} is not {expected}"))?,
    };
    let port = match get("webSocketPort") {
        None => {
            if secure {
                8443
            } else {
                8080
            }
        }
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("webSocketPort = {p:?} is not a port number"))?,
    };
    let server_dsn = if secure {
        let cert = get("webSocketSslCertificateFile")
            .ok_or("webSocketUseSecureServer is on but webSocketSslCertificateFile is not set")?;
        let mut dsn = format!(
            "ssl://0.0.0.0:{port}?context_options[local_cert]={}",
            encode(&cert)
        );
        if let Some(key) = get("webSocketSslCertificateLocalPrivateKey") {
            dsn.push_str(&format!("&context_options[local_pk]={}", encode(&key)));
        }
        if let Some(passphrase) = get("webSocketSslCertificatePassphrase") {
            dsn.push_str(&format!(
                "&context_options[passphrase]={}",
                encode(&passphrase)
            ));
        }
        dsn
    } else {
        format!("//0.0.0.0:{port}")
    };
    let php = get("phpExecutablePath").unwrap_or_else(|| php.to_owned());
    let mut vars = vec![
        ("WEBSOCKET_SERVER_DSN", server_dsn),
        (
            "WEBSOCKET_ZMQ_DSN",
            get("webSocketZeroMQSubscriberDsn").unwrap_or_else(|| DEFAULT_SUBSCRIBER_DSN.into()),
        ),
        ("WEBSOCKET_ZMQ_FORMAT", "espocrm".into()),
        ("WEBSOCKET_ESPOCRM_PHP", php.clone()),
        (
            "WEBSOCKET_CONNECT_CHECK",
            format!("exec:{php} command.php AuthTokenCheck :authToken :userId"),
        ),
        // Espo 7 compared the printed user id, Espo 8+ the exit status: both hold for a valid token.
        ("WEBSOCKET_CONNECT_CHECK_EXPECT", ":userId".into()),
        ("WEBSOCKET_CONNECT_CHECK_AUTHID", ":userId".into()),
        ("WEBSOCKET_CHECK_DIR", root.display().to_string()),
        ("WEBSOCKET_V1_PING_INTERVAL", ESPO_PING_INTERVAL.into()),
    ];
    // Espo's daemon checks no Origin; its browsers come from the site's own host.
    if let Some(site) = get("siteUrl") {
        if let Some(host) = url::Url::parse(&site)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
        {
            vars.push(("WEBSOCKET_ALLOWED_ORIGINS", host));
        }
    }
    Ok(vars)
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `env` with the EspoCRM profile's variables laid under it, when `WEBSOCKET_ESPOCRM_ROOT` is
/// set; the `Err` names the problem for the variable's error message.
pub fn with_profile(
    env: &HashMap<String, String>,
) -> Result<Option<HashMap<String, String>>, String> {
    let Some(root) = env
        .get("WEBSOCKET_ESPOCRM_ROOT")
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
    else {
        return Ok(None);
    };
    let root = Path::new(root);
    if !root.join("command.php").is_file() {
        return Err("the directory of an EspoCRM installation (holding command.php)".into());
    }
    let php = env
        .get("WEBSOCKET_ESPOCRM_PHP")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .unwrap_or("php");
    let config = read_config(php, root)?;
    let mut layered = env.clone();
    for (name, value) in profile_variables(&config, env, root, php)? {
        layered.entry(name.to_owned()).or_insert(value);
    }
    Ok(Some(layered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_follow_espos_spelling() {
        assert_eq!(
            env_name("webSocketZeroMQSubscriberDsn"),
            "ESPOCRM_CONFIG_WEB_SOCKET_ZERO_M_Q_SUBSCRIBER_DSN"
        );
        assert_eq!(env_name("webSocketPort"), "ESPOCRM_CONFIG_WEB_SOCKET_PORT");
    }

    #[test]
    fn config_and_docker_variables_become_wampd_variables() {
        let config: serde_json::Map<String, Json> = serde_json::from_value(serde_json::json!({
            "webSocketPort": 8090,
            "webSocketZeroMQSubscriberDsn": "tcp://127.0.0.1:5556",
            "siteUrl": "https://crm.example.com",
        }))
        .expect("map");
        let env: HashMap<String, String> = [(
            "ESPOCRM_CONFIG_WEB_SOCKET_ZERO_M_Q_SUBSCRIBER_DSN".to_string(),
            "tcp://*:7777".to_string(),
        )]
        .into();
        let vars = profile_variables(&config, &env, Path::new("/srv/espo"), "php").expect("valid");
        let get = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("WEBSOCKET_SERVER_DSN"), Some("//0.0.0.0:8090"));
        assert_eq!(get("WEBSOCKET_ZMQ_DSN"), Some("tcp://*:7777"));
        assert_eq!(get("WEBSOCKET_ALLOWED_ORIGINS"), Some("crm.example.com"));
        assert_eq!(get("WEBSOCKET_CHECK_DIR"), Some("/srv/espo"));
    }

    #[test]
    fn a_secure_server_needs_its_certificate() {
        let config: serde_json::Map<String, Json> = serde_json::from_value(serde_json::json!({
            "webSocketUseSecureServer": true,
        }))
        .expect("map");
        let err = profile_variables(&config, &HashMap::new(), Path::new("/x"), "php")
            .expect_err("refused");
        assert!(err.contains("webSocketSslCertificateFile"), "{err}");
        let config: serde_json::Map<String, Json> = serde_json::from_value(serde_json::json!({
            "webSocketUseSecureServer": "true",
            "webSocketSslCertificateFile": "/etc/ssl/espo.pem",
            "webSocketSslCertificatePassphrase": "p&ss",
        }))
        .expect("map");
        let vars = profile_variables(&config, &HashMap::new(), Path::new("/x"), "php").expect("ok");
        assert_eq!(
            vars[0].1,
            "ssl://0.0.0.0:8443?context_options[local_cert]=%2Fetc%2Fssl%2Fespo%2Epem&context_options[passphrase]=p%26ss"
        );
    }
}
