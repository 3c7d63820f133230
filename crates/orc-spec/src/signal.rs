//! Signal names and numbers (Linux numbering, the same on aarch64 and x86_64).

/// Standard signals by name, without the `SIG` prefix.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// First and last real-time signal as seen by programs (glibc and musl reserve 32, 33).
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// Parses a signal given as `"SIGTERM"`, `"TERM"` (any case), `"15"`, or
/// `"SIGRTMIN+3"` / `"RTMAX-1"`, into its number.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    let text = s.trim();
    if let Ok(number) = text.parse::<i32>() {
        return if (1..=RTMAX).contains(&number) {
            Ok(number)
        } else {
            Err(format!(
                "signal number {number} is out of range 1..={RTMAX}"
            ))
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, number)) = SIGNALS.iter().find(|(n, _)| *n == name) {
        return Ok(number);
    }
    if let Some(number) = realtime(name) {
        return Ok(number);
    }
    Err(format!(
        "unknown signal {s:?}; use a name such as SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1 \
         or SIGKILL, or a number 1..={RTMAX}"
    ))
}

/// `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n`, within the real-time range.
fn realtime(name: &str) -> Option<i32> {
    let number = if let Some(rest) = name.strip_prefix("RTMIN") {
        match rest.strip_prefix('+') {
            Some(n) => RTMIN.checked_add(n.parse::<i32>().ok()?)?,
            None if rest.is_empty() => RTMIN,
            None => return None,
        }
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        match rest.strip_prefix('-') {
            Some(n) => RTMAX.checked_sub(n.parse::<i32>().ok()?)?,
            None if rest.is_empty() => RTMAX,
            None => return None,
        }
    } else {
        return None;
    };
    (RTMIN..=RTMAX).contains(&number).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("sigterm"), Ok(15));
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("SIGQUIT"), Ok(3));
        assert_eq!(parse_signal("SIGUSR1"), Ok(10));
        assert_eq!(parse_signal("SIGWINCH"), Ok(28));
        assert_eq!(parse_signal("SIGRTMIN"), Ok(34));
        assert_eq!(parse_signal("SIGRTMIN+3"), Ok(37));
        assert_eq!(parse_signal("RTMAX-1"), Ok(63));
    }

    #[test]
    fn unknown_signals_are_rejected() {
        assert!(parse_signal("SIGFOO")
            .unwrap_err()
            .contains("unknown signal"));
        assert!(parse_signal("").is_err());
        assert!(parse_signal("0").unwrap_err().contains("out of range"));
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("-15").is_err());
        assert!(parse_signal("SIGRTMIN+31").is_err());
        assert!(parse_signal("SIGRTMINX").is_err());
    }
}
