//! Networking keys: the top-level `[networks.NAME]` tables, and a service's `networks`,
//! `ports` and `network_mode`, checked against each other across the whole stack.

use crate::document::{Checker, Fields, Node, Val};
use crate::names::check_name;
use crate::{NetworkMode, NetworkSpec, PortSpec, Protocol, PublishMode, DEFAULT_NETWORK};
use std::collections::{BTreeMap, BTreeSet};
use toml_edit::Value;

const PORT_KEYS: &[&str] = &["published", "target", "protocol", "mode"];

/// What the services of one stack share: the declared networks and the ports published
/// so far (to report a port published twice, naming the first user).
pub(crate) struct StackNetworks {
    names: BTreeSet<String>,
    published: BTreeMap<(Protocol, u16), String>,
}

impl StackNetworks {
    /// Reads the optional top-level `networks` table; `default` always exists.
    pub fn parse(
        ck: &mut Checker<'_>,
        node: Option<&Node<'_>>,
    ) -> (Self, BTreeMap<String, NetworkSpec>) {
        let mut specs = BTreeMap::from([(DEFAULT_NETWORK.to_string(), NetworkSpec::default())]);
        if let Some(node) = node {
            for entry in ck.entries(node).unwrap_or_default() {
                if let Err(why) = check_name(&entry.key) {
                    ck.error(&entry.key_span, &entry.path, format!("network {why}"));
                    continue;
                }
                // No keys yet: an empty table declares the network.
                if ck.table(&entry, &[]).is_some() {
                    specs.insert(entry.key.clone(), NetworkSpec::default());
                }
            }
        }
        let names = specs.keys().cloned().collect();
        let book = StackNetworks {
            names,
            published: BTreeMap::new(),
        };
        (book, specs)
    }
}

/// A service's `network_mode`, `networks` and `ports`, into `(mode, networks, ports)`.
pub(crate) fn parse_service_network(
    ck: &mut Checker<'_>,
    f: &Fields<'_>,
    book: &mut StackNetworks,
) -> (NetworkMode, Vec<String>, Vec<PortSpec>) {
    let host = match f.get("network_mode") {
        None => false,
        Some(n) => match ck.string(n) {
            Some("host") => true,
            Some("stack") | None => false,
            Some(other) => {
                ck.invalid(
                    n,
                    format!(
                        "unsupported network mode {other:?}; use \"host\" (the node's network) \
                         or leave it out (the stack's networks)"
                    ),
                );
                false
            }
        },
    };
    if host {
        for key in ["networks", "ports"] {
            if let Some(n) = f.get(key) {
                ck.error(
                    &n.key_span,
                    &n.path,
                    format!(
                        "`{key}` cannot be used with network_mode = \"host\": the service \
                         shares the node's network and listens on its ports directly"
                    ),
                );
            }
        }
        return (NetworkMode::Host, Vec::new(), Vec::new());
    }
    let networks = match f.get("networks") {
        None => vec![DEFAULT_NETWORK.to_string()],
        Some(n) => networks(ck, n, book),
    };
    let ports = f
        .get("ports")
        .map(|n| ports(ck, n, book))
        .unwrap_or_default();
    (NetworkMode::Stack, networks, ports)
}

fn networks(ck: &mut Checker<'_>, n: &Node<'_>, book: &StackNetworks) -> Vec<String> {
    let Some(elements) = ck.array(n, "an array of network names, e.g. [\"front\"]") else {
        return Vec::new();
    };
    if elements.is_empty() {
        ck.invalid(
            n,
            "is empty; leave it out to join the stack's default network, or use \
             network_mode = \"host\"",
        );
    }
    let mut out: Vec<String> = Vec::new();
    for element in &elements {
        let Some(name) = ck.string(element) else {
            continue;
        };
        if !book.names.contains(name) {
            let declared: Vec<&str> = book.names.iter().map(String::as_str).collect();
            ck.invalid(
                element,
                format!(
                    "unknown network {name:?}; declare it with a [networks.{name}] table \
                     (declared: {})",
                    declared.join(", ")
                ),
            );
        } else if out.iter().any(|o| o == name) {
            ck.invalid(element, format!("network {name:?} is listed twice"));
        } else {
            out.push(name.to_string());
        }
    }
    out
}

fn ports(ck: &mut Checker<'_>, n: &Node<'_>, book: &mut StackNetworks) -> Vec<PortSpec> {
    let expected = "an array of ports, e.g. [\"8080:80\"] or [{ published = 8080, target = 80 }]";
    let Some(elements) = ck.array(n, expected) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for element in &elements {
        let port = match element.as_str() {
            Some(text) => match parse_short(text) {
                Ok(p) => Some(p),
                Err(why) => {
                    ck.invalid(element, why);
                    None
                }
            },
            None => long_form(ck, element),
        };
        let Some(port) = port else { continue };
        let key = (port.protocol, port.published);
        if let Some(first) = book.published.get(&key) {
            ck.invalid(
                element,
                format!(
                    "port {}/{} is already published by {first}",
                    port.published,
                    port.protocol.as_str()
                ),
            );
            continue;
        }
        book.published.insert(key, element.path.clone());
        out.push(port);
    }
    out
}

/// `"8080:80"` or `"8080:80/udp"`, always in ingress mode.
pub(crate) fn parse_short(text: &str) -> Result<PortSpec, String> {
    let (ports, protocol) = match text.split_once('/') {
        None => (text, Protocol::Tcp),
        Some((p, proto)) => (p, protocol(proto)?),
    };
    let Some((published, target)) = ports.split_once(':') else {
        return Err(format!(
            "port {text:?} must be \"PUBLISHED:TARGET\", e.g. \"8080:80\" (orc does not pick \
             a published port for you)"
        ));
    };
    Ok(PortSpec {
        published: port_number(published, "published")?,
        target: port_number(target, "target")?,
        protocol,
        mode: PublishMode::Ingress,
    })
}

fn port_number(text: &str, what: &str) -> Result<u16, String> {
    let value: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{what} port {text:?} is not a number"))?;
    check_port(value, what)
}

fn check_port(value: i64, what: &str) -> Result<u16, String> {
    match u16::try_from(value) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what} port {value} is out of range 1..=65535")),
    }
}

fn protocol(text: &str) -> Result<Protocol, String> {
    match text {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        other => Err(format!(
            "unknown protocol {other:?}; use \"tcp\" or \"udp\""
        )),
    }
}

/// `{ published = 8080, target = 80, protocol = "tcp", mode = "ingress" }`.
fn long_form(ck: &mut Checker<'_>, node: &Node<'_>) -> Option<PortSpec> {
    if !matches!(node.val, Val::Table(_) | Val::Value(Value::InlineTable(_))) {
        ck.expected(node, "a string such as \"8080:80\" or a table");
        return None;
    }
    let f = ck.table(node, PORT_KEYS)?;
    let number = |ck: &mut Checker<'_>, key: &str| -> Option<u16> {
        let Some(n) = f.get(key) else {
            ck.missing(&f, key, ": a port number 1..=65535");
            return None;
        };
        let value = ck.integer(n)?;
        check_port(value, key)
            .map_err(|why| ck.invalid(n, why))
            .ok()
    };
    let published = number(ck, "published");
    let target = number(ck, "target");
    let protocol = match f.get("protocol") {
        None => Some(Protocol::Tcp),
        Some(n) => ck
            .string(n)
            .and_then(|s| protocol(s).map_err(|why| ck.invalid(n, why)).ok()),
    };
    let mode = match f.get("mode").map(|n| (n, ck.string(n))) {
        None => Some(PublishMode::Ingress),
        Some((_, Some("ingress"))) => Some(PublishMode::Ingress),
        Some((_, Some("host"))) => Some(PublishMode::Host),
        Some((n, Some(other))) => {
            ck.invalid(
                n,
                format!("unknown publish mode {other:?}; use \"ingress\" or \"host\""),
            );
            None
        }
        Some((_, None)) => None,
    };
    Some(PortSpec {
        published: published?,
        target: target?,
        protocol: protocol?,
        mode: mode?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ports_parse_and_reject_what_they_should() {
        let p = parse_short("8080:80").unwrap();
        assert_eq!(
            (p.published, p.target, p.protocol),
            (8080, 80, Protocol::Tcp)
        );
        assert_eq!(p.mode, PublishMode::Ingress);
        assert_eq!(parse_short("53:5353/udp").unwrap().protocol, Protocol::Udp);
        assert!(parse_short("80").is_err());
        assert!(parse_short("0:80").is_err());
        assert!(parse_short("70000:80").is_err());
        assert!(parse_short("80:-1").is_err());
        assert!(parse_short("80:80/sctp").is_err());
        assert!(parse_short("a:80").is_err());
    }
}
