//! The variables interpolation reads, and where each came from: the process
//! environment (which wins), `--env-file` files, or the `.env` beside the compose file.
//! Also the dotenv format of those files and of a service's `env_file`.

use super::interp::{interpolate, Lookup};
use std::collections::BTreeMap;

/// Where a variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// The environment of the `orc` process.
    Process,
    /// A dotenv file, at this 1-based line.
    File {
        /// The file as named.
        path: String,
        /// 1-based line.
        line: usize,
    },
}

impl std::fmt::Display for EnvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvSource::Process => write!(f, "the environment"),
            EnvSource::File { path, line } => write!(f, "{path}:{line}"),
        }
    }
}

/// A variable's value and origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvValue {
    /// The value.
    pub value: String,
    /// Where it was set.
    pub source: EnvSource,
}

/// The variables for interpolation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, EnvValue>,
}

impl Environment {
    /// The process environment's variables (they win over every file).
    pub fn from_process(vars: impl IntoIterator<Item = (String, String)>) -> Environment {
        let vars = vars
            .into_iter()
            .map(|(k, value)| {
                (
                    k,
                    EnvValue {
                        value,
                        source: EnvSource::Process,
                    },
                )
            })
            .collect();
        Environment { vars }
    }

    /// Adds the variables of a dotenv file that the environment does not set already.
    /// Values may interpolate the variables known so far.
    pub fn add_file(&mut self, path: &str, text: &str) -> Result<(), DotenvError> {
        for entry in parse_dotenv(text, &mut |n: &str| self.get(n).map(|v| v.value.clone()))? {
            let DotenvEntry { key, value, line } = entry;
            let Some(value) = value else { continue };
            self.vars.entry(key).or_insert(EnvValue {
                value,
                source: EnvSource::File {
                    path: path.to_string(),
                    line,
                },
            });
        }
        Ok(())
    }

    /// A variable, if set.
    pub fn get(&self, name: &str) -> Option<&EnvValue> {
        self.vars.get(name)
    }
}

/// A line of a dotenv file that can't be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for DotenvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// One `KEY=VALUE` line of a dotenv file; `value` is None for a bare `KEY` whose
/// variable is not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DotenvEntry {
    pub key: String,
    pub value: Option<String>,
    pub line: usize,
}

/// Reads a dotenv file: `KEY=VALUE`, `export KEY=VALUE`, `# comments`, blank lines.
/// Unquoted values end at ` #` and are trimmed; `'single'` quotes are literal;
/// `"double"` quotes take `\n`, `\t`, `\"`, `\\` escapes. Unquoted and double-quoted
/// values interpolate `${VAR}` (earlier lines of the file, then `outer`). A bare `KEY`
/// takes `outer`'s value.
pub(crate) fn parse_dotenv(
    text: &str,
    outer: &mut dyn Lookup,
) -> Result<Vec<DotenvEntry>, DotenvError> {
    let mut out: Vec<DotenvEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let body = trimmed
            .strip_prefix("export ")
            .map_or(trimmed, str::trim_start);
        let at = |message: String| DotenvError { line, message };
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim_start())),
            None => (body, None),
        };
        let valid_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid_key {
            return Err(at(format!(
                "{key:?} is not a variable name; lines are KEY=VALUE"
            )));
        }
        let mut lookup = |n: &str| {
            out.iter()
                .rev()
                .find(|e| e.key == n)
                .and_then(|e| e.value.clone())
                .or_else(|| outer.lookup(n))
        };
        let value = match value {
            None => lookup(key),
            Some(v) => Some(dotenv_value(v, &mut lookup).map_err(at)?),
        };
        out.push(DotenvEntry {
            key: key.to_string(),
            value,
            line,
        });
    }
    Ok(out)
}

fn dotenv_value(v: &str, lookup: &mut dyn Lookup) -> Result<String, String> {
    if let Some(rest) = v.strip_prefix('\'') {
        let Some(end) = rest.find('\'') else {
            return Err("the single quote is not closed on this line".into());
        };
        return Ok(rest[..end].to_string());
    }
    if let Some(rest) = v.strip_prefix('"') {
        let mut s = String::new();
        let mut chars = rest.chars();
        loop {
            match chars.next() {
                None => return Err("the double quote is not closed on this line".into()),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some(c @ ('"' | '\\' | '$')) => {
                        if c == '$' {
                            s.push('$');
                        }
                        s.push(c)
                    }
                    Some(c) => {
                        s.push('\\');
                        s.push(c);
                    }
                    None => return Err("the double quote is not closed on this line".into()),
                },
                Some(c) => s.push(c),
            }
        }
        return Ok(interpolate(&s, lookup)?.value);
    }
    let v = match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    };
    Ok(interpolate(v.trim_end(), lookup)?.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_forms() {
        let text = "# c\nA=1\nexport B = two words # note\nC='${A} lit'\nD=\"x\\ny ${A}\"\nE=${A}-${OUT}\nF\nG=\n";
        let mut outer = |n: &str| (n == "OUT" || n == "F").then(|| "o".to_string());
        let e = parse_dotenv(text, &mut outer).unwrap();
        let get = |k: &str| e.iter().find(|x| x.key == k).unwrap().value.clone();
        assert_eq!(get("A").as_deref(), Some("1"));
        assert_eq!(get("B").as_deref(), Some("two words"));
        assert_eq!(get("C").as_deref(), Some("${A} lit"));
        assert_eq!(get("D").as_deref(), Some("x\ny 1"));
        assert_eq!(get("E").as_deref(), Some("1-o"));
        assert_eq!(get("F").as_deref(), Some("o"));
        assert_eq!(get("G").as_deref(), Some(""));
        assert_eq!(e[1].line, 3);
    }

    #[test]
    fn dotenv_errors_name_file_and_line() {
        let mut outer = |_: &str| None;
        let e = parse_dotenv("A=1\nB C=2\n", &mut outer).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not a variable name"), "{e}");
        let e = parse_dotenv("A=\"open\n", &mut outer).unwrap_err();
        assert!(e.message.contains("not closed"), "{e}");
    }

    #[test]
    fn the_process_environment_wins_over_files() {
        let mut env = Environment::from_process([("A".to_string(), "proc".to_string())]);
        env.add_file(".env", "A=file\nB=file\n").unwrap();
        assert_eq!(env.get("A").unwrap().value, "proc");
        assert_eq!(env.get("A").unwrap().source, EnvSource::Process);
        assert_eq!(
            env.get("B").unwrap().source,
            EnvSource::File {
                path: ".env".into(),
                line: 2
            }
        );
    }
}
