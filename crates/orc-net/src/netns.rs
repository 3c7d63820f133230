//! Network namespaces as files orc owns: `DIR/TASK_ID` is a bind mount of a fresh
//! namespace (what `ip netns add` does, without the fork). containerd gets the path in
//! the OCI spec; the namespace lives as long as the mount or a process in it.

use crate::NetError;
use nix::mount::{umount2, MntFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Creates a new network namespace pinned at `path` (an empty file is created first).
pub fn create(path: &Path) -> Result<(), NetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(NetError::io(format!("create {}", dir.display())))?;
    }
    File::create(path).map_err(NetError::io(format!("create {}", path.display())))?;
    let target = path.to_path_buf();
    // unshare() moves only the calling thread: do it on a thread of its own, which ends
    // right after, so no tokio worker is left in the new namespace.
    let made = std::thread::spawn(move || -> Result<(), NetError> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(NetError::errno("unshare(CLONE_NEWNET)"))?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(NetError::errno(format!(
            "bind-mount netns on {}",
            target.display()
        )))
    })
    .join()
    .unwrap_or_else(|_| {
        Err(NetError::Io {
            op: "netns thread".into(),
            source: std::io::Error::other("panicked"),
        })
    });
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Unmounts and removes the namespace file; absent is success. The namespace (and the
/// veth end inside it) goes away once no process holds it.
pub fn remove(path: &Path) -> Result<(), NetError> {
    if !path.exists() {
        return Ok(());
    }
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(NetError::errno(format!("unmount {}", path.display()))(e)),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(NetError::io(format!("remove {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

/// Namespace files in `dir` (task ids), sorted.
pub fn list(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.contains('.'))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs `f` with a fresh rtnetlink handle inside the namespace at `path`, on a thread
/// of its own (with its own single-threaded runtime) that ends afterwards.
pub fn within<F, Fut, T>(path: &Path, f: F) -> Result<T, NetError>
where
    F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, NetError>>,
    T: Send + 'static,
{
    let path: PathBuf = path.to_path_buf();
    std::thread::spawn(move || -> Result<T, NetError> {
        let ns = File::open(&path).map_err(NetError::io(format!("open {}", path.display())))?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(NetError::errno("setns"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(NetError::io("runtime in netns"))?;
        rt.block_on(async move {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(NetError::io("netlink socket in netns"))?;
            let driver = tokio::spawn(conn);
            let r = f(handle).await;
            driver.abort();
            r
        })
    })
    .join()
    .unwrap_or_else(|_| {
        Err(NetError::Io {
            op: "netns thread".into(),
            source: std::io::Error::other("panicked"),
        })
    })
}

/// Runs the blocking `f` on a thread of its own that first enters the network
/// namespace at `path` (sockets `f` opens live there) and ends afterwards: no other
/// thread's namespace changes, the async runtime's workers included. `Err` with the
/// reason when the namespace can't be entered.
pub async fn blocking_in<F, T>(path: &Path, f: F) -> Result<T, NetError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let path: PathBuf = path.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("orc-netns".into())
        .spawn(move || {
            let r = File::open(&path)
                .map_err(NetError::io(format!("open {}", path.display())))
                .and_then(|ns| {
                    setns(&ns, CloneFlags::CLONE_NEWNET).map_err(NetError::errno("setns"))
                })
                .map(|()| f());
            let _ = tx.send(r);
        })
        .map_err(NetError::io("netns thread"))?;
    rx.await.unwrap_or_else(|_| {
        Err(NetError::Io {
            op: "netns thread".into(),
            source: std::io::Error::other("panicked"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root (setns): enters this process's own namespace on a thread of its own.
    #[tokio::test]
    async fn blocking_in_runs_on_its_own_thread_and_says_why_it_cannot() {
        let me = std::thread::current().id();
        let (v, other) = blocking_in(Path::new("/proc/self/ns/net"), move || {
            (41 + 1, std::thread::current().id() != me)
        })
        .await
        .expect("entering our own namespace");
        assert_eq!(v, 42);
        assert!(other, "ran on a thread of its own");
        let e = blocking_in(Path::new("/nonexistent/ns"), || ())
            .await
            .expect_err("no such namespace");
        assert!(e.to_string().contains("/nonexistent/ns"), "{e}");
    }
}
