//! The I/O half: a NETLINK_NETFILTER socket in the calling thread's network namespace,
//! one batch sent, every ACK read back and errors matched to the object that failed.

use super::attr::Writer;
use super::batch::{self, Batch, FAMILY_IP, F_ACK, F_REQUEST};
use super::TABLE;
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{setsockopt, sockopt};
use std::collections::BTreeSet;
use std::os::fd::AsFd;

/// `NLMSG_ERROR`: an ACK (error 0) or an error, with the sequence number of the request.
const NLMSG_ERROR: u16 = 2;
/// How long the kernel may take to answer a batch.
const ANSWER_TIMEOUT_MS: u16 = 10_000;

/// What went wrong talking nf_tables.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The socket could not be opened, sent on or read (`op` says which).
    Socket {
        op: &'static str,
        source: std::io::Error,
    },
    /// The kernel refused the message creating `object` with errno `errno`.
    Refused { object: String, errno: i32 },
}

fn socket_err(op: &'static str) -> impl FnOnce(std::io::Error) -> Failure {
    move |source| Failure::Socket { op, source }
}

/// Opens the socket with room to send `size` bytes and to queue `acks` ACKs.
fn open(size: usize, acks: usize) -> Result<Socket, Failure> {
    let mut sock =
        Socket::new(NETLINK_NETFILTER).map_err(socket_err("open a NETLINK_NETFILTER socket"))?;
    sock.bind_auto()
        .map_err(socket_err("bind the netfilter socket"))?;
    // Short ACKs (no copy of each request) and room for a large batch and all its ACKs
    // (each queued ACK costs about a kilobyte of receive buffer); best effort.
    let _ = sock.set_cap_ack(true);
    let _ = setsockopt(&sock, sockopt::SndBufForce, &size.max(1 << 20));
    let _ = setsockopt(&sock, sockopt::RcvBufForce, &(acks * 2048).max(1 << 20));
    Ok(sock)
}

/// One netlink message read back: type, sequence number, and for NLMSG_ERROR the errno.
struct Answer {
    ty: u16,
    seq: u32,
    errno: Option<i32>,
}

fn answers(buf: &[u8]) -> Vec<Answer> {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len() >= at + 16 {
        let word = |o: usize| {
            [
                buf[at + o],
                buf[at + o + 1],
                buf[at + o + 2],
                buf[at + o + 3],
            ]
        };
        let len = u32::from_ne_bytes(word(0)) as usize;
        if len < 16 || at + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let seq = u32::from_ne_bytes(word(8));
        let errno = (ty == NLMSG_ERROR && len >= 20).then(|| -i32::from_ne_bytes(word(16)));
        out.push(Answer { ty, seq, errno });
        at += len.next_multiple_of(4);
    }
    out
}

/// Waits up to `timeout_ms` for something to read; false on timeout.
fn readable(sock: &Socket, timeout_ms: u16) -> Result<bool, Failure> {
    let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(timeout_ms))
        .map(|n| n > 0)
        .map_err(|e| Failure::Socket {
            op: "wait for the kernel's answer",
            source: e.into(),
        })
}

fn receive(sock: &Socket) -> Result<Vec<Answer>, Failure> {
    let (buf, _) = sock
        .recv_from_full()
        .map_err(socket_err("read the kernel's answer"))?;
    Ok(answers(&buf))
}

/// Sends `batch` and waits for every ACK; the first refusal is the error.
pub(crate) fn send(batch: &Batch) -> Result<(), Failure> {
    let sock = open(batch.bytes.len() * 2, batch.objects.len())?;
    sock.send(&batch.bytes, 0)
        .map_err(socket_err("send the nf_tables batch"))?;
    let mut pending: BTreeSet<u32> = batch.objects.iter().map(|(s, _)| *s).collect();
    let mut refused: Option<(u32, i32)> = None;
    while !pending.is_empty() {
        // The kernel answers the whole batch while handling send(): once one error is
        // in, read only what is already queued.
        let wait = if refused.is_some() {
            0
        } else {
            ANSWER_TIMEOUT_MS
        };
        if !readable(&sock, wait)? {
            break;
        }
        for a in receive(&sock)? {
            if let (NLMSG_ERROR, Some(errno)) = (a.ty, a.errno) {
                pending.remove(&a.seq);
                if errno != 0 && refused.is_none_or(|(s, _)| a.seq < s) {
                    refused = Some((a.seq, errno));
                }
            }
        }
    }
    match refused {
        Some((seq, errno)) => Err(Failure::Refused {
            object: object(batch, seq),
            errno,
        }),
        None if pending.is_empty() => Ok(()),
        None => Err(Failure::Socket {
            op: "wait for the kernel's answer",
            source: std::io::Error::from(std::io::ErrorKind::TimedOut),
        }),
    }
}

fn object(batch: &Batch, seq: u32) -> String {
    batch
        .objects
        .iter()
        .find(|(s, _)| *s == seq)
        .map(|(_, o)| o.clone())
        .unwrap_or_else(|| format!("batch (message {seq})"))
}

/// Whether table `ip orc` exists, asked with NFT_MSG_GETTABLE.
pub(crate) fn table_exists() -> Result<bool, Failure> {
    let sock = open(0, 1)?;
    let mut w = Writer::default();
    w.begin(
        batch::msg_type(batch::GETTABLE),
        F_REQUEST | F_ACK,
        1,
        FAMILY_IP,
        0,
    );
    w.str(1, TABLE);
    w.end();
    sock.send(&w.into_bytes(), 0)
        .map_err(socket_err("send the table query"))?;
    let mut found = false;
    loop {
        if !readable(&sock, ANSWER_TIMEOUT_MS)? {
            return Err(Failure::Socket {
                op: "wait for the kernel's answer",
                source: std::io::Error::from(std::io::ErrorKind::TimedOut),
            });
        }
        for a in receive(&sock)? {
            match a.errno {
                _ if a.ty == batch::msg_type(batch::NEWTABLE) => found = true,
                Some(0) => return Ok(found),
                Some(libc::ENOENT) => return Ok(false),
                Some(errno) => {
                    return Err(Failure::Refused {
                        object: format!("table ip {TABLE}"),
                        errno,
                    })
                }
                None => {}
            }
        }
    }
}
