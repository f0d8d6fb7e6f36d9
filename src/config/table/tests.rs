//! Unit tests of `table`: the table against the parser, `.env-app.dist` and `docs/configuration.md`.

use super::*;
use crate::config::env_files::EnvMap;
use crate::config::Settings;

#[test]
fn names_are_unique_and_every_default_fits_its_kind() {
    let mut seen = std::collections::BTreeSet::new();
    for name in known_names() {
        assert!(seen.insert(name), "{name} is declared twice");
    }
    for s in SETTINGS {
        assert!(
            s.kind.check(s.default).is_ok(),
            "{}'s default {:?} is not a valid {:?}",
            s.name,
            s.default,
            s.kind
        );
        assert!(!s.doc.is_empty(), "{} has no doc line", s.name);
    }
}

/// The kind in the table is a promise the parser keeps: a value the kind rejects stops start-up
/// with an error that names the variable (or the alias it was read from).
#[test]
fn the_parser_rejects_what_the_kind_rejects() {
    let garbage = "not-a-value";
    let mut checked = 0;
    for s in SETTINGS {
        if s.kind.check(garbage).is_ok() {
            continue;
        }
        for name in std::iter::once(s.name).chain(s.aliases.iter().copied()) {
            let env: EnvMap = [(name.to_string(), garbage.to_string())]
                .into_iter()
                .collect();
            let err = Settings::from_env(&env)
                .err()
                .unwrap_or_else(|| panic!("{name}={garbage} was accepted"));
            assert!(err.to_string().contains(name), "{name}: {err}");
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} variables checked");
}

#[test]
fn aliases_are_read_like_their_setting() {
    for s in SETTINGS.iter().filter(|s| !s.aliases.is_empty()) {
        let primary: EnvMap = [(s.name.to_string(), s.default.to_string())]
            .into_iter()
            .collect();
        for alias in s.aliases {
            let via_alias: EnvMap = [(alias.to_string(), s.default.to_string())]
                .into_iter()
                .collect();
            assert_eq!(
                Settings::from_env(&via_alias).map(|x| x.describe()).ok(),
                Settings::from_env(&primary).map(|x| x.describe()).ok(),
                "{alias} is not read as {}",
                s.name
            );
        }
    }
}

/// Every name, aliases included, with its setting's default.
fn names_with_defaults() -> impl Iterator<Item = (&'static str, &'static str)> {
    SETTINGS.iter().flat_map(|s| {
        std::iter::once(s.name)
            .chain(s.aliases.iter().copied())
            .map(|name| (name, s.default))
    })
}

#[test]
fn env_app_dist_documents_every_variable() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/.env-app.dist");
    let dist = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (name, default) in names_with_defaults() {
        assert!(
            dist.contains(&format!("{name}={default}")),
            ".env-app.dist does not show {name}={default}"
        );
    }
}

#[test]
fn configuration_reference_documents_every_variable() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (name, default) in names_with_defaults() {
        let row = format!("| `{name}` | `{default}` |");
        // an empty default may be written as *(empty)*, which renders better than ``
        let empty = format!("| `{name}` | *(empty)* |");
        assert!(
            text.contains(&row) || (default.is_empty() && text.contains(&empty)),
            "docs/configuration.md lacks the row for {name}"
        );
    }
}
