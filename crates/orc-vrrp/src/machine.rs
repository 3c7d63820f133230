//! The RFC 5798 state machine with orc's quorum guard, free of I/O and
//! clocks: time is passed in as the [`Duration`] since any fixed epoch.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::config::{ConfigError, MachineConfig};
use crate::counters::{Cause, Counters, State, Transition};
use crate::drop_reason::DropReason;
use crate::event::{Action, Event};
use crate::packet::Advert;

/// One virtual router. Feed it [`Event`]s; carry out the [`Action`]s it returns.
#[derive(Debug, Clone)]
pub struct Machine {
    cfg: MachineConfig,
    state: State,
    eligible: bool,
    /// `Master_Adver_Interval`: the master's advertised interval (backup).
    master_interval_cs: u16,
    master_down_at: Option<Duration>,
    advert_at: Option<Duration>,
    garp_at: Option<Duration>,
    counters: Counters,
}

fn centis(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Machine {
    /// A machine in `Initialize`; `eligible` is the initial quorum input.
    pub fn new(cfg: MachineConfig, eligible: bool) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let counters = Counters {
            priority: cfg.priority,
            eligible,
            ..Counters::default()
        };
        Ok(Machine {
            master_interval_cs: cfg.advert_interval_cs,
            cfg,
            state: State::Initialize,
            eligible,
            master_down_at: None,
            advert_at: None,
            garp_at: None,
            counters,
        })
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration (with the current priority).
    pub fn config(&self) -> &MachineConfig {
        &self.cfg
    }

    /// Counters and current facts.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts a packet the I/O layer dropped before it became an event.
    pub fn record_drop(&mut self, reason: DropReason) {
        self.counters.record_drop(reason);
    }

    /// Counts an advert the I/O layer failed to send.
    pub fn record_send_error(&mut self) {
        self.counters.send_errors += 1;
    }

    /// Counts a failed VIP addition or removal.
    pub fn record_vip_error(&mut self) {
        self.counters.vip_errors += 1;
    }

    /// Counts gratuitous ARP frames sent.
    pub fn record_garp_sent(&mut self, frames: u64) {
        self.counters.garp_sent += frames;
    }

    /// Records the wall-clock time (Unix ms) of this machine's time zero.
    pub fn set_clock_origin_unix_ms(&mut self, unix_ms: u64) {
        self.counters.clock_origin_unix_ms = Some(unix_ms);
    }

    /// `Skew_Time` = (256 − priority) × `Master_Adver_Interval` / 256.
    pub fn skew_time(&self) -> Duration {
        centis(self.master_interval_cs) * (256 - u32::from(self.cfg.priority)) / 256
    }

    /// `Master_Down_Interval` = 3 × `Master_Adver_Interval` + `Skew_Time`.
    pub fn master_down_interval(&self) -> Duration {
        centis(self.master_interval_cs) * 3 + self.skew_time()
    }

    /// When the machine next needs [`Event::TimerFired`], if ever.
    pub fn next_deadline(&self) -> Option<Duration> {
        match self.state {
            State::Initialize => None,
            State::Master => [self.advert_at, self.garp_at].into_iter().flatten().min(),
            // An ineligible backup never acts on the master-down timer.
            State::Backup if self.eligible => self.master_down_at,
            State::Backup => None,
        }
    }

    /// Handles one event at time `now`; the last action is always
    /// [`Action::SetTimer`] or [`Action::CancelTimer`].
    pub fn handle(&mut self, now: Duration, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Startup => self.startup(now, &mut out),
            Event::Shutdown => self.shutdown(now, &mut out),
            Event::AdvertReceived { src, advert } => self.advert(now, src, advert, &mut out),
            Event::TimerFired => self.timer(now, &mut out),
            Event::PriorityChanged(p) => self.priority_changed(now, p, &mut out),
            Event::QuorumChanged(e) => self.quorum_changed(now, e, &mut out),
        }
        out.push(match self.next_deadline() {
            Some(at) => Action::SetTimer(at),
            None => Action::CancelTimer,
        });
        out
    }

    fn startup(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.state != State::Initialize {
            return;
        }
        if self.cfg.priority == 255 && self.eligible {
            self.become_master(now, Cause::Startup, out);
        } else {
            // Drop a VIP a crashed predecessor may have left behind.
            out.push(Action::RemoveVip);
            self.become_backup(now, Cause::Startup);
        }
    }

    fn shutdown(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.state == State::Master {
            self.send(0, out);
            out.push(Action::RemoveVip);
        }
        if self.state != State::Initialize {
            self.transition(now, State::Initialize, Cause::Shutdown);
        }
        self.master_down_at = None;
        self.advert_at = None;
        self.garp_at = None;
    }

    fn advert(&mut self, now: Duration, src: Ipv4Addr, advert: Advert, out: &mut Vec<Action>) {
        if advert.vrid != self.cfg.vrid {
            self.counters.record_drop(DropReason::WrongVrid);
            return;
        }
        self.counters.adverts_received += 1;
        if advert.priority == 0 {
            self.counters.priority_zero_received += 1;
        }
        match self.state {
            State::Initialize => {}
            State::Backup => {
                if advert.priority != 0 {
                    // Whatever its priority, only a master advertises.
                    self.counters.master_ip = Some(src);
                }
                if advert.priority == 0 {
                    self.master_down_at = Some(now + self.skew_time());
                } else if !self.cfg.preempt || advert.priority >= self.cfg.priority {
                    self.follow(now, src, &advert);
                }
                // else: a lower-priority master and preemption on: ignore it,
                // the master-down timer will make this node master.
            }
            State::Master => {
                if advert.priority == 0 {
                    self.send(self.cfg.priority, out);
                    self.advert_at = Some(now + centis(self.cfg.advert_interval_cs));
                } else if advert.priority > self.cfg.priority
                    || (advert.priority == self.cfg.priority && src > self.cfg.primary_ip)
                {
                    out.push(Action::RemoveVip);
                    self.become_backup(now, Cause::HigherPriority);
                    self.follow(now, src, &advert);
                }
            }
        }
    }

    /// Accepts `src` as master: adopt its interval, restart the down timer.
    fn follow(&mut self, now: Duration, src: Ipv4Addr, advert: &Advert) {
        self.master_interval_cs = advert.max_advert_interval_cs;
        self.master_down_at = Some(now + self.master_down_interval());
        self.counters.master_ip = Some(src);
    }

    fn timer(&mut self, now: Duration, out: &mut Vec<Action>) {
        match self.state {
            State::Initialize => {}
            State::Backup => {
                let expired = self.master_down_at.is_some_and(|at| at <= now);
                if expired && self.eligible {
                    self.become_master(now, Cause::MasterDown, out);
                }
            }
            State::Master => {
                if let Some(at) = self.advert_at.filter(|at| *at <= now) {
                    self.send(self.cfg.priority, out);
                    // Keep the cadence unless we fell a whole interval behind.
                    let interval = centis(self.cfg.advert_interval_cs);
                    self.advert_at = Some((at + interval).max(now));
                }
                if self.garp_at.is_some_and(|at| at <= now) {
                    self.garp_at = None;
                    out.push(Action::SendGratuitousArp {
                        count: self.cfg.garp.repeat_count,
                    });
                }
            }
        }
    }

    fn priority_changed(&mut self, now: Duration, priority: u8, out: &mut Vec<Action>) {
        if priority == 0 || priority == self.cfg.priority {
            return;
        }
        self.cfg.priority = priority;
        self.counters.priority = priority;
        if self.state == State::Master {
            self.send(priority, out);
            self.advert_at = Some(now + centis(self.cfg.advert_interval_cs));
        }
    }

    fn quorum_changed(&mut self, now: Duration, eligible: bool, out: &mut Vec<Action>) {
        if eligible == self.eligible {
            return;
        }
        self.eligible = eligible;
        self.counters.eligible = eligible;
        match (self.state, eligible) {
            (State::Master, false) => {
                // Release at once; priority 0 lets a backup take over after
                // its skew time instead of a whole Master_Down_Interval.
                self.send(0, out);
                out.push(Action::RemoveVip);
                self.become_backup(now, Cause::QuorumLost);
            }
            // No master was heard while ineligible: take over after the skew
            // time, so the highest priority wins a simultaneous return.
            (State::Backup, true) if self.master_down_at.is_none_or(|at| at <= now) => {
                self.master_down_at = Some(now + self.skew_time());
            }
            _ => {}
        }
    }

    fn become_master(&mut self, now: Duration, cause: Cause, out: &mut Vec<Action>) {
        self.send(self.cfg.priority, out);
        out.push(Action::AddVip);
        out.push(Action::SendGratuitousArp {
            count: self.cfg.garp.count,
        });
        self.advert_at = Some(now + centis(self.cfg.advert_interval_cs));
        self.garp_at = self.cfg.garp.repeat_after.map(|d| now + d);
        self.master_down_at = None;
        self.master_interval_cs = self.cfg.advert_interval_cs;
        self.counters.master_ip = Some(self.cfg.primary_ip);
        self.counters.became_master += 1;
        self.counters.last_master_at_ms = Some(millis(now));
        self.transition(now, State::Master, cause);
    }

    fn become_backup(&mut self, now: Duration, cause: Cause) {
        self.master_interval_cs = self.cfg.advert_interval_cs;
        self.master_down_at = Some(now + self.master_down_interval());
        self.advert_at = None;
        self.garp_at = None;
        self.counters.last_backup_at_ms = Some(millis(now));
        self.transition(now, State::Backup, cause);
    }

    fn transition(&mut self, now: Duration, to: State, cause: Cause) {
        let from = self.state;
        self.state = to;
        self.counters.state = to;
        self.counters.transitions += 1;
        self.counters.last_transition = Some(Transition {
            from,
            to,
            cause,
            at_ms: millis(now),
        });
    }

    fn send(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.counters.adverts_sent += 1;
        if priority == 0 {
            self.counters.priority_zero_sent += 1;
        }
        out.push(Action::SendAdvert(Advert {
            vrid: self.cfg.vrid,
            priority,
            max_advert_interval_cs: self.cfg.advert_interval_cs,
            addresses: self.cfg.vips.clone(),
        }));
    }
}

#[cfg(test)]
#[path = "tests/machine.rs"]
mod tests;
