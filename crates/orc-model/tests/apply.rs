//! The state machine's pure apply: determinism, forward-only task states, deploys.

use orc_model::*;
use orc_spec::{ServiceMode, ServiceSpec};

fn spec(replicas: u32) -> ServiceSpec {
    ServiceSpec {
        command: Some(vec!["sleep".into(), "1".into()]),
        mode: ServiceMode::Replicated { replicas },
        ..ServiceSpec::new("demo/busybox:1")
    }
}

fn deploy(stack: &str, services: &[(&str, u32)]) -> Command {
    Command::DeployStack {
        stack: stack.into(),
        services: services
            .iter()
            .map(|(n, r)| NewService {
                id: format!("{stack}-{n}"),
                short_name: n.to_string(),
                spec: spec(*r),
            })
            .collect(),
        at: 1,
    }
}

fn task(id: &str, state: TaskState) -> Task {
    Task {
        id: id.into(),
        service_id: "s".into(),
        service_name: "st_web".into(),
        slot: 1,
        node_id: None,
        spec_version: 1,
        spec: spec(1),
        desired_state: TaskState::Running,
        status: TaskStatus::new(state, 0, ""),
        created_at: 0,
        not_before: 0,
        attempt: 0,
    }
}

#[test]
fn deploy_is_declarative_and_idempotent() {
    let mut st = ClusterState::default();
    let r = st.apply(&deploy("st", &[("web", 2), ("db", 1)]));
    let CommandResult::Deployed(o) = r else {
        panic!("{r:?}")
    };
    assert_eq!(o.created.len(), 2);
    let rev = st.revision;
    // The same file again changes nothing, not even the revision.
    let CommandResult::Deployed(o) = st.apply(&deploy("st", &[("web", 2), ("db", 1)])) else {
        panic!()
    };
    assert_eq!(o.unchanged.len(), 2);
    assert_eq!(st.revision, rev);
    // A changed service is updated (version + 1), a dropped one removed.
    let CommandResult::Deployed(o) = st.apply(&deploy("st", &[("web", 3)])) else {
        panic!()
    };
    assert_eq!(o.updated, vec!["st_web".to_string()]);
    assert_eq!(o.removed, vec!["st_db".to_string()]);
    assert_eq!(st.service_by_name("st_web").map(|s| s.version), Some(2));
    assert!(st.service_by_name("st_db").is_none());
}

#[test]
fn a_name_of_another_stack_refuses_the_whole_deploy() {
    let mut st = ClusterState::default();
    st.apply(&deploy("a", &[("b_c", 1)]));
    let before = st.clone();
    // "a_b" + "_c" and "a" + "_b_c" would both be "a_b_c".
    let r = st.apply(&deploy("a_b", &[("c", 1), ("x", 1)]));
    assert!(
        matches!(r, CommandResult::Err(ApplyError::NameTaken { .. })),
        "{r:?}"
    );
    assert_eq!(st, before);
}

#[test]
fn task_status_only_moves_forward() {
    let mut st = ClusterState::default();
    st.apply(&Command::CreateTasks(vec![task("t1", TaskState::Pending)]));
    let up = |s: TaskState| Command::UpdateTaskStatus {
        updates: vec![("t1".into(), TaskStatus::new(s, 5, "x"))],
    };
    st.apply(&up(TaskState::Running));
    assert_eq!(st.tasks["t1"].status.state, TaskState::Running);
    // Backwards is ignored.
    st.apply(&up(TaskState::Starting));
    assert_eq!(st.tasks["t1"].status.state, TaskState::Running);
    st.apply(&up(TaskState::Failed));
    assert_eq!(st.tasks["t1"].status.state, TaskState::Failed);
    // Terminal is final, even for a "later" terminal state.
    st.apply(&up(TaskState::Orphaned));
    assert_eq!(st.tasks["t1"].status.state, TaskState::Failed);
}

#[test]
fn desired_state_only_rises_and_assignment_happens_once() {
    let mut st = ClusterState::default();
    st.apply(&Command::CreateTasks(vec![task("t1", TaskState::Pending)]));
    st.apply(&Command::AssignTasks {
        assignments: vec![("t1".into(), 7)],
        at: 1,
    });
    st.apply(&Command::AssignTasks {
        assignments: vec![("t1".into(), 8)],
        at: 2,
    });
    assert_eq!(st.tasks["t1"].node_id, Some(7));
    assert_eq!(st.tasks["t1"].status.state, TaskState::Assigned);
    st.apply(&Command::SetDesiredState {
        updates: vec![("t1".into(), TaskState::Shutdown)],
    });
    st.apply(&Command::SetDesiredState {
        updates: vec![("t1".into(), TaskState::Running)],
    });
    assert_eq!(st.tasks["t1"].desired_state, TaskState::Shutdown);
}

#[test]
fn scale_and_errors_are_replicated_results() {
    let mut st = ClusterState::default();
    assert!(matches!(
        st.apply(&Command::ScaleService {
            name: "nope".into(),
            replicas: 2,
            at: 1
        }),
        CommandResult::Err(ApplyError::NoSuchService(_))
    ));
    st.apply(&deploy("st", &[("web", 1)]));
    st.apply(&Command::ScaleService {
        name: "st_web".into(),
        replicas: 4,
        at: 2,
    });
    assert_eq!(
        st.service_by_name("st_web").map(|s| s.spec.mode),
        Some(ServiceMode::Replicated { replicas: 4 })
    );
    let r = st.apply(&Command::Batch(vec![
        Command::Noop,
        Command::RemoveNode { id: 3 },
    ]));
    assert!(matches!(r.error(), Some(ApplyError::NoSuchNode(3))));
}

#[test]
fn removed_nodes_are_revoked_and_state_round_trips() {
    let mut st = ClusterState::default();
    st.apply(&Command::InitCluster {
        id: "c".into(),
        at: 1,
    });
    st.apply(&Command::PutNode(Node {
        id: 9,
        hostname: "rock1".into(),
        role: NodeRole::Worker,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        status_message: String::new(),
        address: "10.0.0.9:4747".into(),
        resources: Default::default(),
        labels: Default::default(),
        platform: Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: "v8".into(),
        },
        created_at: 1,
        updated_at: 1,
    }));
    st.apply(&deploy("st", &[("web", 2)]));
    st.apply(&Command::RemoveNode { id: 9 });
    assert!(st.revoked_nodes.contains(&9));
    let bytes = encode_state(&st).expect("encode");
    assert_eq!(decode_state(&bytes).expect("decode"), st);
    let mut other = bytes.clone();
    other[0] = FORMAT_VERSION + 1;
    assert!(matches!(
        decode_state(&other),
        Err(CodecError::Version { .. })
    ));
    assert!(decode_state(&bytes[..bytes.len() / 2]).is_err());
}

#[test]
fn volumes_are_created_once_and_a_driver_change_is_refused() {
    use orc_spec::{VolumeDriver, VolumeSpec};
    let mut s = ClusterState::default();
    let rbd = VolumeSpec {
        driver: VolumeDriver::Rbd {
            pool: "rbd".into(),
            fs_type: "ext4".into(),
        },
        size_bytes: 1 << 30,
    };
    let cmd = |spec: &VolumeSpec| Command::EnsureVolumes {
        stack: "st".into(),
        volumes: vec![("db".into(), spec.clone())],
        at: 7,
    };
    assert_eq!(s.apply(&cmd(&rbd)), CommandResult::Ok);
    assert_eq!(s.storage.volumes["st_db"].created_at, 7);
    let rev = s.revision;
    assert_eq!(s.apply(&cmd(&rbd)), CommandResult::Ok);
    assert_eq!(s.revision, rev, "a redeploy changes nothing");
    let local = VolumeSpec {
        driver: VolumeDriver::Local,
        size_bytes: 0,
    };
    assert!(s.apply(&cmd(&local)).error().is_some());
    assert_eq!(s.storage.volumes["st_db"].spec, rbd, "unchanged");
    s.apply(&Command::RemoveVolume {
        name: "st_db".into(),
    });
    assert!(s.storage.volumes.is_empty());
}

#[test]
fn the_ceph_keyring_never_shows_in_debug_output() {
    let c = orc_model::CephSetting {
        conf: "[global]\nmon host = 1.2.3.4\n".into(),
        user: "orc".into(),
        keyring: "[client.orc]\nkey = AQSECRETSECRET==\n".into(),
    };
    let shown = format!("{:?}", Command::SetCeph(Some(c)));
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("orc"));
}

fn put(id: &str, name: &str, replicas: u32, expect: Option<u64>) -> Command {
    Command::PutService {
        service: Box::new(NewService {
            id: id.into(),
            short_name: "web".into(),
            spec: spec(replicas),
        }),
        stack: "st".into(),
        name: name.into(),
        expect_version: expect,
        at: 2,
    }
}

#[test]
fn put_service_creates_updates_at_the_expected_version_and_removes() {
    let mut st = ClusterState::default();
    assert_eq!(st.apply(&put("a", "st_web", 1, None)), CommandResult::Ok);
    assert_eq!(st.services["a"].version, 1);
    // Another id under the same name: refused.
    assert!(matches!(
        st.apply(&put("b", "st_web", 1, None)).error(),
        Some(ApplyError::NameTaken { .. })
    ));
    // An update at a stale version: refused, nothing changes.
    let rev = st.revision;
    assert!(matches!(
        st.apply(&put("a", "st_web", 3, Some(7))).error(),
        Some(ApplyError::OutOfSequence {
            current: 1,
            expected: 7,
            ..
        })
    ));
    assert_eq!(st.revision, rev);
    assert_eq!(st.apply(&put("a", "st_web", 3, Some(1))), CommandResult::Ok);
    assert_eq!(st.services["a"].version, 2);
    assert_eq!(
        st.services["a"].spec.mode,
        ServiceMode::Replicated { replicas: 3 }
    );
    // Updating an id that does not exist with a version: refused.
    assert!(st.apply(&put("zz", "st_zz", 1, Some(1))).error().is_some());
    assert_eq!(
        st.apply(&Command::RemoveService { id: "a".into() }),
        CommandResult::Ok
    );
    assert!(st.services.is_empty());
    assert!(st
        .apply(&Command::RemoveService { id: "a".into() })
        .error()
        .is_some());
}

#[test]
fn declared_networks_live_until_removed_and_never_under_a_service() {
    let mut s = ClusterState::default();
    let declare = |labels: &[(&str, &str)]| Command::DeclareNetwork {
        stack: "st".into(),
        short_name: "back".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        at: 5,
    };
    assert_eq!(s.apply(&declare(&[])), CommandResult::Ok);
    let r = s.revision;
    // Declared again with the same labels: nothing changes.
    s.apply(&declare(&[]));
    assert_eq!(s.revision, r);
    s.apply(&declare(&[("tier", "db")]));
    assert!(s.revision > r);
    let nets = s.stack_networks();
    assert_eq!(nets["st_back"].labels["tier"], "db");
    assert!(nets["st_back"].users.is_empty());

    // A service on it: it can't go.
    let mut svc = spec(1);
    svc.networks = vec!["back".into()];
    s.apply(&Command::DeployStack {
        stack: "st".into(),
        services: vec![NewService {
            id: "st-db".into(),
            short_name: "db".into(),
            spec: svc,
        }],
        at: 6,
    });
    assert_eq!(
        s.stack_networks()["st_back"].users,
        vec!["st_db".to_string()]
    );
    assert_eq!(s.stack_networks()["st_back"].created_at, 5);
    let rm = Command::RemoveNetwork {
        name: "st_back".into(),
    };
    let err = s.apply(&rm);
    assert!(
        matches!(err.error(), Some(ApplyError::NetworkInUse { users, .. }) if users == &["st_db"]),
        "{err:?}"
    );
    assert!(s.declared_networks.contains_key("st_back"));

    // Removing the stack removes its declared networks too.
    s.apply(&Command::RemoveStack { stack: "st".into() });
    assert!(s.stack_networks().is_empty());

    s.apply(&declare(&[]));
    assert_eq!(s.apply(&rm), CommandResult::Ok);
    assert!(s.declared_networks.is_empty());
}

#[test]
fn the_vip_holder_is_kept_only_with_a_vip_and_cleared_by_a_new_setting() {
    let mut s = ClusterState::default();
    let hold = |node| Command::SetVipHolder { node, at: 7 };
    s.apply(&hold(1));
    assert_eq!(s.vip_holder, None, "no VIP, no holder");
    let vip = VipSetting {
        address: "192.168.1.100/24".into(),
        interface: "eth0".into(),
        vrid: 51,
        advert_interval_ms: 1000,
    };
    s.apply(&Command::SetVip(Some(vip.clone())));
    s.apply(&hold(1));
    assert_eq!(
        s.vip_holder.as_ref().map(|h| (h.node, h.since)),
        Some((1, 7))
    );
    let r = s.revision;
    s.apply(&Command::SetVipHolder { node: 1, at: 9 });
    assert_eq!(s.revision, r, "the same holder again changes nothing");
    s.apply(&hold(2));
    assert_eq!(s.vip_holder.as_ref().map(|h| h.node), Some(2));
    s.apply(&Command::SetVip(Some(VipSetting { vrid: 52, ..vip })));
    assert_eq!(s.vip_holder, None);
}

fn health(state: HealthState, streak: u32, at: u64) -> TaskHealth {
    TaskHealth {
        state,
        since: at,
        failing_streak: streak,
        log: vec![ProbeResult {
            started: at,
            ended: at + 1,
            exit_code: if state == HealthState::Healthy { 0 } else { 1 },
            output: "probe".into(),
        }],
    }
}

#[test]
fn health_changes_apply_at_the_same_state_and_states_still_only_move_forward() {
    let mut st = ClusterState::default();
    st.apply(&Command::CreateTasks(vec![task("t1", TaskState::Pending)]));
    let mut running = TaskStatus::new(TaskState::Running, 5, "started");
    running.address = Some(std::net::Ipv4Addr::new(10, 201, 1, 2));
    let with = |h: Option<TaskHealth>| {
        let mut s = running.clone();
        s.health = h;
        Command::UpdateTaskStatus {
            updates: vec![("t1".into(), s)],
        }
    };
    st.apply(&with(Some(health(HealthState::Starting, 0, 5))));
    assert!(!st.tasks["t1"].serves(), "a starting task does not serve");
    let rev = st.revision;
    // Healthy at the same state (running): taken, and the task now serves.
    st.apply(&with(Some(health(HealthState::Healthy, 0, 6))));
    assert!(st.revision > rev, "a health change is a change");
    assert_eq!(
        st.tasks["t1"].status.health.as_ref().map(|h| h.state),
        Some(HealthState::Healthy)
    );
    assert!(st.tasks["t1"].serves());
    assert_eq!(st.tasks["t1"].status.address, running.address);
    // The same report again changes nothing.
    let rev = st.revision;
    st.apply(&with(Some(health(HealthState::Healthy, 0, 6))));
    assert_eq!(st.revision, rev);
    // Unhealthy: stays running but no longer serves.
    st.apply(&with(Some(health(HealthState::Unhealthy, 3, 7))));
    assert_eq!(st.tasks["t1"].status.state, TaskState::Running);
    assert_eq!(
        st.tasks["t1"]
            .status
            .health
            .as_ref()
            .map(|h| h.failing_streak),
        Some(3)
    );
    assert!(!st.tasks["t1"].serves());
    // A health report at an earlier state is still ignored.
    let mut back = TaskStatus::new(TaskState::Starting, 8, "starting");
    back.health = Some(health(HealthState::Healthy, 0, 8));
    st.apply(&Command::UpdateTaskStatus {
        updates: vec![("t1".into(), back)],
    });
    assert_eq!(st.tasks["t1"].status.state, TaskState::Running);
    assert!(!st.tasks["t1"].serves());
    // Failed (the agent stopped it as unhealthy) is final.
    let mut failed = TaskStatus::new(TaskState::Failed, 9, "unhealthy: exit 1: probe");
    failed.health = Some(health(HealthState::Unhealthy, 3, 7));
    st.apply(&Command::UpdateTaskStatus {
        updates: vec![("t1".into(), failed)],
    });
    st.apply(&with(Some(health(HealthState::Healthy, 0, 10))));
    assert_eq!(st.tasks["t1"].status.state, TaskState::Failed);
}

#[test]
fn only_tasks_that_serve_are_in_the_directory() {
    let mut st = ClusterState::default();
    let mut s = spec(3);
    s.network_mode = orc_spec::NetworkMode::Stack;
    st.apply(&Command::DeployStack {
        stack: "st".into(),
        services: vec![NewService {
            id: "st-web".into(),
            short_name: "web".into(),
            spec: s,
        }],
        at: 1,
    });
    let mk = |id: &str, ip: u8, h: Option<HealthState>| {
        let mut t = task(id, TaskState::Pending);
        t.service_id = "st-web".into();
        let mut status = TaskStatus::new(TaskState::Running, 2, "started");
        status.address = Some(std::net::Ipv4Addr::new(10, 201, 1, ip));
        status.health = h.map(|h| health(h, 0, 2));
        t.status = status;
        t
    };
    st.apply(&Command::CreateTasks(vec![
        mk("a", 2, None),
        mk("b", 3, Some(HealthState::Healthy)),
        mk("c", 4, Some(HealthState::Starting)),
        mk("d", 5, Some(HealthState::Unhealthy)),
    ]));
    let d = Directory::of(&st);
    let e = &d.entries[0];
    let ip = |n| std::net::Ipv4Addr::new(10, 201, 1, n);
    assert_eq!(e.running, vec![ip(2), ip(3)]);
    // All four are members (they may still ask the DNS server).
    assert_eq!(e.members.len(), 4);
    assert_eq!(d.resolve(ip(4), "tasks.web"), Some(&[ip(2), ip(3)][..]));
}
