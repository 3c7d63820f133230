//! Pulling over HTTPS (rustls with ring): a docker-registry serving TLS with a
//! certificate from a test CA, on a private address of a dummy interface (loopback
//! registries are spoken to in plain HTTP). The CA reaches orc the way a board's
//! would: through the CA bundle (`SSL_CERT_FILE`). This file is its own process, so
//! setting that variable touches no other test.

mod common;

use common::Env;
use orc_runtime::{PullOptions, RegistryError, RuntimeError};
use orc_testbed::{busybox_image, ImageFormat, LocalAddress, Registry};
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (ca.pem) and a server certificate for `ip` signed by it (`name`.pem/.key).
fn ca_and_cert(dir: &Path, name: &str, ip: &str) {
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p(&format!("{name}-ca.key")),
        "-out",
        &p(&format!("{name}-ca.pem")),
        "-days",
        "1",
        "-subj",
        &format!("/CN={name} test CA"),
    ]));
    run(Command::new("openssl").args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p(&format!("{name}.key")),
        "-out",
        &p(&format!("{name}.csr")),
        "-subj",
        "/CN=registry",
    ]));
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!(
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:{ip}\n"
        ),
    )
    .unwrap();
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &p(&format!("{name}.csr")),
        "-CA",
        &p(&format!("{name}-ca.pem")),
        "-CAkey",
        &p(&format!("{name}-ca.key")),
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        &p(&format!("{name}.pem")),
        "-extfile",
        &p(&format!("{name}.ext")),
    ]));
}

#[tokio::test(flavor = "multi_thread")]
async fn pulls_over_tls_from_a_registry_whose_ca_is_in_the_bundle() {
    let n = std::process::id() % 250 + 1;
    let (ip_ok, ip_bad) = (format!("10.254.{n}.1"), format!("10.254.{n}.2"));
    let _d1 = LocalAddress::add(&ip_ok).unwrap();
    let _d2 = LocalAddress::add(&ip_bad).unwrap();
    let dir = tempfile::tempdir().unwrap();
    ca_and_cert(dir.path(), "trusted", &ip_ok);
    ca_and_cert(dir.path(), "unknown", &ip_bad);
    // Only the first CA is in the bundle orc reads.
    std::env::set_var("SSL_CERT_FILE", dir.path().join("trusted-ca.pem"));

    let archive = busybox_image(ImageFormat::Oci).unwrap();
    let good = Registry::start_tls(
        &ip_ok,
        &dir.path().join("trusted.pem"),
        &dir.path().join("trusted.key"),
    )
    .unwrap();
    let bad = Registry::start_tls(
        &ip_bad,
        &dir.path().join("unknown.pem"),
        &dir.path().join("unknown.key"),
    )
    .unwrap();
    good.push_archive(&archive, "demo/app:1").unwrap();
    bad.push_archive(&archive, "demo/app:1").unwrap();

    let env = Env::start().await;
    let image = format!("{}/demo/app:1", good.host());
    let info = env
        .rt
        .pull_image(&image, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(info.name, image);

    let untrusted = format!("{}/demo/app:1", bad.host());
    match env.rt.pull_image(&untrusted, &PullOptions::default()).await {
        Err(RuntimeError::Registry(RegistryError::Tls(m))) => {
            assert!(m.contains(&bad.host()), "{m}")
        }
        other => panic!("{other:?}"),
    }
}
