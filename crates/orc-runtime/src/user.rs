//! Resolving `user[:group]` to numeric ids with the image's /etc/passwd and
//! /etc/group, read straight from the container's prepared rootfs layers.

use crate::RuntimeError;
use containerd_client::types::Mount;
use std::path::PathBuf;

/// Numeric identity of the container's process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// The directories making up a rootfs, top layer first.
pub(crate) fn rootfs_dirs(mounts: &[Mount]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for m in mounts {
        match m.r#type.as_str() {
            "overlay" => {
                for o in &m.options {
                    if let Some(d) = o.strip_prefix("upperdir=") {
                        dirs.insert(0, PathBuf::from(d));
                    } else if let Some(l) = o.strip_prefix("lowerdir=") {
                        dirs.extend(l.split(':').map(PathBuf::from));
                    }
                }
            }
            "bind" | "rbind" => dirs.push(PathBuf::from(&m.source)),
            _ => {}
        }
    }
    dirs
}

/// The first `rel` file found in `dirs` (top first), or "".
fn read_first(dirs: &[PathBuf], rel: &str) -> String {
    dirs.iter()
        .find_map(|d| std::fs::read_to_string(d.join(rel)).ok())
        .unwrap_or_default()
}

/// (name, id, primary gid) of each passwd line; (name, id, members) of each group line.
fn entries(text: &str) -> impl Iterator<Item = (&str, u32, &str)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        Some((f[0], f[2].parse().ok()?, f[3]))
    })
}

/// Resolves `spec` (`uid`, `uid:gid`, `name`, `name:group`, or empty for root) with
/// the given passwd and group files. A numeric uid not in passwd gets gid 0 (as in
/// Docker); a name not found is an error.
pub(crate) fn resolve_user(
    spec: &str,
    passwd: &str,
    group: &str,
) -> Result<ResolvedUser, RuntimeError> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let found = entries(passwd).find(|(name, uid, _)| match user.parse::<u32>() {
        Ok(n) => *uid == n,
        Err(_) => *name == user,
    });
    let (name, uid, primary) = match (found, user.parse::<u32>()) {
        (Some((name, uid, gid)), _) => (Some(name), uid, gid.parse::<u32>().unwrap_or(0)),
        (None, Ok(uid)) => (None, uid, 0),
        (None, Err(_)) => {
            return Err(RuntimeError::Spec(format!(
                "user {user:?} is not in the image's /etc/passwd"
            )))
        }
    };
    let gid = match grp {
        None | Some("") => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => entries(group)
                .find(|(n, _, _)| *n == g)
                .map(|(_, id, _)| id)
                .ok_or_else(|| {
                    RuntimeError::Spec(format!("group {g:?} is not in the image's /etc/group"))
                })?,
        },
    };
    let mut additional_gids = Vec::new();
    if let (Some(name), None) = (name, grp) {
        for (_, id, members) in entries(group) {
            if id != gid && members.split(',').any(|m| m == name) && !additional_gids.contains(&id)
            {
                additional_gids.push(id);
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

/// Resolves `spec` against the rootfs given by `mounts`.
pub(crate) fn resolve_in_rootfs(
    spec: &str,
    mounts: &[Mount],
) -> Result<ResolvedUser, RuntimeError> {
    let dirs = rootfs_dirs(mounts);
    resolve_user(
        spec,
        &read_first(&dirs, "etc/passwd"),
        &read_first(&dirs, "etc/group"),
    )
}

/// What can be known without reading the rootfs: numeric parts only.
pub(crate) fn guess_user(spec: &str) -> ResolvedUser {
    let (u, g) = spec.split_once(':').unwrap_or((spec, ""));
    ResolvedUser {
        uid: u.parse().unwrap_or(0),
        gid: g.parse().unwrap_or(0),
        additional_gids: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nweb:x:1000:1000::/:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\nlog:x:4:web,other\n";

    #[test]
    fn names_and_numbers() {
        assert_eq!(
            resolve_user("", PASSWD, GROUP).unwrap(),
            ResolvedUser::default()
        );
        let nobody = resolve_user("nobody", PASSWD, GROUP).unwrap();
        assert_eq!((nobody.uid, nobody.gid), (65534, 65534));
        let web = resolve_user("web", PASSWD, GROUP).unwrap();
        assert_eq!(
            (web.uid, web.gid, web.additional_gids),
            (1000, 1000, vec![4])
        );
        assert_eq!(resolve_user("1000", PASSWD, GROUP).unwrap().gid, 1000);
        let n = resolve_user("4242", PASSWD, GROUP).unwrap();
        assert_eq!((n.uid, n.gid), (4242, 0));
        let g = resolve_user("web:nogroup", PASSWD, GROUP).unwrap();
        assert_eq!((g.uid, g.gid, g.additional_gids.len()), (1000, 65534, 0));
        assert_eq!(
            resolve_user("5:7", "", "").unwrap(),
            ResolvedUser {
                uid: 5,
                gid: 7,
                additional_gids: vec![]
            }
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(resolve_user("ghost", PASSWD, GROUP).is_err());
        assert!(resolve_user("web:ghosts", PASSWD, GROUP).is_err());
    }

    #[test]
    fn overlay_mounts_give_upper_then_lower_dirs() {
        let m = Mount {
            r#type: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options: vec![
                "index=off".into(),
                "workdir=/w".into(),
                "upperdir=/u".into(),
                "lowerdir=/l1:/l2".into(),
            ],
        };
        assert_eq!(
            rootfs_dirs(&[m]),
            vec![PathBuf::from("/u"), "/l1".into(), "/l2".into()]
        );
    }
}
