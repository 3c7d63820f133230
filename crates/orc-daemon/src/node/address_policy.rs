//! When a node re-advertises its cluster address, and which one it picks: pure
//! decisions over what the kernel says (see `address_watch` for the probing).

use std::net::{IpAddr, SocketAddr};

/// What `orc daemon --advertise` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdvertiseMode {
    /// Follow the address the kernel uses toward the cluster (the default).
    Auto,
    /// This literal `IP:PORT`, announced at start and never changed.
    Fixed(String),
}

/// Why automatic re-advertising is off although the mode is [`AdvertiseMode::Auto`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AutoOff {
    /// The daemon listens on one IP only: a new address would not be served.
    #[error("the cluster port listens on {0} only, so a new address would not be served: automatic re-advertising is off (listen on 0.0.0.0:PORT to have it)")]
    SpecificListen(String),
}

/// Reads `--advertise`: absent or `auto` is [`AdvertiseMode::Auto`]; anything else is a
/// literal address (`IP` gets the cluster port of `listen`).
pub(crate) fn mode(advertise: Option<&str>, listen: &str) -> AdvertiseMode {
    match advertise.map(str::trim) {
        None | Some("") => AdvertiseMode::Auto,
        Some(a) if a.eq_ignore_ascii_case("auto") => AdvertiseMode::Auto,
        Some(a) if a.contains(':') => AdvertiseMode::Fixed(a.to_string()),
        Some(a) => {
            let port = listen.rsplit(':').next().unwrap_or("4747");
            AdvertiseMode::Fixed(format!("{a}:{port}"))
        }
    }
}

/// Whether the cluster port (`listen`) serves whatever address the node gets: only
/// a wildcard listen address does.
pub(crate) fn auto_allowed(listen: &str) -> Result<(), AutoOff> {
    match listen.parse::<SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => Ok(()),
        Ok(_) => Err(AutoOff::SpecificListen(listen.to_string())),
        // A host name: whatever it resolves to is served as the kernel decides.
        Err(_) => Ok(()),
    }
}

/// What the kernel says about this node's addresses right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    /// The advertised IP is still on one of this node's interfaces.
    pub advertised_is_local: bool,
    /// The source address the kernel picks toward another cluster member, if any
    /// route leads there.
    pub route_source: Option<IpAddr>,
}

/// The address to re-advertise, if any: only when the advertised IP is gone from
/// every interface and the kernel routes toward the cluster from another, usable
/// one (same port). While there is no route (the interface is between two
/// addresses), nothing changes yet.
pub(crate) fn next_address(advertised: SocketAddr, probe: Probe) -> Option<SocketAddr> {
    if probe.advertised_is_local {
        return None;
    }
    let src = probe.route_source?;
    if src == advertised.ip() || src.is_unspecified() || src.is_loopback() {
        return None;
    }
    Some(SocketAddr::new(src, advertised.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn advertise_flag_modes() {
        assert_eq!(mode(None, "0.0.0.0:4747"), AdvertiseMode::Auto);
        assert_eq!(mode(Some("auto"), "0.0.0.0:4747"), AdvertiseMode::Auto);
        assert_eq!(mode(Some("AUTO"), "0.0.0.0:4747"), AdvertiseMode::Auto);
        assert_eq!(
            mode(Some("10.0.0.5"), "0.0.0.0:4800"),
            AdvertiseMode::Fixed("10.0.0.5:4800".into())
        );
        assert_eq!(
            mode(Some("10.0.0.5:4747"), "0.0.0.0:4800"),
            AdvertiseMode::Fixed("10.0.0.5:4747".into())
        );
    }

    #[test]
    fn only_a_wildcard_listen_address_follows_changes() {
        assert!(auto_allowed("0.0.0.0:4747").is_ok());
        assert!(auto_allowed("[::]:4747").is_ok());
        let e = auto_allowed("10.0.0.5:4747").unwrap_err();
        assert!(e.to_string().contains("10.0.0.5:4747"), "{e}");
    }

    #[test]
    fn a_still_present_address_is_kept_even_if_another_is_preferred() {
        let p = Probe {
            advertised_is_local: true,
            route_source: ip("10.0.0.9"),
        };
        assert_eq!(next_address(sa("10.0.0.5:4747"), p), None);
    }

    #[test]
    fn a_gone_address_is_replaced_by_the_route_source_with_the_same_port() {
        let p = Probe {
            advertised_is_local: false,
            route_source: ip("10.0.0.9"),
        };
        assert_eq!(
            next_address(sa("10.0.0.5:4800"), p),
            Some(sa("10.0.0.9:4800"))
        );
    }

    #[test]
    fn no_route_or_an_unusable_source_changes_nothing() {
        for src in [None, ip("127.0.0.1"), ip("0.0.0.0"), ip("10.0.0.5")] {
            let p = Probe {
                advertised_is_local: false,
                route_source: src,
            };
            assert_eq!(next_address(sa("10.0.0.5:4747"), p), None, "{src:?}");
        }
    }
}
