//! A rolling update end to end against real containerd: 10 replicas (parallelism 2,
//! start-first, monitor 0 s and 1 s) on one node, from `orc service update` to its
//! rollout completed (the command waits for that). Prints figures; run with
//! `cargo bench -p orc-testbed --bench rolling_update` (root needed).

use anyhow::{Context, Result};
use orc_testbed::orc_node::OrcNode;
use orc_testbed::{busybox_image, ImageFormat};
use std::time::Instant;

const ROUNDS: usize = 3;

fn stack(monitor: &str) -> String {
    format!(
        "[services.web]\nimage = \"demo/busybox:1\"\ncommand = [\"sleep\", \"3600\"]\nreplicas = 10\n\
         stop = {{ signal = \"SIGKILL\", grace_period = \"1s\" }}\n\
         update_config = {{ parallelism = 2, order = \"start-first\", monitor = \"{monitor}\" }}\n"
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let n = OrcNode::start_initialised()?;
    let img = busybox_image(ImageFormat::Oci)?;
    n.ok(&["image", "load", img.to_str().context("path")?])?;
    for monitor in ["0s", "1s"] {
        let p = n.dir().join(format!("roll-{monitor}.toml"));
        std::fs::write(&p, stack(monitor))?;
        n.ok(&[
            "stack",
            "deploy",
            &p.to_string_lossy(),
            "--name",
            "roll",
            "--timeout",
            "300",
        ])?;
        let mut secs = Vec::new();
        for round in 0..ROUNDS {
            let env = format!("ROUND={monitor}-{round}");
            let t0 = Instant::now();
            n.ok(&[
                "service",
                "update",
                "roll_web",
                "--env-add",
                &env,
                "--timeout",
                "300",
            ])?;
            secs.push(t0.elapsed().as_secs_f64());
            let i = n.json(&["service", "inspect", "roll_web"])?;
            anyhow::ensure!(i["update"]["state"] == "completed", "{i}");
        }
        println!(
            "MEASURE rolling update of 10 replicas (parallelism 2, start-first, monitor {monitor}), \
             command to completed: median {:.2} s over {ROUNDS} rounds ({:?})",
            median(secs.clone()),
            secs.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>()
        );
        n.ok(&["stack", "rm", "roll"])?;
    }
    Ok(())
}
