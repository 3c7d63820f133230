//! Exponential backoff for failed image pulls, per image: the first failure waits
//! [`FIRST`], each further one twice as long, up to [`CAP`]; a success forgets it.
//! Pure bookkeeping (times are passed in, in ms since the epoch), so it is tested
//! without a clock.

use std::collections::HashMap;

/// The wait after the first failure.
pub const FIRST_MS: u64 = 1_000;
/// The longest wait between two tries.
pub const CAP_MS: u64 = 60_000;

/// The wait after `failures` consecutive failures (0 → none).
pub fn delay_ms(failures: u32) -> u64 {
    if failures == 0 {
        return 0;
    }
    let shift = (failures - 1).min(16);
    FIRST_MS.saturating_mul(1 << shift).min(CAP_MS)
}

/// "HH:MM:SS" (UTC) of an instant in ms since the epoch, for `service ps`.
pub fn clock(ms: u64) -> String {
    let s = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// One image's failures so far and when it may be tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub failures: u32,
    pub next_ms: u64,
    /// The last failure's short reason ("registry unreachable").
    pub reason: String,
}

/// The failing images of one node.
#[derive(Debug, Default)]
pub struct PullBackoff {
    images: HashMap<String, Attempt>,
}

impl PullBackoff {
    /// Records a failed pull of `image` at `now_ms` for `reason`; returns when to
    /// try next.
    pub fn failed(&mut self, image: &str, now_ms: u64, reason: &str) -> u64 {
        let a = self.images.entry(image.to_string()).or_insert(Attempt {
            failures: 0,
            next_ms: 0,
            reason: String::new(),
        });
        a.failures = a.failures.saturating_add(1);
        a.reason = reason.to_string();
        a.next_ms = now_ms.saturating_add(delay_ms(a.failures));
        a.next_ms
    }

    /// Forgets `image`'s failures (it was pulled).
    pub fn succeeded(&mut self, image: &str) {
        self.images.remove(image);
    }

    /// `image`'s failures, if it may not be tried again before a time after `now_ms`.
    pub fn waiting(&self, image: &str, now_ms: u64) -> Option<&Attempt> {
        self.images.get(image).filter(|a| a.next_ms > now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_one_second_to_the_cap() {
        let d: Vec<u64> = (0..9).map(delay_ms).collect();
        assert_eq!(
            d,
            [0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(delay_ms(u32::MAX), CAP_MS);
    }

    #[test]
    fn failures_push_the_next_try_back_and_success_resets() {
        let mut b = PullBackoff::default();
        let r = "registry unreachable";
        assert_eq!(b.waiting("a", 0), None);
        assert_eq!(b.failed("a", 10_000, r), 11_000);
        let w = b.waiting("a", 10_500).cloned();
        assert_eq!(
            w.map(|a| (a.next_ms, a.failures, a.reason)),
            Some((11_000, 1, r.into()))
        );
        assert_eq!(b.waiting("a", 11_000), None);
        assert_eq!(b.failed("a", 11_000, r), 13_000);
        assert_eq!(b.failed("a", 13_000, "unknown image"), 17_000);
        assert_eq!(
            b.waiting("a", 13_000).map(|a| a.reason.as_str()),
            Some("unknown image")
        );
        // Per image: another image starts from the first delay.
        assert_eq!(b.failed("b", 13_000, r), 14_000);
        b.succeeded("a");
        assert_eq!(b.waiting("a", 13_000), None);
        assert_eq!(b.failed("a", 20_000, r), 21_000);
    }

    #[test]
    fn the_clock_is_utc_hours_minutes_seconds() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(86_400_000 + 3_723_000), "01:02:03");
    }
}
