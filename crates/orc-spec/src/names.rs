//! Checks on names and small string values: stack and service names, hostnames,
//! users, paths. Each returns the reason a value is rejected.

/// Longest stack or service name, and longest full `STACK_SERVICE` name.
pub(crate) const MAX_NAME: usize = 63;

/// A stack or service name: `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most 63 characters.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "name {name:?} is {} characters long; the limit is {MAX_NAME}",
            name.len()
        ));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !name.chars().all(allowed) || name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "invalid name {name:?}: use lowercase letters, digits and '-', starting and \
             ending with a letter or digit (no '_': the full name is STACK_SERVICE)"
        ));
    }
    Ok(())
}

/// A hostname (RFC 1123): dot-separated labels of letters, digits and '-', each 1..=63
/// characters, not starting or ending with '-'; at most 253 characters in all.
pub(crate) fn check_hostname(host: &str) -> Result<(), String> {
    if host.is_empty() || host.len() > 253 {
        return Err(format!(
            "hostname {host:?} must be 1 to 253 characters long"
        ));
    }
    for label in host.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(format!(
                "invalid hostname {host:?}: each dot-separated part must be 1 to 63 letters, \
                 digits or '-', not starting or ending with '-'"
            ));
        }
    }
    Ok(())
}

/// A user: `name`, `uid`, `uid:gid`, `name:group` (or `uid:group`, `name:gid`).
pub(crate) fn check_user(user: &str) -> Result<(), String> {
    let mut parts = user.split(':');
    let who = parts.next().unwrap_or("");
    let group = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "invalid user {user:?}: use \"name\", \"uid\", \"uid:gid\" or \"name:group\""
        ));
    }
    for (part, what) in [(Some(who), "user"), (group, "group")] {
        let Some(part) = part else { continue };
        if let Err(why) = check_id(part) {
            return Err(format!(
                "invalid {what} in {user:?}: {why} (use \"name\", \"uid\", \"uid:gid\" or \
                 \"name:group\")"
            ));
        }
    }
    Ok(())
}

/// A numeric id that fits in 32 bits, or a POSIX-ish account name.
fn check_id(part: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err("it is empty".into());
    }
    if part.chars().all(|c| c.is_ascii_digit()) {
        return match part.parse::<u32>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!("{part} is not a valid numeric id")),
        };
    }
    let mut chars = part.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if first_ok && rest_ok && part.len() <= 32 {
        Ok(())
    } else {
        Err(format!(
            "{part:?} is neither a number nor a name (letters, digits, '_', '-', '.', \
             starting with a letter or '_', at most 32 characters)"
        ))
    }
}

/// An absolute path without NUL bytes or `..` components.
pub(crate) fn check_absolute_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("path {path:?} must be absolute (start with '/')"));
    }
    if path.contains('\0') {
        return Err(format!("path {path:?} contains a NUL byte"));
    }
    if path.split('/').any(|c| c == "..") {
        return Err(format!("path {path:?} must not contain '..'"));
    }
    Ok(())
}

/// `path` with repeated and trailing slashes and `.` components removed: "/a//b/./" → "/a/b".
pub(crate) fn clean_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert!(check_name("web").is_ok());
        assert!(check_name("web-2").is_ok());
        assert!(check_name("0").is_ok());
        assert!(check_name(&"a".repeat(63)).is_ok());
        assert!(check_name(&"a".repeat(64)).unwrap_err().contains("limit"));
        assert!(check_name("").is_err());
        assert!(check_name("Web").is_err());
        assert!(check_name("my_web").unwrap_err().contains("STACK_SERVICE"));
        assert!(check_name("-web").is_err());
        assert!(check_name("web-").is_err());
        assert!(check_name("wéb").is_err());
    }

    #[test]
    fn hostnames() {
        assert!(check_hostname("web").is_ok());
        assert!(check_hostname("Web-1.example.org").is_ok());
        assert!(check_hostname("").is_err());
        assert!(check_hostname("a..b").is_err());
        assert!(check_hostname("-a").is_err());
        assert!(check_hostname("a_b").is_err());
        assert!(check_hostname(&"a".repeat(64)).is_err());
    }

    #[test]
    fn users() {
        for ok in [
            "1000",
            "1000:1000",
            "www-data",
            "nobody:nogroup",
            "0:wheel",
            "_apt",
        ] {
            assert!(check_user(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ":",
            "1000:",
            ":1000",
            "a:b:c",
            "9999999999",
            "1user",
            "us er",
        ] {
            assert!(check_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        assert!(check_absolute_path("/www").is_ok());
        assert!(check_absolute_path("www").unwrap_err().contains("absolute"));
        assert!(check_absolute_path("/a/../b").unwrap_err().contains(".."));
        assert!(check_absolute_path("/a\0").is_err());
        assert_eq!(clean_path("/a//b/./"), "/a/b");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("/www/"), "/www");
    }
}
