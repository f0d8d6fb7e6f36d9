//! Reading `.env-app*` files the way an Oro application does.
//!
//! Oro keeps its configuration in `.env-app` (committed) plus `.env-app.local`, `.env-app.<env>` and
//! `.env-app.<env>.local` overrides, and supervisord or systemd may also set variables directly. wampd reads the
//! same files in the same order, later files winning, and lets the real process environment win over all of
//! them (12-factor: what the service manager says is final). Everything is merged into a plain map and never
//! written back into the process environment: the result is easy to test, and nothing else in the process sees
//! values it did not ask for.
//!
//! A missing file is normal (most installs have only `.env-app`). A file that exists but cannot be read or
//! parsed is an error: silently skipping half an operator's configuration is worse than refusing to start. The
//! error names the file and the line, never the line's content, which may hold a secret.

use std::collections::HashMap;
use std::path::Path;

use super::error::ConfigError;

/// The merged variable map: files in order `.env-app`, `.env-app.local`, `.env-app.<env>`, `.env-app.<env>.local` (later wins), then the real process environment wins over all files.
pub type EnvMap = HashMap<String, String>;

/// The file names read from the directory, in load order (later wins). No `<env>` files when `env_name` is empty.
pub fn file_names(env_name: &str) -> Vec<String> {
    let mut names = vec![".env-app".to_string(), ".env-app.local".to_string()];
    if !env_name.is_empty() {
        names.push(format!(".env-app.{env_name}"));
        names.push(format!(".env-app.{env_name}.local"));
    }
    names
}

/// Reads the `.env-app*` files in `dir` for the environment `env_name` (the raw `--env` value, e.g. `prod`),
/// then lets the real process environment override them.
pub fn load(dir: &Path, env_name: &str) -> Result<EnvMap, ConfigError> {
    let files = load_files_only(dir, env_name)?;
    Ok(merge_environment(files, process_environment()))
}

/// Reads only the `.env-app*` files (no process environment); missing files are skipped.
pub fn load_files_only(dir: &Path, env_name: &str) -> Result<EnvMap, ConfigError> {
    let mut map = EnvMap::new();
    for name in file_names(env_name) {
        read_file_into(&dir.join(name), &mut map)?;
    }
    Ok(map)
}

/// Lays `environment` over the values read from files: a variable set in the environment wins, even when it is
/// set to an empty string (an operator's `WEBSOCKET_SERVER_DSN=` means "off").
pub fn merge_environment(
    mut files: EnvMap,
    environment: impl IntoIterator<Item = (String, String)>,
) -> EnvMap {
    files.extend(environment);
    files
}

/// The real process environment, skipping variables whose name or value is not valid UTF-8 (none of ours can
/// be; `std::env::vars()` would panic on them).
fn process_environment() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
}

/// Adds one file's variables to `map` (later lines and files win). Missing file: nothing to do.
fn read_file_into(path: &Path, map: &mut EnvMap) -> Result<(), ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.display().to_string(),
        reason,
    };
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(e) if e.not_found() => return Ok(()),
        Err(e) => return Err(file_error(describe_error(path, &e))),
    };
    for item in iter {
        let (name, value) = item.map_err(|e| file_error(describe_error(path, &e)))?;
        map.insert(name, value);
    }
    Ok(())
}

/// dotenvy's reason, without the offending line's text (dotenvy's own message quotes it, and it may be a
/// secret): the line number is found by looking the text up in the file.
fn describe_error(path: &Path, error: &dotenvy::Error) -> String {
    match error {
        dotenvy::Error::LineParse(line, column) => {
            let line_number = std::fs::read_to_string(path).ok().and_then(|content| {
                let first_line = line.lines().next().unwrap_or_default();
                content
                    .lines()
                    .position(|l| l.trim() == first_line.trim())
                    .map(|i| i + 1)
            });
            match line_number {
                Some(n) => format!("syntax error on line {n}, at character {}", column + 1),
                None => format!(
                    "syntax error at character {} of a variable definition",
                    column + 1
                ),
            }
        }
        dotenvy::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, content: &str) {
        fs::write(dir.join(name), content).unwrap();
    }

    #[test]
    fn file_order() {
        assert_eq!(
            file_names("prod"),
            [
                ".env-app",
                ".env-app.local",
                ".env-app.prod",
                ".env-app.prod.local"
            ]
        );
        assert_eq!(file_names(""), [".env-app", ".env-app.local"]);
    }

    #[test]
    fn later_files_win_then_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            ".env-app",
            "A=app\nB=app\nC=app\nD=app\nE=app\nONLY_APP=1\n",
        );
        write(d, ".env-app.local", "B=local\nC=local\nD=local\nE=local\n");
        write(d, ".env-app.prod", "C=prod\nD=prod\nE=prod\n");
        write(d, ".env-app.prod.local", "D=prod_local\nE=prod_local\n");
        write(d, ".env-app.dev", "A=dev\n");

        let files = load_files_only(d, "prod").unwrap();
        assert_eq!(files["A"], "app");
        assert_eq!(files["B"], "local");
        assert_eq!(files["C"], "prod");
        assert_eq!(files["D"], "prod_local");
        assert_eq!(files["E"], "prod_local");
        assert_eq!(files["ONLY_APP"], "1");

        let real = [
            ("E".to_string(), "real".to_string()),
            ("ONLY_APP".to_string(), String::new()),
            ("NEW".to_string(), "n".to_string()),
        ];
        let merged = merge_environment(files, real);
        assert_eq!(merged["D"], "prod_local");
        assert_eq!(merged["E"], "real");
        assert_eq!(merged["ONLY_APP"], "", "an empty real variable still wins");
        assert_eq!(merged["NEW"], "n");

        let dev = load_files_only(d, "dev").unwrap();
        assert_eq!(dev["A"], "dev");
        assert_eq!(dev["D"], "local");
    }

    #[test]
    fn missing_files_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_files_only(dir.path(), "prod").unwrap().is_empty());
        write(dir.path(), ".env-app.prod.local", "X=1\n");
        assert_eq!(load_files_only(dir.path(), "prod").unwrap()["X"], "1");
    }

    #[test]
    fn dotenv_syntax_is_understood() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            ".env-app",
            "# comment\n\nORO_WEBSOCKET_SERVER_DSN=\nQUOTED=\"//*:8080/ws\"\nSINGLE='a b'\nexport EXPORTED=yes\nDUP=1\nDUP=2\nREF=${QUOTED}\n",
        );
        let map = load_files_only(dir.path(), "").unwrap();
        assert_eq!(map["ORO_WEBSOCKET_SERVER_DSN"], "");
        assert_eq!(map["QUOTED"], "//*:8080/ws");
        assert_eq!(map["SINGLE"], "a b");
        assert_eq!(map["EXPORTED"], "yes");
        assert_eq!(map["DUP"], "2");
        assert_eq!(map["REF"], "//*:8080/ws");
    }

    #[test]
    fn broken_file_is_an_error_without_values() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".env-app.local", "OK=1\nORO_SECRET=\"hunter2\n");
        let err = load_files_only(dir.path(), "prod").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::File { .. }), "{err:?}");
        assert!(text.contains(".env-app.local"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!format!("{err:?}").contains("hunter2"));

        write(dir.path(), ".env-app.local", "OK=1\nNOT A VALID LINE\n");
        let text = load_files_only(dir.path(), "prod").unwrap_err().to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains("VALID"), "{text}");
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // a directory where a file is expected cannot be read
        fs::create_dir(dir.path().join(".env-app")).unwrap();
        let err = load_files_only(dir.path(), "prod").unwrap_err();
        assert!(matches!(err, ConfigError::File { ref path, .. } if path.ends_with(".env-app")));
    }

    #[test]
    fn load_includes_the_process_environment() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            ".env-app",
            "WAMPD_CONFIG_TEST_ONLY_IN_FILE=file\n",
        );
        let map = load(dir.path(), "prod").unwrap();
        assert_eq!(map["WAMPD_CONFIG_TEST_ONLY_IN_FILE"], "file");
        // PATH is set for any test run and is not in the file
        assert!(map.contains_key("PATH"));
    }
}
