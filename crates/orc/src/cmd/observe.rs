//! `orc events` and `orc stats`.

use crate::cli::{Cli, EventsArgs, StatsArgs};
use crate::output::{bytes, json, table};
use anyhow::Context;
use orc_api::{Client, Reply, Request, TaskStatRow};
use orc_metrics::events::{format_utc, Event};

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// "10m" (that long ago) or Unix seconds → ms since the epoch.
pub(crate) fn parse_time(s: &str, now: u64) -> anyhow::Result<u64> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs.saturating_mul(1000));
    }
    let ago = orc_spec::parse_duration(s).map_err(|e| {
        anyhow::anyhow!("{s:?}: expected a duration ago (10m, 1h) or Unix seconds ({e})")
    })?;
    Ok(now.saturating_sub(ago))
}

/// One line per event: time, type, action, name, id, then the details.
pub fn event_line(e: &Event) -> String {
    let mut line = format!(
        "{} {} {} {} ({})",
        format_utc(e.time),
        e.kind.as_str(),
        e.action,
        e.name,
        orc_model_short(&e.id)
    );
    for (k, v) in &e.attributes {
        if v.contains(' ') {
            line.push_str(&format!(" {k}={v:?}"));
        } else {
            line.push_str(&format!(" {k}={v}"));
        }
    }
    line
}

fn orc_model_short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

pub async fn events(cli: &Cli, args: &EventsArgs) -> anyhow::Result<()> {
    let now = now_ms();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()
        .context("--since")?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()
        .context("--until")?;
    // Checked here too, so a typo fails before anything is asked.
    orc_metrics::events::Filter::parse(&args.filter)
        .map_err(|e| anyhow::anyhow!("--filter: {e}"))?;
    let req = Request::Events {
        since,
        until,
        filter: args.filter.clone(),
    };
    let as_json = args.json;
    let mut bad = None;
    Client::new(&cli.socket)
        .call(&req, |r| {
            if let Reply::Event { event } = r {
                if as_json {
                    println!("{event}");
                } else {
                    match serde_json::from_value::<Event>(event.clone()) {
                        Ok(e) => println!("{}", event_line(&e)),
                        Err(e) => bad = Some(e.to_string()),
                    }
                }
            }
        })
        .await?;
    if let Some(e) = bad {
        anyhow::bail!("the daemon sent an event this client does not understand: {e}");
    }
    Ok(())
}

fn stat_table(rows: &[TaskStatRow]) {
    table(
        &[
            "TASK",
            "NAME",
            "NODE",
            "CPU %",
            "MEM USAGE / LIMIT",
            "NET I/O",
            "BLOCK I/O",
        ],
        rows.iter()
            .map(|r| {
                let limit = r
                    .memory_limit_bytes
                    .map(bytes)
                    .unwrap_or_else(|| "-".into());
                vec![
                    orc_model_short(&r.task).to_string(),
                    r.name.clone(),
                    r.node.clone(),
                    format!("{:.1}", r.cpu_percent),
                    format!("{} / {limit}", bytes(r.memory_bytes)),
                    format!("{} / {}", bytes(r.net_rx_bytes), bytes(r.net_tx_bytes)),
                    format!(
                        "{} / {}",
                        bytes(r.block_read_bytes),
                        bytes(r.block_write_bytes)
                    ),
                ]
            })
            .collect(),
    );
}

pub async fn stats(cli: &Cli, args: &StatsArgs) -> anyhow::Result<()> {
    let client = Client::new(&cli.socket);
    loop {
        let req = Request::Stats {
            services: args.services.clone(),
            interval_ms: Some(1000),
        };
        let v = client.call(&req, |_| {}).await?;
        let rows: Vec<TaskStatRow> =
            serde_json::from_value(v).context("the daemon's stats rows")?;
        if args.json {
            if args.no_stream {
                json(&rows)?;
            } else {
                println!("{}", serde_json::to_string(&rows)?);
            }
        } else {
            if !args.no_stream {
                // Clear the screen and go home, as `docker stats` redraws.
                print!("\x1b[2J\x1b[H");
            }
            stat_table(&rows);
        }
        if args.no_stream {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_metrics::events::EventKind;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000", 5).unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("10m", 1_000_000).unwrap(), 400_000);
        assert!(parse_time("yesterday", 0).is_err());
    }

    #[test]
    fn lines() {
        let e = Event::new(EventKind::Task, "failed", "0123456789abcdef", "s_web", 0)
            .attr("reason", "exited with 137")
            .attr("node", "2");
        assert_eq!(
            event_line(&e),
            "1970-01-01T00:00:00.000Z task failed s_web (0123456789ab) node=2 reason=\"exited with 137\""
        );
    }
}
