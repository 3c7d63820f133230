//! Kernel notifications of this network namespace's IPv4 addresses coming and going
//! (rtnetlink multicast group `RTNLGRP_IPV4_IFADDR`): what lets a node notice a new
//! DHCP lease at once instead of at its next poll.

use crate::NetError;
use futures::StreamExt;
use rtnetlink::packet_core::NetlinkMessage;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{AsyncSocket, SocketAddr};

/// A subscription to IPv4 address changes; dropping it closes the socket.
pub struct AddressEvents {
    messages: futures::channel::mpsc::UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        SocketAddr,
    )>,
    connection: tokio::task::JoinHandle<()>,
}

impl AddressEvents {
    /// Subscribes (in the calling thread's network namespace).
    pub fn subscribe() -> Result<AddressEvents, NetError> {
        let (mut conn, _handle, messages) =
            rtnetlink::new_connection().map_err(NetError::io("open a netlink socket"))?;
        conn.socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(
                0,
                rtnetlink::constants::RTMGRP_IPV4_IFADDR,
            ))
            .map_err(NetError::io("subscribe to address changes"))?;
        Ok(AddressEvents {
            messages,
            connection: tokio::spawn(conn),
        })
    }

    /// Waits for the next address added or removed; `false` once the socket closed.
    pub async fn changed(&mut self) -> bool {
        while let Some((m, _)) = self.messages.next().await {
            if is_address_change(&m) {
                return true;
            }
        }
        false
    }
}

impl Drop for AddressEvents {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

fn is_address_change(m: &NetlinkMessage<RouteNetlinkMessage>) -> bool {
    matches!(
        &m.payload,
        rtnetlink::packet_core::NetlinkPayload::InnerMessage(
            RouteNetlinkMessage::NewAddress(_) | RouteNetlinkMessage::DelAddress(_)
        )
    )
}
