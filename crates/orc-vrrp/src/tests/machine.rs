use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;

const A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 11);
const B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 12);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

fn machine(priority: u8, ip: Ipv4Addr) -> Machine {
    Machine::new(MachineConfig::new(51, priority, ip, vec![VIP]), true).unwrap()
}

fn advert(priority: u8, cs: u16) -> Advert {
    Advert {
        vrid: 51,
        priority,
        max_advert_interval_cs: cs,
        addresses: vec![VIP],
    }
}

fn rx(src: Ipv4Addr, priority: u8) -> Event {
    Event::AdvertReceived {
        src,
        advert: advert(priority, 100),
    }
}

fn sent(priority: u8) -> Action {
    Action::SendAdvert(advert(priority, 100))
}

/// A master at t = 0 (priority 255 starts as master at once).
fn master(priority: u8, ip: Ipv4Addr) -> Machine {
    let mut m = machine(priority, ip);
    m.handle(ms(0), Event::Startup);
    let down = m.master_down_interval();
    m.handle(down, Event::TimerFired);
    assert_eq!(m.state(), State::Master);
    m
}

#[test]
fn intervals_follow_rfc_5798() {
    let m = machine(100, A);
    // (256 - 100) * 1 s / 256 = 609.375 ms
    assert_eq!(m.skew_time(), us(609_375));
    assert_eq!(m.master_down_interval(), us(3_609_375));
    assert_eq!(machine(255, A).skew_time(), Duration::from_nanos(3_906_250));
}

#[test]
fn startup_waits_a_master_down_interval_then_takes_over() {
    let mut m = machine(100, A);
    let acts = m.handle(ms(0), Event::Startup);
    assert_eq!(
        acts,
        vec![Action::RemoveVip, Action::SetTimer(us(3_609_375))]
    );
    assert_eq!(m.state(), State::Backup);

    // An early wake-up changes nothing.
    assert_eq!(
        m.handle(ms(3000), Event::TimerFired),
        vec![Action::SetTimer(us(3_609_375))]
    );
    assert_eq!(m.state(), State::Backup);

    let acts = m.handle(us(3_609_375), Event::TimerFired);
    assert_eq!(
        acts,
        vec![
            sent(100),
            Action::AddVip,
            Action::SendGratuitousArp { count: 5 },
            Action::SetTimer(us(4_609_375)),
        ]
    );
    assert_eq!(m.state(), State::Master);
    assert_eq!(m.counters().master_ip, Some(A));
    assert_eq!(m.counters().became_master, 1);
    let t = m.counters().last_transition.unwrap();
    assert_eq!(
        (t.from, t.to, t.cause),
        (State::Backup, State::Master, Cause::MasterDown)
    );
}

#[test]
fn address_owner_starts_as_master() {
    let mut m = machine(255, A);
    let acts = m.handle(ms(0), Event::Startup);
    assert_eq!(acts[0], sent(255));
    assert_eq!(acts[1], Action::AddVip);
    assert_eq!(m.state(), State::Master);
}

#[test]
fn master_advertises_every_interval_and_repeats_garp_once_after_5s() {
    let mut m = machine(255, A);
    m.handle(ms(0), Event::Startup);
    let mut garps = 0;
    let mut adverts = 0;
    let mut now = ms(0);
    for _ in 0..8 {
        let acts = m.handle(now, Event::TimerFired);
        for a in &acts {
            match a {
                Action::SendAdvert(ad) if now > ms(0) => {
                    assert_eq!(ad.priority, 255);
                    adverts += 1;
                }
                Action::SendGratuitousArp { count } => {
                    assert_eq!((*count, now), (5, ms(5000)));
                    garps += 1;
                }
                _ => {}
            }
        }
        let Some(Action::SetTimer(at)) = acts.last().cloned() else {
            panic!("master without a timer: {acts:?}")
        };
        now = at;
    }
    assert_eq!(now, ms(8000));
    assert_eq!((adverts, garps), (7, 1));
}

#[test]
fn a_late_timer_keeps_the_advert_cadence() {
    let mut m = machine(255, A);
    m.handle(ms(0), Event::Startup);
    // Due at 1 s, handled 30 ms late: the next is still due at 2 s.
    let acts = m.handle(ms(1030), Event::TimerFired);
    assert_eq!(acts, vec![sent(255), Action::SetTimer(ms(2000))]);
}

#[test]
fn backup_follows_a_higher_or_equal_master_and_restarts_its_timer() {
    let mut m = machine(100, A);
    m.handle(ms(0), Event::Startup);
    for (t, prio) in [(1000, 200), (2000, 100)] {
        let acts = m.handle(ms(t), rx(B, prio));
        assert_eq!(acts, vec![Action::SetTimer(ms(t) + us(3_609_375))]);
    }
    assert_eq!(m.counters().master_ip, Some(B));
    assert_eq!(m.counters().adverts_received, 2);
}

#[test]
fn preemption_takes_over_from_a_lower_priority_master() {
    let mut m = machine(200, A);
    m.handle(ms(0), Event::Startup);
    let deadline = m.master_down_interval();
    // The lower master's adverts do not restart the timer.
    for t in [1000, 2000, 3000] {
        assert_eq!(
            m.handle(ms(t), rx(B, 100)),
            vec![Action::SetTimer(deadline)]
        );
    }
    m.handle(deadline, Event::TimerFired);
    assert_eq!(m.state(), State::Master);
}

#[test]
fn without_preemption_a_lower_master_is_followed() {
    let mut cfg = MachineConfig::new(51, 200, A, vec![VIP]);
    cfg.preempt = false;
    let mut m = Machine::new(cfg, true).unwrap();
    m.handle(ms(0), Event::Startup);
    for t in (1..20).map(|s| s * 1000) {
        m.handle(ms(t), rx(B, 100));
        m.handle(ms(t) + ms(999), Event::TimerFired);
        assert_eq!(m.state(), State::Backup);
    }
}

#[test]
fn master_yields_to_a_higher_priority() {
    let mut m = master(100, A);
    let acts = m.handle(ms(5000), rx(B, 101));
    assert_eq!(
        acts,
        vec![
            Action::RemoveVip,
            Action::SetTimer(ms(5000) + us(3_609_375))
        ]
    );
    assert_eq!(m.state(), State::Backup);
    assert_eq!(m.counters().master_ip, Some(B));
    let t = m.counters().last_transition.unwrap();
    assert_eq!(t.cause, Cause::HigherPriority);
}

#[test]
fn equal_priority_tie_is_won_by_the_higher_address() {
    // A (.11) is master; B (.12) advertises the same priority: A yields.
    let mut a = master(100, A);
    a.handle(ms(5000), rx(B, 100));
    assert_eq!(a.state(), State::Backup);

    // B is master; A advertises the same priority: B keeps it, and A's
    // advert changes nothing.
    let mut b = master(100, B);
    let acts = b.handle(ms(5000), rx(A, 100));
    assert_eq!(acts.len(), 1);
    assert_eq!(b.state(), State::Master);
    // A lower priority never wins, whatever the address.
    b.handle(ms(5100), rx(Ipv4Addr::new(10, 77, 0, 200), 99));
    assert_eq!(b.state(), State::Master);
}

#[test]
fn master_answers_a_priority_zero_advert_at_once() {
    let mut m = master(100, A);
    let now = ms(4000);
    let acts = m.handle(now, rx(B, 0));
    assert_eq!(acts, vec![sent(100), Action::SetTimer(now + ms(1000))]);
    assert_eq!(m.counters().priority_zero_received, 1);
}

#[test]
fn shutdown_of_a_master_sends_priority_zero_and_releases_the_vip() {
    let mut m = master(100, A);
    let acts = m.handle(ms(9000), Event::Shutdown);
    assert_eq!(acts, vec![sent(0), Action::RemoveVip, Action::CancelTimer]);
    assert_eq!(m.state(), State::Initialize);
    assert_eq!(m.counters().priority_zero_sent, 1);
    // Stopped is stopped.
    assert_eq!(
        m.handle(ms(9999), Event::TimerFired),
        vec![Action::CancelTimer]
    );
    assert_eq!(m.handle(ms(9999), rx(B, 1)), vec![Action::CancelTimer]);
}

#[test]
fn backup_takes_over_a_skew_time_after_priority_zero() {
    let mut m = machine(100, A);
    m.handle(ms(0), Event::Startup);
    m.handle(ms(1000), rx(B, 200));
    let acts = m.handle(ms(1500), rx(B, 0));
    assert_eq!(acts, vec![Action::SetTimer(ms(1500) + us(609_375))]);
    m.handle(ms(1500) + us(609_375), Event::TimerFired);
    assert_eq!(m.state(), State::Master);
}

#[test]
fn backup_adopts_the_masters_interval() {
    let mut m = machine(100, A); // configured for 1 s
    m.handle(ms(0), Event::Startup);
    let fast = Event::AdvertReceived {
        src: B,
        advert: advert(200, 10),
    };
    let acts = m.handle(ms(100), fast);
    // 3 × 100 ms + (256 − 100) × 100 ms / 256 = 360.9375 ms
    let down = Duration::from_nanos(360_937_500);
    assert_eq!(acts, vec![Action::SetTimer(ms(100) + down)]);
    assert_eq!(m.master_down_interval(), down);
    // Once master, it advertises its own configured interval.
    let acts = m.handle(ms(100) + down, Event::TimerFired);
    assert_eq!(acts[0], sent(100));
    assert_eq!(acts.last(), Some(&Action::SetTimer(ms(1100) + down)));
}

#[test]
fn quorum_loss_releases_the_vip_at_once() {
    let mut m = master(100, A);
    let acts = m.handle(ms(6000), Event::QuorumChanged(false));
    assert_eq!(acts, vec![sent(0), Action::RemoveVip, Action::CancelTimer]);
    assert_eq!(m.state(), State::Backup);
    assert!(!m.counters().eligible);
    assert_eq!(
        m.counters().last_transition.unwrap().cause,
        Cause::QuorumLost
    );
}

#[test]
fn an_ineligible_backup_never_becomes_master() {
    let mut m = machine(100, A);
    m.handle(ms(0), Event::Startup);
    m.handle(ms(1), Event::QuorumChanged(false));
    assert_eq!(m.next_deadline(), None);
    for t in (0..100).map(|s| s * 1000) {
        // Neither silence nor a leaving master nor a lower master moves it.
        m.handle(ms(t), Event::TimerFired);
        m.handle(ms(t + 10), rx(B, if t % 2000 == 0 { 0 } else { 50 }));
        m.handle(ms(t + 500), Event::TimerFired);
        assert_eq!(m.state(), State::Backup);
    }
    assert_eq!(m.counters().became_master, 0);
}

#[test]
fn an_ineligible_address_owner_starts_as_backup() {
    let mut m = Machine::new(MachineConfig::new(51, 255, A, vec![VIP]), false).unwrap();
    let acts = m.handle(ms(0), Event::Startup);
    assert_eq!(acts, vec![Action::RemoveVip, Action::CancelTimer]);
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn regained_quorum_after_silence_takes_over_after_the_skew_time() {
    let mut m = machine(100, A);
    m.handle(ms(0), Event::Startup);
    m.handle(ms(1), Event::QuorumChanged(false));
    m.handle(ms(10_000), Event::TimerFired);
    let acts = m.handle(ms(20_000), Event::QuorumChanged(true));
    assert_eq!(acts, vec![Action::SetTimer(ms(20_000) + us(609_375))]);
    m.handle(ms(20_000) + us(609_375), Event::TimerFired);
    assert_eq!(m.state(), State::Master);
}

#[test]
fn regained_quorum_with_a_live_master_stays_backup() {
    let mut m = machine(100, A);
    m.handle(ms(0), Event::Startup);
    m.handle(ms(1), Event::QuorumChanged(false));
    m.handle(ms(500), rx(B, 150));
    let acts = m.handle(ms(600), Event::QuorumChanged(true));
    // The timer from B's advert stands.
    assert_eq!(acts, vec![Action::SetTimer(ms(500) + us(3_609_375))]);
    m.handle(ms(1500), rx(B, 150));
    m.handle(ms(2000), Event::TimerFired);
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn a_higher_priority_node_regaining_quorum_preempts() {
    let mut m = master(200, A);
    m.handle(ms(6000), Event::QuorumChanged(false));
    // B took over meanwhile with a lower priority.
    m.handle(ms(7000), rx(B, 100));
    m.handle(ms(8000), Event::QuorumChanged(true));
    let deadline = m.next_deadline().unwrap();
    m.handle(ms(8500), rx(B, 100)); // ignored: lower priority, preempt on
    assert_eq!(m.next_deadline(), Some(deadline));
    m.handle(deadline, Event::TimerFired);
    assert_eq!(m.state(), State::Master);
}

#[test]
fn other_vrids_are_dropped_and_change_nothing() {
    let mut m = master(100, A);
    let before = m.counters().clone();
    let other = Event::AdvertReceived {
        src: B,
        advert: Advert {
            vrid: 52,
            ..advert(255, 100)
        },
    };
    let acts = m.handle(ms(1500), other);
    assert_eq!(
        acts,
        vec![Action::SetTimer(ms(1000) + m.master_down_interval())]
    );
    assert_eq!(m.state(), State::Master);
    assert_eq!(m.counters().dropped(DropReason::WrongVrid), 1);
    assert_eq!(m.counters().adverts_received, before.adverts_received);
}

#[test]
fn priority_change_is_advertised_at_once_by_a_master() {
    let mut m = master(100, A);
    let acts = m.handle(ms(4200), Event::PriorityChanged(50));
    assert_eq!(acts, vec![sent(50), Action::SetTimer(ms(5200))]);
    assert_eq!(m.counters().priority, 50);
    // Priority 0 is not a configuration.
    assert_eq!(m.handle(ms(4300), Event::PriorityChanged(0)).len(), 1);
}

#[test]
fn invalid_configurations_are_refused() {
    let base = MachineConfig::new(51, 100, A, vec![VIP]);
    let cases = [
        (
            MachineConfig {
                vrid: 0,
                ..base.clone()
            },
            ConfigError::ZeroVrid,
        ),
        (
            MachineConfig {
                priority: 0,
                ..base.clone()
            },
            ConfigError::ZeroPriority,
        ),
        (
            MachineConfig {
                advert_interval_cs: 0,
                ..base.clone()
            },
            ConfigError::Interval(0),
        ),
        (
            MachineConfig {
                advert_interval_cs: 4096,
                ..base.clone()
            },
            ConfigError::Interval(4096),
        ),
        (
            MachineConfig {
                vips: vec![],
                ..base.clone()
            },
            ConfigError::VipCount(0),
        ),
    ];
    for (cfg, err) in cases {
        assert_eq!(Machine::new(cfg, true).err(), Some(err));
    }
    assert_eq!(MachineConfig::interval_cs(ms(100)), 10);
}

#[test]
fn counters_serialize_for_vip_status() {
    let mut m = master(100, A);
    m.record_drop(DropReason::BadChecksum);
    let json = serde_json::to_value(m.counters()).unwrap();
    assert_eq!(json["state"], "master");
    assert_eq!(json["dropped"]["bad_checksum"], 1);
    assert_eq!(json["master_ip"], "10.77.0.11");
    assert_eq!(json["last_transition"]["cause"], "master_down");
    let back: Counters = serde_json::from_value(json).unwrap();
    assert_eq!(&back, m.counters());
}

mod simulation {
    use super::*;

    /// Machines on one lossless LAN, stepped every 10 ms; adverts reach every
    /// other machine in the next step, so simultaneous masters see each other.
    struct Lan {
        nodes: Vec<(Machine, Option<Duration>)>,
        in_flight: Vec<(usize, Event)>,
        now: Duration,
    }

    impl Lan {
        fn new(specs: &[(u8, Ipv4Addr)]) -> Self {
            let mut lan = Lan {
                nodes: specs
                    .iter()
                    .map(|&(p, ip)| (machine(p, ip), None))
                    .collect(),
                in_flight: Vec::new(),
                now: ms(0),
            };
            for i in 0..lan.nodes.len() {
                lan.deliver(i, Event::Startup);
            }
            lan
        }

        fn deliver(&mut self, i: usize, event: Event) {
            let now = self.now;
            let src = self.nodes[i].0.config().primary_ip;
            let acts = self.nodes[i].0.handle(now, event);
            for a in acts {
                match a {
                    Action::SetTimer(at) => self.nodes[i].1 = Some(at),
                    Action::CancelTimer => self.nodes[i].1 = None,
                    Action::SendAdvert(advert) => {
                        for j in (0..self.nodes.len()).filter(|&j| j != i) {
                            let ev = Event::AdvertReceived {
                                src,
                                advert: advert.clone(),
                            };
                            self.in_flight.push((j, ev));
                        }
                    }
                    _ => {}
                }
            }
        }

        fn run_for(&mut self, d: Duration) {
            let end = self.now + d;
            while self.now < end {
                self.now += ms(10);
                for (j, ev) in std::mem::take(&mut self.in_flight) {
                    self.deliver(j, ev);
                }
                for i in 0..self.nodes.len() {
                    if self.nodes[i].1.is_some_and(|at| at <= self.now) {
                        self.deliver(i, Event::TimerFired);
                    }
                }
            }
        }

        fn masters(&self) -> Vec<Ipv4Addr> {
            let m = self.nodes.iter().filter(|n| n.0.state() == State::Master);
            m.map(|n| n.0.config().primary_ip).collect()
        }
    }

    #[test]
    fn equal_priorities_started_together_converge_on_the_highest_address() {
        let c = Ipv4Addr::new(10, 77, 0, 13);
        let mut lan = Lan::new(&[(100, A), (100, c), (100, B)]);
        lan.run_for(ms(10_000));
        assert_eq!(lan.masters(), vec![c]);
    }

    #[test]
    fn highest_priority_wins_and_shutdown_hands_over_within_skew() {
        let mut lan = Lan::new(&[(100, A), (150, B)]);
        lan.run_for(ms(10_000));
        assert_eq!(lan.masters(), vec![B]);
        lan.deliver(1, Event::Shutdown);
        lan.run_for(ms(620));
        assert_eq!(lan.masters(), vec![A]);
    }

    #[test]
    fn quorum_loss_hands_the_vip_over_and_preempts_back_on_return() {
        let mut lan = Lan::new(&[(100, A), (150, B)]);
        lan.run_for(ms(5_000));
        lan.deliver(1, Event::QuorumChanged(false));
        lan.run_for(ms(620));
        assert_eq!(lan.masters(), vec![A]);
        lan.run_for(ms(20_000));
        assert_eq!(lan.masters(), vec![A]);
        lan.deliver(1, Event::QuorumChanged(true));
        lan.run_for(ms(5_000));
        assert_eq!(lan.masters(), vec![B]);
    }
}
