//! Durations ("1m30s") and byte sizes ("128M") as written in stack files and on the
//! command line.

/// Parses a duration such as `"5s"`, `"100ms"`, `"1m30s"`, `"1.5s"` or `"2h"` into
/// milliseconds. Units: `ms`, `s`, `m`, `h`; a bare `"0"` is zero. The result must be a
/// whole number of milliseconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. \"5s\", \"100ms\" or \"1m30s\"".into());
    }
    if text == "0" {
        return Ok(0);
    }
    if text.starts_with('-') {
        return Err(format!("duration {s:?} is negative"));
    }
    let mut rest = text;
    // Total in microseconds, so "1.5ms" can be told apart from whole milliseconds.
    let mut total_us: u128 = 0;
    while !rest.is_empty() {
        let (number, after) = split_number(rest)
            .ok_or_else(|| format!("invalid duration {s:?}: expected a number at {rest:?}"))?;
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_us: u128 = match unit {
            "ms" => 1_000,
            "s" => 1_000_000,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            "" => {
                return Err(format!(
                    "invalid duration {s:?}: missing unit after {number:?} (use ms, s, m or h)"
                ))
            }
            other => {
                return Err(format!(
                    "invalid duration {s:?}: unknown unit {other:?} (use ms, s, m or h)"
                ))
            }
        };
        total_us = total_us
            .checked_add(scale(number, unit_us).ok_or_else(|| too_large(s))?)
            .ok_or_else(|| too_large(s))?;
        rest = after;
    }
    if !total_us.is_multiple_of(1_000) {
        return Err(format!(
            "duration {s:?} is not a whole number of milliseconds"
        ));
    }
    u64::try_from(total_us / 1_000).map_err(|_| too_large(s))
}

fn too_large(s: &str) -> String {
    format!("duration {s:?} is too large")
}

/// Parses a size such as `"128M"`, `"1G"`, `"512k"`, `"1Gi"`, `"64MiB"`, `"1.5g"` or
/// `"1000"` (bytes) into bytes. As in Docker, every unit is binary: `k` = 1024,
/// `M` = 1024², `G` = 1024³, `T`, `P`; case is ignored and `b`, `i`, `ib` may follow.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let (number, unit) = split_number(text).ok_or_else(|| {
        format!("invalid size {s:?}: expected a number with an optional unit, e.g. \"128M\"")
    })?;
    let unit = unit.trim().to_ascii_lowercase();
    let letter = unit.chars().next();
    let suffix = unit.get(1..).unwrap_or("");
    let power = match letter {
        None => 0,
        Some('b') if suffix.is_empty() => 0,
        Some(c) if matches!(suffix, "" | "b" | "i" | "ib") => match c {
            'k' => 1,
            'm' => 2,
            'g' => 3,
            't' => 4,
            'p' => 5,
            _ => return Err(bad_unit(s, &unit)),
        },
        Some(_) => return Err(bad_unit(s, &unit)),
    };
    let multiplier = 1024u128.pow(power);
    let bytes = scale(number, multiplier).ok_or_else(|| format!("size {s:?} is too large"))?;
    if number.contains('.') && power == 0 {
        return Err(format!("invalid size {s:?}: a byte count must be whole"));
    }
    u64::try_from(bytes).map_err(|_| format!("size {s:?} is too large"))
}

fn bad_unit(s: &str, unit: &str) -> String {
    format!("invalid size {s:?}: unknown unit {unit:?} (use b, k, M, G, T or P, e.g. \"128M\")")
}

/// Splits a leading unsigned decimal number (`12`, `1.5`) off `s`.
fn split_number(s: &str) -> Option<(&str, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number = &s[..end];
    let mut parts = number.split('.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next();
    let valid = parts.next().is_none()
        && (!whole.is_empty() || fraction.is_some_and(|f| !f.is_empty()))
        && fraction.is_none_or(|f| !f.is_empty());
    valid.then(|| s.split_at(end))
}

/// `number` (decimal, maybe with a fraction) times `unit`, rounded down; None on overflow.
fn scale(number: &str, unit: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole.checked_mul(unit)?;
    let mut denominator: u128 = 1;
    let mut numerator: u128 = 0;
    for digit in fraction.chars().take(30) {
        denominator *= 10;
        numerator = numerator * 10 + u128::from(digit.to_digit(10)?);
    }
    value = value.checked_add(numerator.checked_mul(unit)? / denominator)?;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(5_000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(parse_duration("1m30s"), Ok(90_000));
        assert_eq!(parse_duration("2h"), Ok(7_200_000));
        assert_eq!(parse_duration("1h2m3s4ms"), Ok(3_723_004));
        assert_eq!(parse_duration("1.5s"), Ok(1_500));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration(" 10s "), Ok(10_000));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("5 s").unwrap_err().contains("missing unit"));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("s")
            .unwrap_err()
            .contains("expected a number"));
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("0.5ms").unwrap_err().contains("whole"));
        assert!(parse_duration("99999999999999999999999h")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn sizes_are_binary_like_docker() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("1000b"), Ok(1000));
        assert_eq!(parse_bytes("512k"), Ok(512 * 1024));
        assert_eq!(parse_bytes("512K"), Ok(512 * 1024));
        assert_eq!(parse_bytes("128M"), Ok(128 << 20));
        assert_eq!(parse_bytes("128m"), Ok(128 << 20));
        assert_eq!(parse_bytes("128MB"), Ok(128 << 20));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("1Gi"), Ok(1 << 30));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("2T"), Ok(2 << 40));
        assert_eq!(parse_bytes("1 G"), Ok(1 << 30));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("M").is_err());
        assert!(parse_bytes("12X").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("12Mx").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("-1M").is_err());
        assert!(parse_bytes("1.5").unwrap_err().contains("whole"));
        assert!(parse_bytes("99999999P").unwrap_err().contains("too large"));
    }
}
