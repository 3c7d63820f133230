//! The health check a task actually runs: the stack's `healthcheck` over the image's
//! own `Healthcheck` (OCI image config), field by field as Docker merges them, with
//! Docker's defaults for whatever neither sets. Pure.

use crate::{parse_health_test, HealthCheck, HealthTest};

/// Docker's default time between probes.
pub const DEFAULT_INTERVAL_MS: u64 = 30_000;
/// Docker's default probe timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Docker's default number of consecutive failures that make a task unhealthy.
pub const DEFAULT_RETRIES: u32 = 3;
/// Docker's default start period (failures in it don't count).
pub const DEFAULT_START_PERIOD_MS: u64 = 0;
/// Docker's default time between probes until the first success.
pub const DEFAULT_START_INTERVAL_MS: u64 = 5_000;

/// An image config's `config.Healthcheck` (Docker's image format; durations in
/// nanoseconds, 0 = not set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageHealthcheck {
    /// `Test`: `["CMD", …]`, `["CMD-SHELL", "…"]`, `["NONE"]`, or empty (inherit).
    pub test: Vec<String>,
    /// `Interval`, ns.
    pub interval_ns: u64,
    /// `Timeout`, ns.
    pub timeout_ns: u64,
    /// `StartPeriod`, ns.
    pub start_period_ns: u64,
    /// `StartInterval`, ns.
    pub start_interval_ns: u64,
    /// `Retries` (0 = not set).
    pub retries: u32,
}

/// The check a task runs, every field decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveHealthCheck {
    /// The probe (never [`HealthTest::None`]).
    pub test: HealthTest,
    /// Time between probes once one succeeded.
    pub interval_ms: u64,
    /// A probe running longer fails (and an exec probe is killed).
    pub timeout_ms: u64,
    /// Consecutive failures (outside the start period) that make the task unhealthy.
    pub retries: u32,
    /// Failures within this time of the start do not count.
    pub start_period_ms: u64,
    /// Time between probes until the first success.
    pub start_interval_ms: u64,
    /// Whether an unhealthy task is stopped (and replaced per the restart policy).
    pub restart_on_unhealthy: bool,
}

/// The check a task runs: `spec` (the service's `healthcheck`) over `image` (its
/// image's `Healthcheck`), as Docker merges a container's config over its image's: a
/// field the service leaves unset (None, or 0 as Docker reads zero) takes the image's,
/// then Docker's default. `["NONE"]` from the service disables the check, the image's
/// included; so does an image `["NONE"]` the service does not override. `None`: no
/// check (neither names a test, or it is `NONE`). An image test orc cannot read counts
/// as none.
pub fn effective_healthcheck(
    spec: Option<&HealthCheck>,
    image: Option<&ImageHealthcheck>,
) -> Option<EffectiveHealthCheck> {
    let image_test = image
        .filter(|i| !i.test.is_empty())
        .and_then(|i| parse_health_test(&i.test).ok());
    let test = match spec.and_then(|s| s.test.clone()) {
        Some(t) => t,
        None => image_test?,
    };
    if test == HealthTest::None {
        return None;
    }
    let ns_ms = |ns: u64| ns / 1_000_000;
    let pick = |mine: Option<u64>, theirs: fn(&ImageHealthcheck) -> u64, default: u64| {
        mine.filter(|v| *v > 0)
            .or_else(|| image.map(|i| ns_ms(theirs(i))).filter(|v| *v > 0))
            .unwrap_or(default)
    };
    Some(EffectiveHealthCheck {
        test,
        interval_ms: pick(
            spec.and_then(|s| s.interval_ms),
            |i| i.interval_ns,
            DEFAULT_INTERVAL_MS,
        ),
        timeout_ms: pick(
            spec.and_then(|s| s.timeout_ms),
            |i| i.timeout_ns,
            DEFAULT_TIMEOUT_MS,
        ),
        retries: spec
            .and_then(|s| s.retries)
            .filter(|r| *r > 0)
            .or_else(|| image.map(|i| i.retries).filter(|r| *r > 0))
            .unwrap_or(DEFAULT_RETRIES),
        start_period_ms: pick(
            spec.and_then(|s| s.start_period_ms),
            |i| i.start_period_ns,
            DEFAULT_START_PERIOD_MS,
        ),
        start_interval_ms: pick(
            spec.and_then(|s| s.start_interval_ms),
            |i| i.start_interval_ns,
            DEFAULT_START_INTERVAL_MS,
        ),
        restart_on_unhealthy: spec.is_none_or(|s| s.restart_on_unhealthy),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(test: Option<HealthTest>) -> HealthCheck {
        HealthCheck {
            test,
            interval_ms: None,
            timeout_ms: None,
            retries: None,
            start_period_ms: None,
            start_interval_ms: None,
            restart_on_unhealthy: true,
        }
    }

    fn image(test: &[&str]) -> ImageHealthcheck {
        ImageHealthcheck {
            test: test.iter().map(|s| s.to_string()).collect(),
            interval_ns: 10_000_000_000,
            timeout_ns: 2_000_000_000,
            start_period_ns: 0,
            start_interval_ns: 1_000_000_000,
            retries: 7,
        }
    }

    #[test]
    fn nothing_set_means_no_check() {
        assert_eq!(effective_healthcheck(None, None), None);
        // Timings without a test anywhere: still no check (as Docker).
        let mut s = spec(None);
        s.interval_ms = Some(1000);
        assert_eq!(effective_healthcheck(Some(&s), None), None);
        assert_eq!(effective_healthcheck(None, Some(&image(&[]))), None);
    }

    #[test]
    fn a_service_test_alone_gets_dockers_defaults() {
        let s = spec(Some(HealthTest::Tcp(80)));
        let e = effective_healthcheck(Some(&s), None).unwrap();
        assert_eq!(
            e,
            EffectiveHealthCheck {
                test: HealthTest::Tcp(80),
                interval_ms: 30_000,
                timeout_ms: 30_000,
                retries: 3,
                start_period_ms: 0,
                start_interval_ms: 5_000,
                restart_on_unhealthy: true,
            }
        );
    }

    #[test]
    fn the_images_check_applies_when_the_stack_sets_none() {
        let i = image(&["CMD-SHELL", "pg_isready"]);
        let e = effective_healthcheck(None, Some(&i)).unwrap();
        assert_eq!(e.test, HealthTest::CmdShell("pg_isready".into()));
        assert_eq!((e.interval_ms, e.timeout_ms, e.retries), (10_000, 2_000, 7));
        // Unset in the image: Docker's default.
        assert_eq!((e.start_period_ms, e.start_interval_ms), (0, 1_000));
        assert!(e.restart_on_unhealthy);
    }

    #[test]
    fn fields_merge_one_by_one() {
        // The service sets the test and the interval; the rest comes from the image.
        let mut s = spec(Some(HealthTest::Http("http://localhost/".into())));
        s.interval_ms = Some(2_000);
        s.restart_on_unhealthy = false;
        let e = effective_healthcheck(Some(&s), Some(&image(&["CMD", "true"]))).unwrap();
        assert_eq!(e.test, HealthTest::Http("http://localhost/".into()));
        assert_eq!(e.interval_ms, 2_000);
        assert_eq!(e.timeout_ms, 2_000);
        assert_eq!(e.retries, 7);
        assert!(!e.restart_on_unhealthy);
        // Only timings from the service: the image's test runs with them.
        let mut s = spec(None);
        s.retries = Some(1);
        s.start_period_ms = Some(60_000);
        let e = effective_healthcheck(Some(&s), Some(&image(&["CMD", "true"]))).unwrap();
        assert_eq!(e.test, HealthTest::Cmd(vec!["true".into()]));
        assert_eq!(
            (e.retries, e.start_period_ms, e.interval_ms),
            (1, 60_000, 10_000)
        );
        // Zero reads as unset, as in Docker: the image's value.
        let mut s = spec(None);
        s.retries = Some(0);
        s.start_period_ms = Some(0);
        let mut i = image(&["CMD", "true"]);
        i.start_period_ns = 3_000_000_000;
        let e = effective_healthcheck(Some(&s), Some(&i)).unwrap();
        assert_eq!((e.retries, e.start_period_ms), (7, 3_000));
    }

    #[test]
    fn none_disables_even_the_images_check() {
        let s = spec(Some(HealthTest::None));
        assert_eq!(
            effective_healthcheck(Some(&s), Some(&image(&["CMD", "true"]))),
            None
        );
        assert_eq!(effective_healthcheck(None, Some(&image(&["NONE"]))), None);
        // The service's own test overrides an image's NONE.
        let s = spec(Some(HealthTest::Tcp(5432)));
        assert!(effective_healthcheck(Some(&s), Some(&image(&["NONE"]))).is_some());
    }

    #[test]
    fn an_unreadable_image_test_counts_as_none() {
        assert_eq!(
            effective_healthcheck(None, Some(&image(&["CURL", "x"]))),
            None
        );
    }
}
