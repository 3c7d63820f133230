//! Docker's log stream framing: without a TTY every line is one frame with an
//! 8-byte header `[stream, 0, 0, 0, len as u32 big-endian]`.

/// Which stream a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 1,
    Stderr = 2,
    /// Errors of the daemon itself (a node that could not be read).
    System = 3,
}

/// One frame holding `payload` (a whole line, its newline included).
pub fn frame(stream: Stream, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[stream as u8, 0, 0, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload[..len as usize]);
    out
}

/// The `details` prefix of a swarm log line: the three `com.docker.swarm.*` keys
/// sorted and query-escaped, then a space.
pub fn details(node: &str, service: &str, task: &str) -> String {
    format!(
        "com.docker.swarm.node.id={},com.docker.swarm.service.id={},com.docker.swarm.task.id={} ",
        escape(node),
        escape(service),
        escape(task)
    )
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `Content-Type` of a log stream for an API version (raw before 1.42).
pub fn content_type(api: (u32, u32)) -> &'static str {
    if api >= (1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_one_line() {
        let f = frame(Stream::Stdout, b"hi\n");
        assert_eq!(f, vec![1, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
        assert_eq!(frame(Stream::System, b"")[0], 3);
    }

    #[test]
    fn details_are_sorted_and_escaped() {
        assert_eq!(
            details("n1", "s 1", "t,1"),
            "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s%201,com.docker.swarm.task.id=t%2C1 "
        );
        assert_eq!(content_type((1, 41)), "application/vnd.docker.raw-stream");
    }
}
