//! Network bytes of a network namespace, from `/proc/PID/net/dev` of a process in it.

/// Received and sent bytes over every interface but loopback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetBytes {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// `/proc/net/dev`: two header lines, then "  eth0: RXbytes packets errs drop fifo
/// frame compressed multicast TXbytes …". Lines that don't parse are skipped.
pub fn parse_net_dev(text: &str) -> NetBytes {
    let mut n = NetBytes::default();
    for line in text.lines().skip(2) {
        let Some((iface, rest)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_ascii_whitespace()
            .map_while(|x| x.parse().ok())
            .collect();
        if f.len() >= 9 {
            n.rx_bytes = n.rx_bytes.saturating_add(f[0]);
            n.tx_bytes = n.tx_bytes.saturating_add(f[8]);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_all_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
eth0:   5000      40    0    0    0     0          0         0     3000      30    0    0    0     0       0          0\n  \
eth1:100 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n";
        assert_eq!(
            parse_net_dev(text),
            NetBytes {
                rx_bytes: 5100,
                tx_bytes: 3007
            }
        );
        assert_eq!(parse_net_dev(""), NetBytes::default());
    }
}
