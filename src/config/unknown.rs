//! Variables that look like wampd's but are not: a misspelled `WEBSOCKET_MAX_CONECTIONS` would
//! otherwise be ignored without a word and the default would silently apply.

use super::env_files::EnvMap;
use super::table::known_names;

/// One warning per `WEBSOCKET_*` or `ORO_WEBSOCKET_*` variable wampd does not read, naming the
/// nearest known variable when one is close. Sorted, so the output is stable.
pub fn unknown_variables(env: &EnvMap) -> Vec<String> {
    let mut warnings: Vec<String> = env
        .keys()
        .filter(|name| name.starts_with("WEBSOCKET_") || name.starts_with("ORO_WEBSOCKET_"))
        .filter(|name| !known_names().any(|known| known == name.as_str()))
        .map(|name| match nearest(name) {
            Some(known) => {
                format!("{name} is not a wampd variable and is ignored; did you mean {known}?")
            }
            None => format!("{name} is not a wampd variable and is ignored"),
        })
        .collect();
    warnings.sort();
    warnings
}

/// The known variable closest to `name`, if it is within a few edits.
fn nearest(name: &str) -> Option<&'static str> {
    known_names()
        .map(|known| (distance(name, known), known))
        .filter(|(d, known)| *d <= 3.max(known.len() / 6))
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelled_variables_are_named_with_their_nearest_known_name() {
        let env: EnvMap = [
            ("WEBSOCKET_MAX_CONECTIONS", "5"),
            ("WEBSOCKET_PING_INTERVAL", "10s"),
            ("WEBSOCKET_WHATEVER_THIS_IS", "1"),
            ("HOME", "/root"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            unknown_variables(&env),
            vec![
                "WEBSOCKET_MAX_CONECTIONS is not a wampd variable and is ignored; did you mean WEBSOCKET_MAX_CONNECTIONS?".to_string(),
                "WEBSOCKET_WHATEVER_THIS_IS is not a wampd variable and is ignored".to_string(),
            ]
        );
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
