//! Variable interpolation as compose does it: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, and
//! `$$` for a literal `$`. Defaults and alternatives may themselves interpolate.

/// Looks a variable up: its value if set.
pub(crate) trait Lookup {
    fn lookup(&mut self, name: &str) -> Option<String>;
}

impl<F: FnMut(&str) -> Option<String>> Lookup for F {
    fn lookup(&mut self, name: &str) -> Option<String> {
        self(name)
    }
}

/// What interpolating one string found besides its result.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub value: String,
    /// Variables referenced without a default that were not set (substituted by "").
    pub unset: Vec<String>,
}

/// Interpolates `text`; an error is the message of a `${VAR:?err}` whose variable is
/// missing, or a malformed reference.
pub(crate) fn interpolate(text: &str, env: &mut dyn Lookup) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let chars: Vec<char> = text.chars().collect();
    out.value = expand(&chars, env, &mut out.unset)?;
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn expand(chars: &[char], env: &mut dyn Lookup, unset: &mut Vec<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let close = matching_brace(chars, i + 1).ok_or_else(|| {
                    format!(
                        "invalid interpolation {:?}: `${{` is not closed by `}}`",
                        chars[i..].iter().collect::<String>()
                    )
                })?;
                out.push_str(&braced(&chars[i + 2..close], env, unset)?);
                i = close + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                match env.lookup(&name) {
                    Some(v) => out.push_str(&v),
                    None => unset.push(name),
                }
                i = j;
            }
            _ => {
                let rest: String = chars[i..].iter().take(12).collect();
                return Err(format!(
                    "invalid interpolation at {rest:?}: `$` must start $NAME or ${{NAME}}; write \
                     `$$` for a literal `$`"
                ));
            }
        }
    }
    Ok(out)
}

/// The index of the `}` closing the `{` at `open`, counting nested `${…}`.
fn matching_brace(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The inside of `${…}`.
fn braced(inner: &[char], env: &mut dyn Lookup, unset: &mut Vec<String>) -> Result<String, String> {
    let text: String = inner.iter().collect();
    let name_len = inner.iter().take_while(|c| is_name_char(**c)).count();
    if name_len == 0 || !is_name_start(inner[0]) {
        return Err(format!(
            "invalid interpolation \"${{{text}}}\": a variable name is letters, digits and _, not \
             starting with a digit"
        ));
    }
    let name: String = inner[..name_len].iter().collect();
    let rest = &inner[name_len..];
    let value = env.lookup(&name);
    if rest.is_empty() {
        if value.is_none() {
            unset.push(name);
        }
        return Ok(value.unwrap_or_default());
    }
    let (colon, op, arg) = match rest {
        [':', op, arg @ ..] => (true, *op, arg),
        [op, arg @ ..] => (false, *op, arg),
        [] => unreachable!("rest is not empty"),
    };
    // With ':', an empty value counts as unset.
    let set = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    match op {
        '-' => {
            if set {
                Ok(value.unwrap_or_default())
            } else {
                expand(arg, env, unset)
            }
        }
        '+' => {
            if set {
                expand(arg, env, unset)
            } else {
                Ok(String::new())
            }
        }
        '?' => {
            if set {
                Ok(value.unwrap_or_default())
            } else {
                let message = expand(arg, env, unset)?;
                let what = if colon { "unset or empty" } else { "unset" };
                Err(if message.is_empty() {
                    format!("required variable {name} is {what}")
                } else {
                    format!("required variable {name} is {what}: {message}")
                })
            }
        }
        _ => Err(format!(
            "invalid interpolation \"${{{text}}}\": after the name use :-, -, :?, ?, :+ or +"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<String, String> {
        let mut env = |name: &str| match name {
            "SET" => Some("v".to_string()),
            "EMPTY" => Some(String::new()),
            "B" => Some("b".to_string()),
            _ => None,
        };
        interpolate(text, &mut env).map(|o| o.value)
    }

    #[test]
    fn every_form() {
        assert_eq!(run("$SET/${SET}").unwrap(), "v/v");
        assert_eq!(
            run("${NOPE:-d} ${EMPTY:-d} ${EMPTY-d} ${NOPE-d}").unwrap(),
            "d d  d"
        );
        assert_eq!(
            run("${SET:+alt} ${EMPTY:+alt} ${EMPTY+alt} ${NOPE+alt}").unwrap(),
            "alt  alt "
        );
        assert_eq!(run("$$SET costs $$5").unwrap(), "$SET costs $5");
        assert_eq!(run("${NOPE:-${B}x}").unwrap(), "bx");
        assert_eq!(run("${SET:?boom}").unwrap(), "v");
        assert_eq!(run("${NOPE}").unwrap(), "");
        assert_eq!(run("a-$SET.b").unwrap(), "a-v.b");
    }

    #[test]
    fn errors() {
        let e = run("${NOPE:?set NOPE to the password}").unwrap_err();
        assert_eq!(
            e,
            "required variable NOPE is unset or empty: set NOPE to the password"
        );
        assert!(run("${EMPTY?x}").is_ok());
        assert!(run("${EMPTY:?x}").is_err());
        assert!(run("${NOPE?}").unwrap_err().contains("is unset"));
        assert!(run("${SET").unwrap_err().contains("not closed"));
        assert!(run("cost $5").unwrap_err().contains("$$"));
        assert!(run("${1A}").is_err());
        assert!(run("${A/b}").is_err());
    }

    #[test]
    fn unset_variables_are_reported() {
        let mut env = |_: &str| None;
        let o = interpolate("$A ${B} ${C:-x}", &mut env).unwrap();
        assert_eq!(o.unset, vec!["A".to_string(), "B".to_string()]);
    }
}
