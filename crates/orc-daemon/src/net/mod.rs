//! Node-to-node networking: the gRPC server, dialing peers, the leader's dispatcher
//! (sessions and heartbeats) and the session every other node keeps with the leader.

pub mod dialer;
pub mod dispatcher;
pub mod images;
pub mod remote;
pub mod server;
pub mod session;
