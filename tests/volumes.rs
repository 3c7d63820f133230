//! Volumes against a real Ceph cluster the harness starts once for this binary.

use orc_testbed::ceph::skip_without_ceph;
use orc_testbed::Ceph;

#[test]
fn ceph_volumes() {
    if skip_without_ceph("ceph_volumes") {
        return;
    }
    let ceph = Ceph::start().expect("start ceph");
    let health = ceph.ceph(&["health"]).unwrap();
    assert!(health.contains("HEALTH_OK"), "{health}");
}
