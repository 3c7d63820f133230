//! orc's cluster state as Docker's JSON objects. Empty fields are left out (as Go's
//! `omitempty`) and lists are never `null`; addresses are CIDRs (`10.201.3.7/24`), as
//! the strict Go clients decode them.

use crate::spec::{ports, to_docker};
use crate::time::rfc3339;
use crate::STACK_LABEL;
use orc_model::{
    ClusterState, Node, NodeId, NodeRole, Service, ServiceMode, StackNetwork, Task, TaskState,
};
use orc_spec::{NetworkMode, PublishMode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A node id as Docker shows it (orc's 16 hex digits).
pub fn node_id(id: NodeId) -> String {
    format!("{id:016x}")
}

/// A stable id for a stack network, from its name (25 characters, like swarm ids).
pub fn network_id(name: &str) -> String {
    let h = |seed: u64| {
        name.bytes().fold(seed, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:09x}",
        h(0xcbf2_9ce4_8422_2325),
        h(0x8422_2325_cbf2_9ce4) & 0xf_ffff_ffff
    )
}

/// The cluster's container subnet as a CIDR.
fn subnet(state: &ClusterState) -> Option<String> {
    state.network.as_ref().map(|n| n.subnet.to_string())
}

/// A network's labels as Docker shows them (with the stack label).
pub fn network_labels(n: &StackNetwork) -> BTreeMap<String, String> {
    let mut l = n.labels.clone();
    l.insert(STACK_LABEL.into(), n.stack.clone());
    l
}

pub fn network(state: &ClusterState, n: &StackNetwork) -> Value {
    let config: Vec<Value> = subnet(state)
        .map(|s| json!({ "Subnet": s }))
        .into_iter()
        .collect();
    json!({
        "Name": n.name,
        "Id": network_id(&n.name),
        "Created": rfc3339(n.created_at),
        "Scope": "swarm",
        "Driver": "overlay",
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": {}, "Config": config },
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": network_labels(n),
    })
}

fn docker_arch(a: &str) -> &str {
    match a {
        "arm64" => "aarch64",
        "amd64" => "x86_64",
        "arm" => "armv7l",
        other => other,
    }
}

/// A node; `index` is its change index (`ClusterState::node_index`).
pub fn node(n: &Node, index: u64, leader: Option<NodeId>, engine: &str) -> Value {
    let mut v = json!({
        "ID": node_id(n.id),
        "Version": { "Index": index },
        "CreatedAt": rfc3339(n.created_at),
        "UpdatedAt": rfc3339(n.updated_at),
        "Spec": {
            "Labels": n.labels,
            "Role": n.role.as_str(),
            "Availability": n.availability.as_str(),
        },
        "Description": {
            "Hostname": n.hostname,
            "Platform": { "Architecture": docker_arch(&n.platform.architecture), "OS": n.platform.os },
            "Resources": { "NanoCPUs": n.resources.nano_cpus, "MemoryBytes": n.resources.memory_bytes },
            "Engine": { "EngineVersion": engine, "Plugins": [] },
            "TLSInfo": {},
        },
        "Status": {
            "State": n.status.as_str(),
            "Message": n.status_message,
            "Addr": host_of(&n.address),
        },
    });
    if n.role == NodeRole::Manager {
        v["ManagerStatus"] = json!({
            "Leader": leader == Some(n.id),
            "Reachability": if n.status == orc_model::NodeStatus::Down { "unreachable" } else { "reachable" },
            "Addr": n.address,
        });
    }
    v
}

/// "10.0.0.11:4747" → "10.0.0.11".
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr)
}

/// (running, desired) tasks of a service, as `service ls` counts them.
pub fn task_counts(state: &ClusterState, s: &Service) -> (usize, usize) {
    let mut running = 0;
    let mut wanted = 0;
    for t in state.tasks_of_service(&s.id) {
        if t.desired_state == TaskState::Running {
            wanted += 1;
            if t.serves() {
                running += 1;
            }
        }
    }
    let desired = match s.spec.mode {
        ServiceMode::Replicated { replicas } => replicas as usize,
        ServiceMode::Global => wanted,
    };
    (running, desired)
}

pub fn service(state: &ClusterState, s: &Service, status: bool) -> Value {
    let nid = |name: &str| network_id(name);
    let spec = to_docker(&s.name, &s.stack, &s.spec, &nid);
    let mut endpoint = json!({ "Spec": spec["EndpointSpec"].clone() });
    if !s.spec.ports.is_empty() {
        endpoint["Ports"] = json!(ports(&s.spec.ports));
    }
    let mut v = json!({
        "ID": s.id,
        "Version": { "Index": state.service_index(&s.id) },
        "CreatedAt": rfc3339(s.created_at),
        "UpdatedAt": rfc3339(s.updated_at),
        "Spec": spec,
        "Endpoint": endpoint,
    });
    if let Some(u) = &s.rollout.update {
        let mut st = json!({
            "State": u.state.as_str(),
            "StartedAt": rfc3339(u.started_at),
            "Message": u.message,
        });
        if let Some(end) = u.ended_at {
            st["CompletedAt"] = json!(rfc3339(end));
        }
        v["UpdateStatus"] = st;
    }
    if status {
        let (running, desired) = task_counts(state, s);
        v["ServiceStatus"] =
            json!({ "RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0 });
    }
    v
}

/// Docker's name for an orc task state (the same words).
pub fn task_state(s: TaskState) -> &'static str {
    s.as_str()
}

pub fn task(state: &ClusterState, t: &Task) -> Value {
    let svc = state.services.get(&t.service_id);
    let stack = svc.map(|s| s.stack.as_str()).unwrap_or_else(|| {
        t.service_name
            .split_once('_')
            .map(|(a, _)| a)
            .unwrap_or(&t.service_name)
    });
    let nid = |name: &str| network_id(name);
    let mut spec = to_docker(&t.service_name, stack, &t.spec, &nid);
    let task_spec = spec
        .as_object_mut()
        .and_then(|o| o.remove("TaskTemplate"))
        .unwrap_or_default();
    // As in Swarm, a task whose health check has not passed yet is still starting
    // (Traefik and other readers route only to running tasks).
    let health_starting = t
        .status
        .health
        .as_ref()
        .is_some_and(|h| h.state == orc_model::HealthState::Starting);
    let shown = if t.status.state == TaskState::Running && health_starting {
        TaskState::Starting
    } else {
        t.status.state
    };
    let mut status = json!({
        "Timestamp": rfc3339(t.status.timestamp),
        "State": task_state(shown),
        "Message": t.status.message,
        "ContainerStatus": { "ContainerID": t.id },
        "PortStatus": {},
    });
    if let Some(e) = &t.status.err {
        status["Err"] = json!(e);
    }
    if let Some(c) = t.status.exit_code {
        status["ContainerStatus"]["ExitCode"] = json!(c);
    }
    let host_ports: Vec<_> = t
        .spec
        .ports
        .iter()
        .filter(|p| p.mode == PublishMode::Host)
        .copied()
        .collect();
    if !host_ports.is_empty() && t.status.state == TaskState::Running {
        status["PortStatus"] = json!({ "Ports": ports(&host_ports) });
    }
    let mut v = json!({
        "ID": t.id,
        "Version": { "Index": state.task_index(&t.id) },
        "CreatedAt": rfc3339(t.created_at),
        "UpdatedAt": rfc3339(t.status.timestamp.max(t.created_at)),
        "Labels": {},
        "Spec": task_spec,
        "ServiceID": t.service_id,
        "Slot": t.slot,
        "Status": status,
        "DesiredState": task_state(t.desired_state),
    });
    if let Some(n) = t.node_id {
        v["NodeID"] = json!(node_id(n));
    }
    if let (Some(addr), NetworkMode::Stack) = (t.status.address, t.spec.network_mode) {
        let prefix = state
            .network
            .as_ref()
            .map(|n| n.subnet.prefix)
            .unwrap_or(24);
        let att: Vec<Value> = t
            .spec
            .networks
            .iter()
            .map(|n| {
                let name = format!("{stack}_{n}");
                json!({
                    "Network": {
                        "ID": network_id(&name),
                        "Spec": { "Name": name, "Labels": { STACK_LABEL: stack }, "DriverConfiguration": { "Name": "overlay" }, "Scope": "swarm" },
                    },
                    "Addresses": [format!("{addr}/{prefix}")],
                })
            })
            .collect();
        v["NetworksAttachments"] = json!(att);
    }
    v
}

/// What `/info` and `/version` say about this node and binary.
#[derive(Debug, Clone)]
pub struct Host {
    /// orc's version.
    pub version: String,
    pub hostname: String,
    pub ncpu: u64,
    pub mem_total: u64,
    pub kernel: String,
    /// "aarch64", "x86_64".
    pub arch: String,
    pub go_arch: String,
    /// Tasks on this node: (running, stopped).
    pub containers: (usize, usize),
}

/// This node's place in the swarm, for `/info`.
#[derive(Debug, Clone)]
pub struct Membership<'a> {
    pub state: Option<&'a ClusterState>,
    pub node: Option<NodeId>,
    pub manager: bool,
    pub leader: Option<NodeId>,
    pub address: String,
}

pub fn version(h: &Host) -> Value {
    json!({
        "Platform": { "Name": format!("orc {}", h.version) },
        "Components": [{ "Name": "Engine", "Version": h.version, "Details": {
            "ApiVersion": crate::API_VERSION, "MinAPIVersion": crate::MIN_API_VERSION,
            "Os": "linux", "Arch": h.go_arch, "KernelVersion": h.kernel, "Experimental": "false",
        } }],
        "Version": h.version,
        "ApiVersion": crate::API_VERSION,
        "MinAPIVersion": crate::MIN_API_VERSION,
        "GitCommit": "orc",
        "GoVersion": "orc (rust)",
        "Os": "linux",
        "Arch": h.go_arch,
        "KernelVersion": h.kernel,
        "BuildTime": "",
    })
}

pub fn swarm(state: &ClusterState) -> Value {
    let info = state.cluster.as_ref();
    let created = info.map(|i| i.created_at).unwrap_or(0);
    json!({
        "ID": info.map(|i| i.id.clone()).unwrap_or_default(),
        "Version": { "Index": state.revision },
        "CreatedAt": rfc3339(created),
        "UpdatedAt": rfc3339(created),
        "Spec": { "Name": "default", "Labels": {}, "Orchestration": {}, "Raft": {}, "Dispatcher": {}, "CAConfig": {}, "TaskDefaults": {}, "EncryptionConfig": { "AutoLockManagers": false } },
        "TLSInfo": {},
        "RootRotationInProgress": false,
        "DefaultAddrPool": subnet(state).into_iter().collect::<Vec<_>>(),
        "SubnetSize": 24,
        "DataPathPort": 4789,
        "JoinTokens": { "Worker": "", "Manager": "" },
    })
}

pub fn info(h: &Host, m: &Membership<'_>) -> Value {
    let mut sw = json!({
        "NodeID": m.node.map(node_id).unwrap_or_default(),
        "NodeAddr": host_of(&m.address),
        "LocalNodeState": if m.node.is_some() { "active" } else { "inactive" },
        "ControlAvailable": m.manager,
        "Error": "",
        "RemoteManagers": [],
    });
    if let (Some(state), true) = (m.state, m.manager) {
        let managers: Vec<Value> = state
            .managers()
            .map(|n| json!({ "NodeID": node_id(n.id), "Addr": n.address }))
            .collect();
        sw["Nodes"] = json!(state.nodes.len());
        sw["Managers"] = json!(managers.len());
        sw["RemoteManagers"] = json!(managers);
        sw["Cluster"] = swarm(state);
        if let Some(o) = sw["Cluster"].as_object_mut() {
            o.remove("JoinTokens");
        }
    }
    let (running, stopped) = h.containers;
    json!({
        "ID": m.node.map(node_id).unwrap_or_default(),
        "Containers": running + stopped,
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": stopped,
        "Images": 0,
        "Driver": "overlayfs",
        "DriverStatus": [],
        "Plugins": { "Volume": [], "Network": ["overlay"], "Authorization": [], "Log": [] },
        "MemoryLimit": true,
        "SwapLimit": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "IPv4Forwarding": true,
        "Debug": false,
        "NFd": 0,
        "OomKillDisable": false,
        "NGoroutines": 0,
        "SystemTime": rfc3339(0),
        "LoggingDriver": "orc",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2",
        "NEventsListener": 0,
        "KernelVersion": h.kernel,
        "OperatingSystem": "orc",
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": h.arch,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "NCPU": h.ncpu,
        "MemTotal": h.mem_total,
        "DockerRootDir": "/var/lib/orc",
        "Name": h.hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": format!("{} (orc, docker-compatible)", h.version),
        "Runtimes": { "runc": { "path": "runc" } },
        "DefaultRuntime": "runc",
        "Swarm": sw,
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": { "ID": "" },
        "RuncCommit": { "ID": "" },
        "InitCommit": { "ID": "" },
        "SecurityOptions": [],
        "Warnings": [],
    })
}

/// A secret or config as Docker shows it: id, version (its current revision), times,
/// name and labels. Never the value (`Spec.Data` is left out, for configs too).
/// An orc volume as Docker's `/volumes` shows one: a Ceph volume's scope is the
/// cluster (`global`), a local one's its node.
/// A cluster volume (as `orc volume ls` lists it): its name, driver ("local",
/// "rbd", "cephfs"), stack and creation time.
pub fn volume(name: &str, driver: &str, stack: &str, created_at: u64) -> Value {
    json!({
        "Name": name,
        "Driver": driver,
        "Mountpoint": "",
        "CreatedAt": rfc3339(created_at),
        "Labels": { STACK_LABEL: stack },
        "Scope": if driver == orc_spec::VolumeDriver::Local.name() { "local" } else { "global" },
        "Options": {},
    })
}

/// An image reference in Docker's familiar form: `docker.io/library/busybox:1` →
/// `busybox:1`, `docker.io/me/app` → `me/app`.
pub fn familiar(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

/// A reference without its tag (a registry's port is no tag): `busybox:1` →
/// `busybox`, `reg:5000/app` stays.
pub fn untagged(name: &str) -> &str {
    name.rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(name, |(r, _)| r)
}

/// One image as `/images/json` shows it: name, digest, size.
pub fn image(name: &str, digest: &str, size: u64) -> Value {
    let name = familiar(name);
    let repo = untagged(name);
    json!({
        "Id": digest,
        "ParentId": "",
        "RepoTags": [name],
        "RepoDigests": [format!("{repo}@{digest}")],
        "Created": 0,
        "Size": size,
        "SharedSize": -1,
        "Labels": {},
        "Containers": -1,
    })
}

/// A secret or config; `index` is its change index (`ClusterState::value_index`).
pub fn value(v: &orc_model::StoredValue, index: u64) -> Value {
    json!({
        "ID": v.id,
        "Version": { "Index": index },
        "CreatedAt": rfc3339(v.created_at),
        "UpdatedAt": rfc3339(v.updated_at),
        "Spec": { "Name": v.name, "Labels": v.labels },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::{Command, NewService, TaskStatus};
    use orc_spec::ServiceSpec;

    fn state() -> ClusterState {
        let mut st = ClusterState::default();
        let mut spec = ServiceSpec::new("nginx:1");
        spec.mode = ServiceMode::Replicated { replicas: 2 };
        st.apply(&Command::DeployStack {
            stack: "web".into(),
            services: vec![NewService {
                id: "svc1".into(),
                short_name: "app".into(),
                spec: spec.clone(),
            }],
            at: 1_000,
        });
        let mut status = TaskStatus::new(TaskState::Running, 2_000, "started");
        status.address = Some("10.201.3.7".parse().unwrap());
        st.apply(&Command::CreateTasks(vec![Task {
            id: "task1".into(),
            service_id: "svc1".into(),
            service_name: "web_app".into(),
            slot: 1,
            node_id: Some(7),
            spec_version: 1,
            spec,
            desired_state: TaskState::Running,
            status,
            created_at: 1_500,
            not_before: 0,
            attempt: 0,
        }]));
        st
    }

    #[test]
    fn a_service_as_the_cli_reads_it() {
        let st = state();
        let v = service(&st, &st.services["svc1"], true);
        assert_eq!(v["Spec"]["Name"], "web_app");
        assert_eq!(v["Spec"]["Labels"][STACK_LABEL], "web");
        assert_eq!(v["Spec"]["Mode"]["Replicated"]["Replicas"], 2);
        assert_eq!(v["Spec"]["EndpointSpec"]["Mode"], "vip");
        assert_eq!(v["ServiceStatus"]["RunningTasks"], 1);
        assert_eq!(v["ServiceStatus"]["DesiredTasks"], 2);
        assert_eq!(v["Version"]["Index"], 1);
        assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'));
        assert!(v.get("UpdateStatus").is_none(), "never updated");
    }

    #[test]
    fn a_services_update_status_is_dockers() {
        let mut st = state();
        st.apply(&Command::SetUpdateStatus {
            id: "svc1".into(),
            status: orc_model::UpdateStatus {
                state: orc_model::UpdateState::Paused,
                message: "task web_app.1 failed: exited with 1".into(),
                started_at: 3_000,
                ended_at: Some(4_000),
                from: 0,
                to: 1,
                version: 1,
            },
        });
        let v = service(&st, &st.services["svc1"], false);
        assert_eq!(v["UpdateStatus"]["State"], "paused");
        assert_eq!(
            v["UpdateStatus"]["Message"],
            "task web_app.1 failed: exited with 1"
        );
        assert!(v["UpdateStatus"]["CompletedAt"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
    }

    #[test]
    fn a_task_as_traefik_reads_it() {
        let st = state();
        let v = task(&st, &st.tasks["task1"]);
        assert_eq!(v["Status"]["State"], "running");
        // A health check not passed yet: starting, as Swarm shows it.
        let mut t = st.tasks["task1"].clone();
        t.status.health = Some(orc_model::TaskHealth {
            state: orc_model::HealthState::Starting,
            since: 2_000,
            failing_streak: 0,
            log: Vec::new(),
        });
        assert_eq!(task(&st, &t)["Status"]["State"], "starting");
        t.status.health.as_mut().unwrap().state = orc_model::HealthState::Healthy;
        assert_eq!(task(&st, &t)["Status"]["State"], "running");
        assert_eq!(v["Slot"], 1);
        assert_eq!(v["NodeID"], "0000000000000007");
        assert_eq!(v["Spec"]["ContainerSpec"]["Image"], "nginx:1");
        let att = &v["NetworksAttachments"][0];
        assert_eq!(att["Network"]["ID"], network_id("web_default"));
        assert_eq!(att["Addresses"][0], "10.201.3.7/24");
        let nets = st.stack_networks();
        assert_eq!(nets.len(), 1);
        assert_eq!(
            network(&st, &nets["web_default"])["Id"],
            network_id("web_default")
        );
        assert_eq!(
            network(&st, &nets["web_default"])["Labels"][STACK_LABEL],
            "web"
        );
        assert_eq!(network_id("web_default").len(), 25);
        assert_ne!(network_id("web_default"), network_id("web_front"));
    }
}
