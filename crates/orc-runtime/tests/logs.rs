//! The log driver under a real shim: rotation bounds.

mod common;

use common::{logs_when, Env};
use orc_runtime::read_logs;

#[tokio::test(flavor = "multi_thread")]
async fn rotation_keeps_at_most_max_files_of_at_most_max_bytes() {
    let env = Env::with_image().await;
    let script = "i=0; while [ $i -lt 3000 ]; do echo \"line $i of the rotation test\"; i=$((i+1)); done; echo done";
    let mut cfg = env.config("rotate", &["sh", "-c", script]);
    cfg.log.max_bytes = 8192;
    cfg.log.max_files = 3;
    env.rt.run(&cfg).await.unwrap();
    assert_eq!(env.rt.wait(&cfg.id).await.unwrap().code, 0);
    let lines = logs_when(&cfg, |l| l.last().map(String::as_str) == Some("done")).await;
    let files: Vec<(String, u64)> = std::fs::read_dir(&cfg.log.dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    assert!(files.len() <= 3, "{files:?}");
    assert!(files.iter().all(|(_, n)| *n <= 8192), "{files:?}");
    assert!(
        files.iter().any(|(n, _)| n == "current.log.2"),
        "rotated: {files:?}"
    );
    // What is kept is a contiguous tail of the output.
    assert_eq!(lines[lines.len() - 2], "line 2999 of the rotation test");
    let first: usize = lines[0].split(' ').nth(1).unwrap().parse().unwrap();
    for (i, l) in lines[..lines.len() - 1].iter().enumerate() {
        assert_eq!(*l, format!("line {} of the rotation test", first + i));
    }
    assert_eq!(
        read_logs(&cfg.log.dir, Some(2)).unwrap(),
        vec!["line 2999 of the rotation test", "done"]
    );
    env.rt.remove(&cfg.id).await.unwrap();
    // The driver has exited with the task: no process holds the files.
    assert_eq!(read_logs(&cfg.log.dir, Some(1)).unwrap(), vec!["done"]);
}
