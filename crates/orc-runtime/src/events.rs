//! containerd's event stream, narrowed to what changes the runtime's namespace's
//! containers, tasks and images: so a caller can mirror them without polling.

use crate::{Runtime, RuntimeError};
use containerd_client::services::v1::{events_client::EventsClient, SubscribeRequest};

/// The topics [`Runtime::changes`] delivers (regular expressions on the topic, as
/// containerd's filter syntax takes them).
const TOPICS: [&str; 2] = ["^/(containers|images)/", "^/tasks/(exit|delete|oom)$"];

/// Topics waiting to be read; beyond this the forwarder waits for the reader.
const QUEUE: usize = 64;

/// A subscription to containerd's events for one namespace ([`Runtime::changes`]).
#[derive(Debug)]
pub struct Changes {
    topics: tokio::sync::mpsc::Receiver<Result<String, RuntimeError>>,
}

impl Changes {
    /// Waits for the next change and returns its topic (`/containers/delete`,
    /// `/images/create`, `/tasks/exit`…). An error means the stream ended (containerd
    /// stopped or restarted): events may have been missed, so re-list, then
    /// subscribe again.
    pub async fn next(&mut self) -> Result<String, RuntimeError> {
        match self.topics.recv().await {
            Some(r) => r,
            None => Err(RuntimeError::Unavailable(
                "containerd ended the event stream".into(),
            )),
        }
    }
}

/// Forwards the subscription's topics until it ends or the [`Changes`] is dropped.
async fn forward(
    mut client: EventsClient<tonic::transport::Channel>,
    req: SubscribeRequest,
    tx: tokio::sync::mpsc::Sender<Result<String, RuntimeError>>,
) {
    // containerd sends the response headers with the first event only, so the
    // call itself waits for one too.
    let mut stream = tokio::select! {
        r = client.subscribe(req) => match r {
            Ok(r) => r.into_inner(),
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        },
        _ = tx.closed() => return,
    };
    loop {
        let item = tokio::select! {
            m = stream.message() => m,
            _ = tx.closed() => return,
        };
        let item = match item {
            Ok(Some(envelope)) => Ok(envelope.topic),
            Ok(None) => Err(RuntimeError::Unavailable(
                "containerd ended the event stream".into(),
            )),
            Err(e) => Err(e.into()),
        };
        let last = item.is_err();
        if tx.send(item).await.is_err() || last {
            return;
        }
    }
}

/// containerd's filters (any of them matches) for `namespace`'s changes.
fn filters(namespace: &str) -> Vec<String> {
    TOPICS
        .iter()
        .map(|t| format!("namespace=={namespace:?},topic~={t:?}"))
        .collect()
}

impl Runtime {
    /// Subscribes to the changes of this runtime's namespace: containers and images
    /// created, updated or deleted, tasks that exited or were deleted. An idle
    /// subscription costs containerd nothing (no polling on either side).
    ///
    /// The request is sent in the background: events from just before containerd
    /// registers it may be missed, so list after subscribing, not before. Needs a
    /// tokio runtime.
    pub fn changes(&self) -> Changes {
        let (tx, topics) = tokio::sync::mpsc::channel(QUEUE);
        let req = SubscribeRequest {
            filters: filters(self.namespace()),
        };
        tokio::spawn(forward(EventsClient::new(self.channel()), req, tx));
        Changes { topics }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_name_the_namespace_and_the_topics() {
        assert_eq!(
            super::filters("orc"),
            vec![
                r#"namespace=="orc",topic~="^/(containers|images)/""#,
                r#"namespace=="orc",topic~="^/tasks/(exit|delete|oom)$""#,
            ]
        );
    }
}
