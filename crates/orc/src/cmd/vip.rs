//! `orc vip set/status/unset`.

use crate::cli::VipCmd;
use anyhow::Context;
use orc_api::Request;
use serde_json::Value;

/// The request `orc vip set` sends: the interval parsed, the rest checked by the daemon.
pub fn set_request(
    address: &str,
    interface: &str,
    vrid: u8,
    advert_interval: &str,
) -> anyhow::Result<Request> {
    let advert_interval_ms = orc_spec::parse_duration(advert_interval)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--advert-interval {advert_interval}"))?;
    Ok(Request::VipSet {
        address: address.to_string(),
        interface: interface.to_string(),
        vrid,
        advert_interval_ms,
    })
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints the answer of `VipStatus` as a table (or JSON).
pub fn print_status(v: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return crate::output::json(v);
    }
    let setting = &v["setting"];
    if setting.is_null() {
        println!("no virtual IP is set (orc vip set ADDRESS/PREFIX --interface IF --vrid N)");
        return Ok(());
    }
    println!(
        "VIP {} on {} (VRID {}, adverts every {} ms)",
        s(&setting["address"]),
        s(&setting["interface"]),
        s(&setting["vrid"]),
        s(&setting["advert_interval_ms"])
    );
    let c = &v["local"];
    println!("master seen  {}", s(&c["master_ip"]));
    // Every manager's instance when the daemon gathered them, else this one's.
    let rows: Vec<Vec<String>> = match v["managers"].as_array() {
        Some(ms) if !ms.is_empty() => ms
            .iter()
            .map(|m| {
                let unreachable = m["reachable"] == Value::Bool(false);
                vec![
                    format!("{} ({})", s(&m["hostname"]), s(&m["node_id"])),
                    if unreachable {
                        "unreachable".into()
                    } else {
                        s(&m["state"])
                    },
                    s(&m["priority"]),
                    s(&m["eligible"]),
                    s(&m["transitions"]),
                    s(&m["last_transition"]),
                ]
            })
            .collect(),
        _ => vec![vec![
            s(&v["node_id"]),
            s(&c["state"]),
            s(&c["priority"]),
            s(&c["eligible"]),
            s(&c["transitions"]),
            s(&c["last_transition"]),
        ]],
    };
    crate::output::table(
        &[
            "NODE",
            "STATE",
            "PRIORITY",
            "IN MAJORITY",
            "TRANSITIONS",
            "LAST TRANSITION",
        ],
        rows,
    );
    if let Some(err) = v["error"].as_str() {
        println!("error        {err}");
    }
    println!(
        "adverts sent {} (priority 0: {}), received {} (priority 0: {}); became master {} times; GARP {}; send errors {}; VIP errors {}",
        s(&c["adverts_sent"]),
        s(&c["priority_zero_sent"]),
        s(&c["adverts_received"]),
        s(&c["priority_zero_received"]),
        s(&c["became_master"]),
        s(&c["garp_sent"]),
        s(&c["send_errors"]),
        s(&c["vip_errors"])
    );
    if let Some(d) = c["dropped"].as_object().filter(|d| !d.is_empty()) {
        let parts: Vec<String> = d.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("dropped      {}", parts.join(", "));
    }
    Ok(())
}

/// The request for a `vip` subcommand.
pub fn request(cmd: &VipCmd) -> anyhow::Result<Request> {
    Ok(match cmd {
        VipCmd::Set {
            address,
            interface,
            vrid,
            advert_interval,
        } => set_request(address, interface, *vrid, advert_interval)?,
        VipCmd::Status(_) => Request::VipStatus,
        VipCmd::Unset => Request::VipUnset,
    })
}
