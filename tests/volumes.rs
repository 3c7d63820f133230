//! Volumes against a real Ceph cluster the harness starts once for this binary
//! (starting one costs ~20 s and ~600 MB): one test runs the scenarios in sequence.

use orc_spec::{VolumeDriver, VolumeSpec};
use orc_testbed::ceph::skip_without_ceph;
use orc_testbed::Ceph;
use orc_volume::{is_mounted, CephTool, Volumes};

fn tool(ceph: &Ceph) -> CephTool {
    CephTool {
        conf: ceph.conf(),
        keyring: ceph.admin_keyring(),
        user: "admin".into(),
    }
}

/// A driver round trip: attach, write, detach, attach again, read, delete.
fn driver_keeps_data(ceph: &Ceph, spec: VolumeSpec, name: &str) {
    let root = tempfile::tempdir().unwrap();
    let vols = Volumes::new(root.path(), Some(tool(ceph)));
    let d = vols.driver(&spec).unwrap();
    let mnt = d.attach(name, &spec).unwrap();
    assert!(is_mounted(&mnt), "{} mounted", mnt.display());
    std::fs::write(mnt.join("hello"), "data survives").unwrap();
    d.detach(name, &spec).unwrap();
    assert!(!is_mounted(&mnt));
    assert!(!mnt.join("hello").exists(), "the data is on Ceph, not in the mount point");
    let mnt = d.attach(name, &spec).unwrap();
    assert_eq!(std::fs::read_to_string(mnt.join("hello")).unwrap(), "data survives");
    d.detach(name, &spec).unwrap();
    d.delete(name, &spec).unwrap();
    assert!(!is_mounted(&mnt));
}

#[test]
fn ceph_volumes() {
    if skip_without_ceph("ceph_volumes") {
        return;
    }
    let ceph = Ceph::start().expect("start ceph");
    driver_keeps_data(
        &ceph,
        VolumeSpec {
            driver: VolumeDriver::CephFs {
                fs_name: "cephfs".into(),
                group: None,
            },
            size_bytes: 64 << 20,
        },
        "t_files",
    );
    driver_keeps_data(
        &ceph,
        VolumeSpec {
            driver: VolumeDriver::Rbd {
                pool: "rbd".into(),
                fs_type: "ext4".into(),
            },
            size_bytes: 64 << 20,
        },
        "t_db",
    );
}
