//! The container network in the state machine: blocks per node, ports unique per cluster.

use orc_model::*;
use orc_spec::{PortSpec, Protocol, PublishMode, ServiceSpec};

fn node(id: NodeId) -> Node {
    Node {
        id,
        hostname: format!("rock{id}"),
        role: NodeRole::Worker,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        status_message: String::new(),
        address: format!("10.0.0.{id}:4747"),
        resources: Default::default(),
        labels: Default::default(),
        platform: Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: "v8".into(),
        },
        created_at: 1,
        updated_at: 1,
    }
}

fn network(subnet: &str) -> ClusterNetwork {
    ClusterNetwork::new(Ipv4Net::parse(subnet).unwrap(), NetworkDriver::HostGw).unwrap()
}

fn publishing(stack: &str, name: &str, port: u16, protocol: Protocol) -> Command {
    Command::DeployStack {
        stack: stack.into(),
        services: vec![NewService {
            id: format!("{stack}-{name}"),
            short_name: name.into(),
            spec: ServiceSpec {
                ports: vec![PortSpec {
                    published: port,
                    target: 80,
                    protocol,
                    mode: PublishMode::Ingress,
                }],
                ..ServiceSpec::new("demo/busybox:1")
            },
        }],
        at: 1,
    }
}

#[test]
fn every_node_gets_its_own_block_in_raft() {
    let mut st = ClusterState::default();
    st.apply(&Command::PutNode(node(5)));
    assert_eq!(st.network, None);
    st.apply(&Command::SetClusterNetwork(network(DEFAULT_SUBNET)));
    let net = st.network.clone().unwrap();
    assert_eq!(net.block(5).unwrap().to_string(), "10.201.1.0/24");
    st.apply(&Command::PutNode(node(3)));
    st.apply(&Command::PutNode(node(3))); // a refresh keeps the block
    assert_eq!(
        st.network.as_ref().unwrap().block(3).unwrap().to_string(),
        "10.201.2.0/24"
    );
    let r = st.apply(&Command::SetClusterNetwork(network("10.9.0.0/16")));
    assert!(matches!(r.error(), Some(ApplyError::NetworkAlreadySet(_))));
    st.apply(&Command::RemoveNode { id: 5 });
    st.apply(&Command::PutNode(node(8)));
    let net = st.network.as_ref().unwrap();
    assert_eq!(net.block(5), None);
    assert_eq!(net.block(8).unwrap().to_string(), "10.201.1.0/24");
    let bytes = encode_state(&st).unwrap();
    assert_eq!(decode_state(&bytes).unwrap(), st);
}

#[test]
fn a_full_subnet_is_a_replicated_error() {
    let mut st = ClusterState::default();
    st.apply(&Command::SetClusterNetwork(network("10.9.0.0/23")));
    assert_eq!(st.apply(&Command::PutNode(node(1))).error(), None);
    let r = st.apply(&Command::PutNode(node(2)));
    assert!(
        matches!(r.error(), Some(ApplyError::SubnetFull(2))),
        "{r:?}"
    );
}

#[test]
fn a_port_published_by_another_stack_refuses_the_deploy() {
    let mut st = ClusterState::default();
    assert!(st
        .apply(&publishing("shop", "web", 8080, Protocol::Tcp))
        .error()
        .is_none());
    let rev = st.revision;
    let r = st.apply(&publishing("blog", "www", 8080, Protocol::Tcp));
    let Some(ApplyError::PortTaken { name, other, .. }) = r.error() else {
        panic!("{r:?}")
    };
    assert_eq!((name.as_str(), other.as_str()), ("blog_www", "shop_web"));
    assert_eq!(st.revision, rev, "nothing applied");
    assert!(st.service_by_name("blog_www").is_none());
    // Redeploying the owner, or the same number over UDP, is fine.
    assert!(st
        .apply(&publishing("shop", "web", 8080, Protocol::Tcp))
        .error()
        .is_none());
    assert!(st
        .apply(&publishing("blog", "www", 8080, Protocol::Udp))
        .error()
        .is_none());
}
