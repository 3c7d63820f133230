//! One line of a task's log file as the log driver writes it:
//! `TIME STREAM TEXT`, TIME the nanoseconds since the Unix epoch when the driver read
//! the line (19 digits), STREAM `o` (stdout) or `e` (stderr). Lines written before
//! this format (plain text) are read as stdout lines without a time.

/// A parsed log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Nanoseconds since the Unix epoch; `None` for a line of the older plain format.
    pub time_ns: Option<u64>,
    /// From the container's standard error.
    pub stderr: bool,
    pub text: String,
}

/// Width of the time field.
const TIME_DIGITS: usize = 19;

/// The prefix the driver writes before a line read at `time_ns` from `stderr` or not.
pub(crate) fn prefix(time_ns: u64, stderr: bool) -> String {
    format!(
        "{time_ns:0width$} {} ",
        if stderr { 'e' } else { 'o' },
        width = TIME_DIGITS
    )
}

impl LogLine {
    /// Reads a line as stored (without its newline).
    pub fn parse(raw: &str) -> LogLine {
        let b = raw.as_bytes();
        let stamped = b.len() >= TIME_DIGITS + 3
            && b[..TIME_DIGITS].iter().all(u8::is_ascii_digit)
            && b[TIME_DIGITS] == b' '
            && matches!(b[TIME_DIGITS + 1], b'o' | b'e')
            && b[TIME_DIGITS + 2] == b' ';
        match stamped {
            true => LogLine {
                time_ns: raw[..TIME_DIGITS].parse().ok(),
                stderr: b[TIME_DIGITS + 1] == b'e',
                text: raw[TIME_DIGITS + 3..].to_string(),
            },
            false => LogLine {
                time_ns: None,
                stderr: false,
                text: raw.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_and_plain_lines() {
        let raw = format!("{}hello world", prefix(1_765_000_000_123_456_789, true));
        assert_eq!(
            LogLine::parse(&raw),
            LogLine {
                time_ns: Some(1_765_000_000_123_456_789),
                stderr: true,
                text: "hello world".into()
            }
        );
        let empty = prefix(5, false);
        assert_eq!(LogLine::parse(&empty).text, "");
        assert_eq!(LogLine::parse(&empty).time_ns, Some(5));
        // Plain (older) lines, even ones that look almost stamped.
        for plain in ["plain", "", "1765000000123456789 x text", "12 o short"] {
            let l = LogLine::parse(plain);
            assert_eq!((l.time_ns, l.stderr, l.text.as_str()), (None, false, plain));
        }
    }
}
