//! Placement against volumes: a single-writer volume stays on its node until that node
//! detaches it or is fenced; a local volume pins its service to its node.
mod support;

use orc_model::{ClusterState, Command, NodeStatus, TaskState};
use orc_scheduler::{schedule, volume_claims};
use orc_spec::{Mount, VolumeDriver, VolumeSpec};
use support::*;

const NOW: u64 = 50_000;

fn volume(driver: VolumeDriver) -> VolumeSpec {
    VolumeSpec {
        driver,
        size_bytes: 1 << 30,
    }
}

fn rbd() -> VolumeSpec {
    volume(VolumeDriver::Rbd {
        pool: "rbd".into(),
        fs_type: "ext4".into(),
    })
}

/// Three nodes, stack `st` with volume `db` of `spec`, service `app` using it.
fn cluster(spec: VolumeSpec) -> (ClusterState, Ids) {
    let mut s = ClusterState::default();
    add_nodes(&mut s, (1..=3).map(node));
    s.apply(&Command::EnsureVolumes {
        stack: "st".into(),
        volumes: vec![("db".into(), spec.clone())],
        at: NOW,
    });
    let mut svc = replicated(1);
    svc.mounts.push(Mount::Volume {
        name: "st_db".into(),
        target: "/db".into(),
        read_only: false,
        volume: spec,
    });
    add_service(&mut s, "app", svc);
    let mut ids = Ids::default();
    run(&mut s, &mut ids);
    (s, ids)
}

/// Runs the cluster with the leader's volume claims applied after each pass; returns
/// the fence requests of the last pass.
fn run(s: &mut ClusterState, ids: &mut Ids) -> Vec<orc_scheduler::FenceRequest> {
    let mut fence = Vec::new();
    for _ in 0..5 {
        run_cluster(s, NOW, ids);
        let plan = volume_claims(s, &[], NOW);
        apply_all(s, &plan.commands);
        fence = plan.fence;
    }
    fence
}

fn node_down(s: &mut ClusterState, id: u64) {
    s.apply(&Command::SetNodeStatus {
        id,
        status: NodeStatus::Down,
        message: String::new(),
        at: NOW,
    });
}

fn app_node(s: &ClusterState) -> Option<u64> {
    running_desired(s, "app").first().and_then(|t| t.node_id)
}

#[test]
fn a_single_writer_volume_moves_only_after_its_down_node_is_fenced() {
    let (mut s, mut ids) = cluster(rbd());
    let first = app_node(&s).expect("placed");
    let v = &s.storage.volumes["st_db"];
    assert_eq!(v.attachment.as_ref().map(|a| a.node), Some(first));

    node_down(&mut s, first);
    let fence = run(&mut s, &mut ids);
    // Not placed elsewhere while the dead node may still write.
    let pending = tasks_of(&s, "app")
        .into_iter()
        .find(|t| t.status.state == TaskState::Pending)
        .expect("a pending replacement");
    assert!(
        pending.status.message.contains("cannot attach its volume"),
        "{}",
        pending.status.message
    );
    assert_eq!(fence.len(), 1);
    assert_eq!(fence[0].node, first);

    s.apply(&Command::FenceNode {
        volume: "st_db".into(),
        node: first,
        at: NOW,
    });
    assert!(s.storage.volumes["st_db"].fenced.contains(&first));
    let fence = run(&mut s, &mut ids);
    assert!(fence.is_empty());
    let second = app_node(&s).expect("placed after fencing");
    assert_ne!(second, first);
    let a = s.storage.volumes["st_db"]
        .attachment
        .clone()
        .expect("claimed");
    assert_eq!(a.node, second);
}

#[test]
fn a_volume_released_by_a_live_node_can_go_anywhere() {
    let (mut s, mut ids) = cluster(rbd());
    let first = app_node(&s).expect("placed");
    // The task ends on a live node (its agent detached first).
    let id = running_desired(&s, "app")[0].id.clone();
    end_task(&mut s, &id, TaskState::Failed, Some(1), NOW);
    let plan = volume_claims(&s, &[], NOW);
    assert!(plan.fence.is_empty());
    apply_all(&mut s, &plan.commands);
    assert_eq!(s.storage.volumes["st_db"].attachment, None, "released");
    let _ = first;
    run(&mut s, &mut ids);
    assert!(app_node(&s).is_some());
}

#[test]
fn a_local_volume_pins_its_service_and_waits_for_its_node() {
    let (mut s, mut ids) = cluster(volume(VolumeDriver::Local));
    let home = app_node(&s).expect("placed");
    assert_eq!(s.storage.volumes["st_db"].home_node, Some(home));
    node_down(&mut s, home);
    let fence = run(&mut s, &mut ids);
    assert!(fence.is_empty(), "a local volume has nothing to fence");
    let pending = tasks_of(&s, "app")
        .into_iter()
        .find(|t| t.status.state == TaskState::Pending)
        .expect("pending while its node is down");
    assert!(
        pending.status.message.contains("1 node not ready")
            && pending
                .status
                .message
                .contains("2 nodes cannot attach its volume"),
        "{}",
        pending.status.message
    );
    s.apply(&Command::SetNodeStatus {
        id: home,
        status: NodeStatus::Ready,
        message: String::new(),
        at: NOW,
    });
    run(&mut s, &mut ids);
    assert_eq!(app_node(&s), Some(home), "back on its own node");
}

#[test]
fn a_second_node_cannot_claim_an_attached_volume() {
    let (mut s, _) = cluster(rbd());
    let first = app_node(&s).expect("placed");
    let other = if first == 1 { 2 } else { 1 };
    let r = s.apply(&Command::SetVolumeAttachment {
        name: "st_db".into(),
        attachment: Some(orc_model::Attachment {
            node: other,
            since: NOW,
            client: String::new(),
            address: String::new(),
        }),
    });
    assert!(r.error().is_some(), "{r:?}");
    assert_eq!(
        s.storage.volumes["st_db"]
            .attachment
            .as_ref()
            .map(|a| a.node),
        Some(first)
    );
    let _ = schedule(&s, NOW);
}

#[test]
fn a_returned_fenced_node_is_unfenced_only_after_releasing_and_only_then_used() {
    let (mut s, mut ids) = cluster(rbd());
    let first = app_node(&s).expect("placed");
    node_down(&mut s, first);
    run(&mut s, &mut ids);
    s.apply(&Command::FenceNode {
        volume: "st_db".into(),
        node: first,
        at: NOW,
    });
    run(&mut s, &mut ids);
    let second = app_node(&s).expect("placed after fencing");
    s.apply(&Command::SetNodeStatus {
        id: first,
        status: NodeStatus::Ready,
        message: String::new(),
        at: NOW,
    });
    // Back, but not released yet: still fenced.
    assert!(orc_scheduler::unfence_requests(&s).is_empty());
    // The task ends on the live second node (which detaches: the claim goes), then
    // every other node goes down: only the fenced node is left, and it gets nothing.
    let id = running_desired(&s, "app")[0].id.clone();
    end_task(&mut s, &id, TaskState::Failed, Some(1), NOW);
    let plan = volume_claims(&s, &[], NOW);
    apply_all(&mut s, &plan.commands);
    assert_eq!(s.storage.volumes["st_db"].attachment, None);
    for n in [1, 2, 3].into_iter().filter(|n| *n != first) {
        node_down(&mut s, n);
    }
    assert!(
        run(&mut s, &mut ids).is_empty(),
        "nothing attached to fence"
    );
    assert_eq!(app_node(&s), None, "a fenced node attaches no Ceph volume");
    let pending = tasks_of(&s, "app")
        .into_iter()
        .find(|t| t.status.state == TaskState::Pending)
        .expect("pending");
    assert!(
        pending.status.message.contains("fenced off Ceph"),
        "{}",
        pending.status.message
    );
    // A report for another node changes nothing.
    s.apply(&Command::VolumeReleased {
        volume: "st_db".into(),
        node: second,
    });
    assert!(s.storage.volumes["st_db"].released.is_empty());
    s.apply(&Command::VolumeReleased {
        volume: "st_db".into(),
        node: first,
    });
    let req = orc_scheduler::unfence_requests(&s);
    assert_eq!(req.len(), 1);
    assert_eq!(req[0].node, first);
    s.apply(&Command::Unfence { node: first });
    assert!(s.storage.volumes["st_db"].fenced.is_empty());
    assert!(orc_scheduler::unfence_requests(&s).is_empty());
    run(&mut s, &mut ids);
    assert_eq!(app_node(&s), Some(first), "unfenced: it attaches again");
}

#[test]
fn deleting_the_only_volume_a_node_is_fenced_off_lifts_its_blocklist_entry() {
    let (mut s, _ids) = cluster(rbd());
    s.apply(&Command::EnsureVolumes {
        stack: "st".into(),
        volumes: vec![("logs".into(), rbd())],
        at: NOW,
    });
    for (volume, node) in [("st_db", 1), ("st_db", 2), ("st_logs", 2)] {
        s.apply(&Command::FenceNode {
            volume: volume.into(),
            node,
            at: NOW,
        });
    }
    let fenced = s.storage.volumes["st_db"].fenced.clone();
    s.apply(&Command::RemoveVolume {
        name: "st_db".into(),
    });
    // Node 1 was fenced off st_db alone: lifted, even while it is down. Node 2 is
    // still fenced off st_logs: kept.
    node_down(&mut s, 1);
    let lift = orc_scheduler::lift_after_removal(&s, &fenced);
    assert_eq!(lift.len(), 1, "{lift:?}");
    assert_eq!(lift[0].node, 1);
    assert_eq!(lift[0].address, s.nodes[&1].address);
    s.apply(&Command::RemoveVolume {
        name: "st_logs".into(),
    });
    let lift = orc_scheduler::lift_after_removal(&s, &[2].into());
    assert_eq!(lift.iter().map(|r| r.node).collect::<Vec<_>>(), [2]);
}
