//! Argument templates with `:placeholders`, turned into an argv without a shell.
//!
//! Espo writes its checks as command lines (`AclCheck --userId=:userId --scope=:scope`) and runs
//! them through `shell_exec` with `escapeshellarg`. wampd splits the template into arguments once,
//! at start-up, on whitespace, and substitutes each placeholder inside its argument: a value is
//! always exactly one argument (or part of one), so there is nothing to escape and nothing a value
//! can inject. Values are still checked ([`clean`]), because a check command parses its own
//! arguments: a value may not start with `-` where it would be a whole argument, and may hold only
//! the characters an id, a scope or a token has.

/// One placeholder value, checked.
pub fn clean(value: &str) -> Result<&str, String> {
    if value.len() > 256 {
        return Err("longer than 256 bytes".into());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')))
    {
        return Err(format!("holds {c:?}"));
    }
    Ok(value)
}

/// A parsed template: its arguments, each a sequence of literal text and placeholder names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    args: Vec<Vec<Piece>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Placeholder(String),
}

impl Template {
    /// Parses `text`; a placeholder is `:` followed by letters, digits and `_`. An empty text
    /// is a template of no arguments.
    pub fn parse(text: &str) -> Result<Template, String> {
        let args: Vec<Vec<Piece>> = text.split_whitespace().map(pieces).collect();
        if args.len() > 64 {
            return Err("more than 64 arguments".into());
        }
        Ok(Template { args })
    }

    /// A built-in template (no argument limit, so it cannot fail).
    pub fn literal(text: &'static str) -> Template {
        Template {
            args: text.split_whitespace().map(pieces).collect(),
        }
    }

    /// The placeholder names used, in order of first use.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for piece in self.args.iter().flatten() {
            if let Piece::Placeholder(name) = piece {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// The arguments with `lookup`'s values substituted. A placeholder `lookup` does not know is
    /// left as written (Espo's `str_replace` does the same); a value that [`clean`] refuses, or
    /// that would be a whole argument starting with `-`, is an `Err` naming the placeholder.
    pub fn render<'v>(
        &self,
        lookup: impl Fn(&str) -> Option<&'v str>,
    ) -> Result<Vec<String>, String> {
        self.args
            .iter()
            .map(|arg| {
                let mut out = String::new();
                for piece in arg {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Placeholder(name) => match lookup(name) {
                            Some(value) => {
                                let value = clean(value).map_err(|why| format!(":{name} {why}"))?;
                                if out.is_empty() && arg.len() == 1 && value.starts_with('-') {
                                    return Err(format!(":{name} starts with '-'"));
                                }
                                out.push_str(value);
                            }
                            None => {
                                out.push(':');
                                out.push_str(name);
                            }
                        },
                    }
                }
                Ok(out)
            })
            .collect()
    }
}

impl std::fmt::Display for Template {
    /// The template as it was written (whitespace normalised).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            for piece in arg {
                match piece {
                    Piece::Text(t) => f.write_str(t)?,
                    Piece::Placeholder(name) => write!(f, ":{name}")?,
                }
            }
        }
        Ok(())
    }
}

fn pieces(arg: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = arg.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let starts_name = c == ':'
            && chars
                .peek()
                .is_some_and(|(_, n)| n.is_ascii_alphanumeric() || *n == '_');
        if !starts_name {
            text.push(c);
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while let Some((j, n)) = chars.peek().copied() {
            if n.is_ascii_alphanumeric() || n == '_' {
                end = j + n.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Placeholder(arg[start..end].to_string()));
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn espos_acl_check_renders_one_argument_per_word() {
        let t = Template::parse("AclCheck --userId=:userId --scope=:scope --id=:id --action=read")
            .expect("parses");
        assert_eq!(t.placeholders(), vec!["userId", "scope", "id"]);
        let argv = t
            .render(lookup(&[
                ("userId", "u1"),
                ("scope", "Account"),
                ("id", "5f1"),
            ]))
            .expect("renders");
        assert_eq!(
            argv,
            [
                "AclCheck",
                "--userId=u1",
                "--scope=Account",
                "--id=5f1",
                "--action=read"
            ]
        );
    }

    #[test]
    fn values_cannot_inject_arguments_or_shell_syntax() {
        let t = Template::parse("AuthTokenCheck :authToken :userId").expect("parses");
        for bad in ["a b", "a;rm", "$(id)", "a'b", "-x", "a\nb", ""] {
            let result = t.render(lookup(&[("authToken", bad), ("userId", "u")]));
            if bad.is_empty() {
                assert_eq!(
                    result,
                    Ok(vec!["AuthTokenCheck".into(), String::new(), "u".into()])
                );
            } else {
                assert!(result.is_err(), "{bad:?} accepted");
            }
        }
        // Inside an argument a leading '-' is harmless: --id=-1 is still one option.
        let t = Template::parse("--id=:id").expect("parses");
        assert_eq!(
            t.render(lookup(&[("id", "-1")])),
            Ok(vec!["--id=-1".into()])
        );
    }

    #[test]
    fn unknown_placeholders_stay_as_written_and_colons_alone_are_text() {
        let t = Template::parse("Check :known :unknown a:b: ::").expect("parses");
        assert_eq!(
            t.render(lookup(&[("known", "k")])),
            Ok(vec![
                "Check".into(),
                "k".into(),
                ":unknown".into(),
                "a:b:".into(),
                "::".into()
            ])
        );
        assert_eq!(
            Template::parse("   ").map(|t| t.render(|_| None)),
            Ok(Ok(vec![]))
        );
        assert_eq!(
            Template::parse("Check :a  --x=:b")
                .expect("parses")
                .to_string(),
            "Check :a --x=:b"
        );
    }
}
