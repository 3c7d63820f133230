//! A running task's health check: probes on Docker's schedule, the state they lead to
//! (the pure [`Tracker`]), and the reports into Raft — on every change of health state,
//! otherwise at most once per [`REFRESH_MS`] and only when the results say something
//! new (failing streak, exit codes, outputs): a steadily healthy task writes nothing.
//!
//! An unhealthy task leaves DNS and every backend list once its report is committed
//! (`Task::serves`); only then, when the check says `restart_on_unhealthy`, does
//! [`monitor`] return so the worker stops the container and reports it failed.

use super::probe::{self, Target};
use super::AgentCtx;
use crate::util::now_ms;
use orc_model::{HealthState, ProbeResult, TaskHealth, TaskStatus};
use orc_spec::EffectiveHealthCheck;
use std::time::Duration;

/// A task's health is re-reported at most this often when its state did not change.
pub const REFRESH_MS: u64 = 60_000;

/// Probe output kept per result in Raft (the agent keeps [`probe::MAX_OUTPUT`]).
pub const RAFT_OUTPUT: usize = 256;

/// The health of one task as its probes find it (pure: no clock, no I/O).
#[derive(Debug, Clone)]
pub struct Tracker {
    check: EffectiveHealthCheck,
    /// When the container started (ms): the start period counts from here.
    started_at: u64,
    health: TaskHealth,
    /// Whether a probe ever succeeded (then `interval`, before it `start_interval`).
    succeeded: bool,
    /// The state last reported and when.
    reported: Option<(HealthState, u64)>,
    /// What the last report said, times aside.
    reported_news: Option<News>,
}

/// A report's content without its times: a refresh that would only move timestamps
/// is not worth a Raft entry.
type News = (u32, Vec<(i32, String)>);

impl Tracker {
    /// A tracker for a container started at `started_at`; `prior` is the health the
    /// cluster holds for it already (a daemon restart adopting a running container
    /// keeps it instead of starting over).
    pub fn new(check: EffectiveHealthCheck, started_at: u64, prior: Option<TaskHealth>) -> Tracker {
        let health = prior.clone().unwrap_or_else(|| starting(started_at));
        Tracker {
            check,
            started_at,
            succeeded: health.state != HealthState::Starting,
            reported_news: prior.as_ref().map(news),
            reported: prior.map(|h| (h.state, started_at)),
            health,
        }
    }

    pub fn check(&self) -> &EffectiveHealthCheck {
        &self.check
    }

    pub fn state(&self) -> HealthState {
        self.health.state
    }

    /// Time until the next probe: `start_interval` until a probe succeeded, then
    /// `interval`.
    pub fn next_in(&self) -> Duration {
        Duration::from_millis(if self.succeeded {
            self.check.interval_ms
        } else {
            self.check.start_interval_ms
        })
    }

    /// Takes one probe's result (as Docker does): a pass makes the task healthy and
    /// clears the failing streak; a failure counts, except while still starting within
    /// the start period, and `retries` of them in a row make it unhealthy. True when
    /// the health state changed.
    pub fn record(&mut self, r: ProbeResult) -> bool {
        let before = self.health.state;
        if r.exit_code == 0 {
            self.succeeded = true;
            self.health.failing_streak = 0;
            self.health.state = HealthState::Healthy;
        } else {
            let in_start_period = before == HealthState::Starting
                && r.started.saturating_sub(self.started_at) < self.check.start_period_ms;
            if !in_start_period {
                self.health.failing_streak = self.health.failing_streak.saturating_add(1);
                if self.health.failing_streak >= self.check.retries.max(1) {
                    self.health.state = HealthState::Unhealthy;
                }
            }
        }
        let at = r.ended;
        self.health.log.push(r);
        let excess = self.health.log.len().saturating_sub(TaskHealth::LOG_LEN);
        self.health.log.drain(..excess);
        if self.health.state != before {
            self.health.since = at;
            true
        } else {
            false
        }
    }

    /// Whether the health should be reported at `now`: its state differs from the one
    /// last reported, or the last report is [`REFRESH_MS`] old and the results changed
    /// since (streak, exit codes or outputs; not just their times).
    pub fn due(&self, now: u64) -> bool {
        match self.reported {
            None => true,
            Some((state, at)) => {
                state != self.health.state
                    || (now.saturating_sub(at) >= REFRESH_MS
                        && self.reported_news.as_ref() != Some(&news(&self.for_raft())))
            }
        }
    }

    /// Notes that the health was reported at `now`.
    pub fn reported(&mut self, now: u64) {
        self.reported = Some((self.health.state, now));
        self.reported_news = Some(news(&self.for_raft()));
    }

    /// The health as it goes into Raft: outputs cut to [`RAFT_OUTPUT`] bytes.
    pub fn for_raft(&self) -> TaskHealth {
        let mut h = self.health.clone();
        for r in &mut h.log {
            r.output = probe::truncate(std::mem::take(&mut r.output), RAFT_OUTPUT);
        }
        h
    }
}

fn news(h: &TaskHealth) -> News {
    (
        h.failing_streak,
        h.log
            .iter()
            .map(|r| (r.exit_code, r.output.clone()))
            .collect(),
    )
}

/// The health of a task that was just started: starting, no probe yet.
pub fn starting(at: u64) -> TaskHealth {
    TaskHealth {
        state: HealthState::Starting,
        since: at,
        failing_streak: 0,
        log: Vec::new(),
    }
}

/// `unhealthy: exit 1: <output>`: why an unhealthy task was stopped (one line).
pub fn failure_message(r: &ProbeResult) -> String {
    let out: String = r.output.split_whitespace().collect::<Vec<_>>().join(" ");
    let out = probe::truncate(out, 200);
    if out.is_empty() {
        format!("unhealthy: exit {}", r.exit_code)
    } else {
        format!("unhealthy: exit {}: {out}", r.exit_code)
    }
}

/// Probes the task forever, reporting its health on top of `running` (its running
/// status, address included). Returns only when the task is unhealthy and its check
/// restarts unhealthy tasks: after the unhealthy report was committed (so the task is
/// out of DNS and every backend list), with the last failed probe and the health.
pub async fn monitor(
    ctx: &AgentCtx,
    mut target: Target,
    running: TaskStatus,
    mut tracker: Tracker,
) -> (ProbeResult, TaskHealth) {
    let id = target.task_id.clone();
    let timeout = Duration::from_millis(tracker.check().timeout_ms.max(1));
    let test = tracker.check().test.clone();
    let restart = tracker.check().restart_on_unhealthy;
    loop {
        tokio::time::sleep(tracker.next_in()).await;
        let started = now_ms();
        let o = probe::run(ctx, &mut target, &test, timeout).await;
        let r = ProbeResult {
            started,
            ended: now_ms().max(started),
            exit_code: o.exit_code,
            output: o.output,
        };
        if r.exit_code != 0 {
            tracing::debug!(task = %id, exit = r.exit_code, output = %r.output, "health probe failed");
        }
        tracker.record(r.clone());
        let now = now_ms();
        let stop_it = restart && tracker.state() == HealthState::Unhealthy;
        if !(stop_it || tracker.due(now)) {
            continue;
        }
        let mut st = running.clone();
        st.health = Some(tracker.for_raft());
        if stop_it {
            tracing::info!(task = %id, "{}: stopping it once that is committed", failure_message(&r));
            ctx.reporter.report_committed(&id, st.clone()).await;
            return (r, tracker.for_raft());
        }
        if tracker.state() != tracker.reported.map_or(HealthState::Starting, |(s, _)| s) {
            tracing::info!(task = %id, health = tracker.state().as_str(), "health changed");
        }
        ctx.reporter.report(&id, st);
        tracker.reported(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_spec::HealthTest;

    fn check(retries: u32, start_period_ms: u64) -> EffectiveHealthCheck {
        EffectiveHealthCheck {
            test: HealthTest::Tcp(80),
            interval_ms: 10_000,
            timeout_ms: 1_000,
            retries,
            start_period_ms,
            start_interval_ms: 500,
            restart_on_unhealthy: true,
        }
    }

    fn probe(at: u64, code: i32) -> ProbeResult {
        ProbeResult {
            started: at,
            ended: at + 5,
            exit_code: code,
            output: "x".repeat(1000),
        }
    }

    #[test]
    fn start_interval_until_the_first_success_then_interval() {
        let mut t = Tracker::new(check(3, 0), 1_000, None);
        assert_eq!(t.state(), HealthState::Starting);
        assert_eq!(t.next_in(), Duration::from_millis(500));
        assert!(!t.record(probe(1_500, 1)));
        assert_eq!(t.next_in(), Duration::from_millis(500), "no success yet");
        assert!(t.record(probe(2_000, 0)));
        assert_eq!(t.state(), HealthState::Healthy);
        assert_eq!(t.health.since, 2_005);
        assert_eq!(t.health.failing_streak, 0);
        assert_eq!(t.next_in(), Duration::from_millis(10_000));
        // Failing later keeps the interval.
        t.record(probe(12_000, 1));
        assert_eq!(t.next_in(), Duration::from_millis(10_000));
    }

    #[test]
    fn retries_failures_in_a_row_make_it_unhealthy_and_a_pass_heals() {
        let mut t = Tracker::new(check(3, 0), 0, None);
        t.record(probe(10, 0));
        assert!(!t.record(probe(20, 1)));
        assert!(!t.record(probe(30, 2)));
        assert_eq!(t.health.failing_streak, 2);
        assert_eq!(t.state(), HealthState::Healthy);
        assert!(t.record(probe(40, 1)));
        assert_eq!(t.state(), HealthState::Unhealthy);
        assert_eq!(t.health.failing_streak, 3);
        // A pass in between resets the streak.
        assert!(t.record(probe(50, 0)));
        assert_eq!(
            (t.state(), t.health.failing_streak),
            (HealthState::Healthy, 0)
        );
        // retries = 0 behaves as 1.
        let mut t = Tracker::new(check(0, 0), 0, None);
        assert!(t.record(probe(10, 1)));
        assert_eq!(t.state(), HealthState::Unhealthy);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_while_starting() {
        let mut t = Tracker::new(check(1, 5_000), 1_000, None);
        for at in [1_500, 3_000, 5_999] {
            assert!(!t.record(probe(at, 1)), "at {at}");
            assert_eq!(t.health.failing_streak, 0);
        }
        assert_eq!(t.state(), HealthState::Starting);
        // Past it, a failure counts.
        assert!(t.record(probe(6_000, 1)));
        assert_eq!(t.state(), HealthState::Unhealthy);
        // Once healthy, a failure inside the start period counts (as Docker).
        let mut t = Tracker::new(check(1, 60_000), 0, None);
        t.record(probe(100, 0));
        assert!(t.record(probe(200, 1)));
        assert_eq!(t.state(), HealthState::Unhealthy);
    }

    #[test]
    fn the_log_keeps_the_last_five_and_raft_gets_them_cut() {
        let mut t = Tracker::new(check(100, 0), 0, None);
        for i in 0..8 {
            t.record(probe(i * 10, 1));
        }
        assert_eq!(t.health.log.len(), TaskHealth::LOG_LEN);
        assert_eq!(t.health.log[0].started, 30, "oldest first");
        let h = t.for_raft();
        assert!(h.log.iter().all(|r| r.output.len() == RAFT_OUTPUT));
        assert_eq!(t.health.log[0].output.len(), 1000, "kept whole in memory");
    }

    #[test]
    fn reports_on_each_state_change_else_once_a_refresh_period() {
        let mut t = Tracker::new(check(2, 0), 0, None);
        assert!(t.due(0), "never reported");
        t.reported(0);
        t.record(probe(100, 1));
        assert!(!t.due(200), "same state, reported just now");
        t.record(probe(300, 0));
        assert!(t.due(400), "healthy now");
        t.reported(400);
        t.record(probe(10_000, 0));
        assert!(!t.due(10_000));
        // Refreshed once a minute when the results say something new.
        assert!(
            t.due(400 + REFRESH_MS),
            "a new result: refreshed after a minute"
        );
        for i in 0..10 {
            t.record(probe(70_000 + i * 1_000, 0));
        }
        t.reported(80_000);
        // Only passes with the same output since: nothing worth a Raft entry.
        for i in 0..10 {
            t.record(probe(90_000 + i * 1_000, 0));
        }
        assert!(
            !t.due(80_000 + 3 * REFRESH_MS),
            "same results, new times only"
        );
        // A failure below `retries` is news (streak and exit code), after the minute.
        t.reported(190_000);
        t.record(probe(200_000, 1));
        assert!(!t.due(200_010), "not before the minute is up");
        assert!(t.due(190_000 + REFRESH_MS));
        t.record(probe(300_000, 1));
        assert!(t.due(300_010), "unhealthy now");
    }

    #[test]
    fn an_adopted_task_keeps_the_health_the_cluster_holds() {
        let prior = TaskHealth {
            state: HealthState::Healthy,
            since: 50,
            failing_streak: 0,
            log: vec![probe(40, 0)],
        };
        let t = Tracker::new(check(3, 0), 0, Some(prior.clone()));
        assert_eq!(t.state(), HealthState::Healthy);
        assert_eq!(t.next_in(), Duration::from_millis(10_000));
        assert!(!t.due(10), "already in the cluster's state");
    }

    #[test]
    fn the_failure_message_is_one_line() {
        let mut r = probe(0, 1);
        r.output = "curl: (7)\n  Failed to connect\n".into();
        assert_eq!(
            failure_message(&r),
            "unhealthy: exit 1: curl: (7) Failed to connect"
        );
        r.output.clear();
        r.exit_code = -1;
        assert_eq!(failure_message(&r), "unhealthy: exit -1");
    }
}
