//! The EspoCRM profile's variables (listed with the others in [`super::table`]): where the Espo
//! installation is, which PHP runs its console commands, and the categories its metadata adds.
//!
//! Espo's own configuration (`data/config.php`, `ESPOCRM_CONFIG_*`) is translated into wampd
//! variables before this is read ([`crate::espocrm::config`]); here the profile's remaining
//! choices are validated.

use std::path::PathBuf;

use super::env_files::EnvMap;
use super::settings::knob;
use super::table::*;
use super::ConfigError;
use crate::espocrm::categories::Categories;

/// The EspoCRM profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspoSettings {
    /// WEBSOCKET_ESPOCRM_ROOT: the installation whose `command.php` runs the checks; `None` =
    /// the profile is off.
    pub root: Option<PathBuf>,
    /// WEBSOCKET_ESPOCRM_PHP: the PHP binary (Espo's `phpExecutablePath`).
    pub php: String,
    /// Espo's categories: the core ones plus those of the installation's metadata.
    pub categories: Categories,
}

impl Default for EspoSettings {
    fn default() -> EspoSettings {
        EspoSettings {
            root: None,
            php: "php".to_string(),
            categories: Categories::default(),
        }
    }
}

/// Reads the profile's settings.
pub fn espocrm_from_env(env: &EnvMap) -> Result<EspoSettings, ConfigError> {
    let root = knob(env, WEBSOCKET_ESPOCRM_ROOT, None, |s| {
        let path = PathBuf::from(s);
        if path.join("command.php").is_file() {
            Ok(Some(path))
        } else {
            Err("the directory of an EspoCRM installation (holding command.php)".to_string())
        }
    })?;
    let php = knob(env, WEBSOCKET_ESPOCRM_PHP, "php".to_string(), |s| {
        Ok(s.to_string())
    })?;
    let mut categories = Categories::default();
    if let Some(root) = &root {
        crate::espocrm::config::merge_metadata(root, &mut categories).map_err(|why| {
            ConfigError::invalid(WEBSOCKET_ESPOCRM_ROOT, root.display().to_string(), why)
        })?;
    }
    Ok(EspoSettings {
        root,
        php,
        categories,
    })
}

/// `config:check` rows, in table order.
pub fn describe(espo: &EspoSettings) -> Vec<(&'static str, String)> {
    vec![
        (
            WEBSOCKET_ESPOCRM_ROOT,
            espo.root.as_ref().map_or_else(
                || "(not set: EspoCRM profile off)".to_string(),
                |root| {
                    format!(
                        "{} (categories: {})",
                        root.display(),
                        espo.categories.names().collect::<Vec<_>>().join(",")
                    )
                },
            ),
        ),
        (WEBSOCKET_ESPOCRM_PHP, espo.php.clone()),
    ]
}
