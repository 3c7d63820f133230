//! Mutual TLS over loopback with real tonic servers and clients.

mod support;

use orc_pki::{
    client_tls, connect_join, join_endpoint, node_endpoint, ClusterCa, NodeFiles, PeerName, Role,
};
use support::{check, check_on, node, watch_on, CallError, Members, TestServer};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

fn https(server: &TestServer) -> Endpoint {
    Endpoint::from_shared(format!("https://{}", server.addr)).unwrap()
}

#[tokio::test]
async fn a_member_with_a_cluster_certificate_calls_protected_rpcs() {
    let ca = ClusterCa::generate("mtls-ok").unwrap();
    let manager = node(&ca, 1, Role::Manager);
    let worker = node(&ca, 2, Role::Worker);
    let members = Members::with(&[(1, Role::Manager), (2, Role::Worker)]);
    let server = TestServer::start(&manager, &members).await;

    for name in [PeerName::Node(1), PeerName::AnyManager] {
        let ep = node_endpoint(&server.host_port(), &worker, name).unwrap();
        assert_eq!(check(ep).await.unwrap(), ServingStatus::Serving, "{name:?}");
    }
    // The membership check saw the worker's identity, read from its certificate.
    assert!(members.asked.lock().unwrap().contains(&(2, Role::Worker)));
}

#[tokio::test]
async fn the_client_checks_the_server_name() {
    let ca = ClusterCa::generate("mtls-names").unwrap();
    let worker2 = node(&ca, 2, Role::Worker);
    let worker3 = node(&ca, 3, Role::Worker);
    let members = Members::with(&[(2, Role::Worker), (3, Role::Worker)]);
    let server = TestServer::start(&worker3, &members).await;

    // Right CA, wrong node id: refused by the client.
    let ep = node_endpoint(&server.host_port(), &worker2, PeerName::Node(4)).unwrap();
    match check(ep).await {
        Err(CallError::Connect(text)) => assert!(text.contains("not valid for name"), "{text}"),
        other => panic!("wrong server accepted: {other:?}"),
    }
    // A worker is not a manager, whatever its CA.
    let ep = node_endpoint(&server.host_port(), &worker2, PeerName::AnyManager).unwrap();
    match check(ep).await {
        Err(CallError::Connect(text)) => assert!(text.contains("not valid for name"), "{text}"),
        other => panic!("worker accepted as a manager: {other:?}"),
    }
    // The right id works.
    let ep = node_endpoint(&server.host_port(), &worker2, PeerName::Node(3)).unwrap();
    assert_eq!(check(ep).await.unwrap(), ServingStatus::Serving);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_in_the_handshake() {
    let ca = ClusterCa::generate("mtls-real").unwrap();
    let other_ca = ClusterCa::generate("mtls-other").unwrap();
    let manager = node(&ca, 1, Role::Manager);
    // Same id and role as a real member, but certified by another CA.
    let impostor = node(&other_ca, 2, Role::Worker);
    let members = Members::with(&[(1, Role::Manager), (2, Role::Worker)]);
    let server = TestServer::start(&manager, &members).await;

    // It trusts the real CA for the server, and presents its foreign certificate.
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.cert_pem()))
        .identity(Identity::from_pem(
            impostor.cert_chain_pem(),
            impostor.key_pem(),
        ))
        .domain_name("orc-manager");
    let err = check(https(&server).tls_config(tls).unwrap())
        .await
        .unwrap_err();
    // Not an authenticate() refusal: the TLS layer never let the request through.
    assert!(
        !matches!(
            err.code(),
            Some(Code::Unauthenticated | Code::PermissionDenied)
        ),
        "{err:?}"
    );
    // The server's rustls refused the chain and said so with a TLS alert.
    assert!(format!("{err:?}").contains("UnknownCA"), "{err:?}");
    assert!(!members.was_asked_about(2));

    // With its own CA it does not even accept the server.
    let ep = node_endpoint(&server.host_port(), &impostor, PeerName::AnyManager).unwrap();
    assert!(matches!(check(ep).await, Err(CallError::Connect(_))));
    assert!(!members.was_asked_about(2));
}

#[tokio::test]
async fn a_client_without_a_certificate_reaches_only_the_open_rpc() {
    let ca = ClusterCa::generate("mtls-nocert").unwrap();
    let manager = node(&ca, 1, Role::Manager);
    let members = Members::with(&[(1, Role::Manager)]);
    let server = TestServer::start(&manager, &members).await;

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.cert_pem()))
        .domain_name("orc-manager");
    let channel = https(&server)
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    // The allow-listed RPC (the join stand-in) answers...
    assert_eq!(
        watch_on(channel.clone()).await.unwrap(),
        ServingStatus::Serving
    );
    // ...the others say Unauthenticated.
    let err = check_on(channel).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unauthenticated), "{err:?}");
}

#[tokio::test]
async fn a_removed_node_or_a_changed_role_is_refused() {
    let ca = ClusterCa::generate("mtls-removed").unwrap();
    let manager = node(&ca, 1, Role::Manager);
    let worker = node(&ca, 2, Role::Worker);
    let demoted = node(&ca, 3, Role::Manager);
    let members = Members::with(&[(1, Role::Manager), (2, Role::Worker), (3, Role::Worker)]);
    let server = TestServer::start(&manager, &members).await;

    let ep = node_endpoint(&server.host_port(), &worker, PeerName::AnyManager).unwrap();
    let channel = ep.connect().await.unwrap();
    assert_eq!(
        check_on(channel.clone()).await.unwrap(),
        ServingStatus::Serving
    );

    // `orc node rm 2`: the same connection, the same valid certificate, refused.
    members.roles.lock().unwrap().remove(&2);
    let err = check_on(channel).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::PermissionDenied), "{err:?}");

    // Node 3 holds a manager certificate but the cluster says it is a worker now.
    let ep = node_endpoint(&server.host_port(), &demoted, PeerName::AnyManager).unwrap();
    let err = check(ep).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::PermissionDenied), "{err:?}");
}

#[tokio::test]
async fn the_join_connector_accepts_only_the_tokens_ca() {
    let ca = ClusterCa::generate("mtls-join").unwrap();
    let other_ca = ClusterCa::generate("mtls-join-other").unwrap();
    let manager = node(&ca, 1, Role::Manager);
    let members = Members::with(&[(1, Role::Manager)]);
    let server = TestServer::start(&manager, &members).await;

    // The right fingerprint: connected, no client certificate, open RPC works,
    // protected RPC does not.
    let channel = connect_join(&server.host_port(), &ca.fingerprint())
        .await
        .unwrap();
    assert_eq!(
        watch_on(channel.clone()).await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        check_on(channel).await.unwrap_err().code(),
        Some(Code::Unauthenticated)
    );
    // Upper-case fingerprint and https:// URI are fine too.
    let uri = format!("https://{}", server.addr);
    connect_join(&uri, &ca.fingerprint().to_uppercase())
        .await
        .unwrap();

    // A wrong fingerprint: refused in the handshake.
    let err = connect_join(&server.host_port(), &other_ca.fingerprint())
        .await
        .unwrap_err();
    let text = support::chain(&err);
    assert!(text.contains("CaFingerprintMismatch"), "{text}");

    // Malformed fingerprints and plaintext addresses are refused before dialling.
    assert!(join_endpoint(&server.host_port(), "abc").is_err());
    assert!(join_endpoint(&format!("http://{}", server.addr), &ca.fingerprint()).is_err());
}

#[tokio::test]
async fn the_join_connector_is_not_fooled_by_the_real_ca_in_a_forged_chain() {
    let ca = ClusterCa::generate("mtls-forge").unwrap();
    let rogue_ca = ClusterCa::generate("mtls-forge-rogue").unwrap();
    // A rogue manager certificate, served with the real (public) CA certificate appended.
    let rogue = rogue_ca.issue(1, Role::Manager, "rogue", &[]).unwrap();
    let rogue_leaf = rogue
        .cert_chain_pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap();
    let forged_chain = format!("{rogue_leaf}{}", ca.cert_pem());
    // NodeFiles refuses to build such a bundle, so serve it with tonic directly.
    assert!(NodeFiles::from_pem(ca.cert_pem(), &forged_chain, &rogue.key_pem).is_err());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_r, health) = tonic_health::server::health_reporter();
    let tls = tonic::transport::ServerTlsConfig::new()
        .identity(Identity::from_pem(&forged_chain, &rogue.key_pem));
    let server = tonic::transport::Server::builder().tls_config(tls).unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let task = tokio::spawn(server.serve_with_incoming(health, incoming));
    struct Abort(tokio::task::JoinHandle<Result<(), tonic::transport::Error>>);
    impl Drop for Abort {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _guard = Abort(task);

    let err = connect_join(&addr.to_string(), &ca.fingerprint())
        .await
        .expect_err("joined a rogue server");
    let text = support::chain(&err);
    assert!(text.contains("invalid peer certificate"), "{text}");
    // Control: the rogue server does serve, to a client that trusts the rogue CA.
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(rogue_ca.cert_pem()))
        .domain_name("orc-manager");
    let ep = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap();
    assert_eq!(
        watch_on(ep.connect().await.unwrap()).await.unwrap(),
        ServingStatus::Serving
    );

    // A worker of the right cluster cannot pose as the join server either.
    let worker = node(&ca, 2, Role::Worker);
    let members = Members::with(&[(2, Role::Worker)]);
    let server = TestServer::start(&worker, &members).await;
    let err = connect_join(&server.host_port(), &ca.fingerprint())
        .await
        .expect_err("a worker served the join");
    let text = support::chain(&err);
    assert!(text.contains("not valid for name"), "{text}");
}

#[tokio::test]
async fn client_tls_is_the_same_as_node_endpoint() {
    let ca = ClusterCa::generate("mtls-raw").unwrap();
    let manager = node(&ca, 1, Role::Manager);
    let members = Members::with(&[(1, Role::Manager)]);
    let server = TestServer::start(&manager, &members).await;
    let ep = https(&server)
        .tls_config(client_tls(&manager, PeerName::Node(1)))
        .unwrap();
    assert_eq!(check(ep).await.unwrap(), ServingStatus::Serving);
}
