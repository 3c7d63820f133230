//! VRRP with real packets: orc and keepalived in network namespaces on a
//! bridged LAN. Needs root, iproute2 and keepalived.

mod support;

mod failover;
mod forged;
mod interop;
mod measure;
mod quorum;
