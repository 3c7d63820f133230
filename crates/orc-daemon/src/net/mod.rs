//! Transport, client side: dialing other nodes over mutual TLS ([`dialer`]) and
//! reaching the leader from anywhere, following "not leader" answers ([`remote`]).
//! The serving side of the cluster port is the `rpc` front door.

pub mod dialer;
pub mod remote;
