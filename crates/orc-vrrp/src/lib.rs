//! orc-vrrp
