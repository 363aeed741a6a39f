//! Block notifications from a daemon's ZMQ publisher (`-zmqpubhashblock=tcp://…`): each
//! `hashblock` message wakes the template source, as a blocknotify script or a P2P block
//! announcement does, without a process per block or a peer slot on the daemon.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zeromq::{Socket, SocketRecv, SubSocket};

use crate::resubscribe::{Ended, keep_subscribed};
use crate::template_source::{TemplateWaker, WakeSource};

/// The topic bitcoind publishes a new tip's hash under.
const TOPIC: &str = "hashblock";

/// Subscribes to `hashblock` at `endpoint` (`tcp://host:port`, the daemon's
/// `-zmqpubhashblock`) until cancelled, waking `waker` on every new block. A publisher
/// that cannot be reached is retried with backoff, with one warning; a
/// gap in the publisher's sequence numbers (messages ZMQ dropped) is logged, and the
/// wake-up it still causes fetches the current tip either way.
pub fn spawn_zmq_block_notify(
    endpoint: String,
    waker: TemplateWaker,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(
        async move {
            keep_subscribed("ZMQ block notify", &endpoint, &cancel, || {
                subscribe(&endpoint, &waker)
            })
            .await;
        }
        .in_current_span(),
    )
}

/// One subscription, until its error.
async fn subscribe(endpoint: &str, waker: &TemplateWaker) -> Ended<zeromq::ZmqError> {
    let mut socket = SubSocket::new();
    let subscribed = async {
        socket.connect(endpoint).await?;
        socket.subscribe(TOPIC).await
    };
    if let Err(error) = subscribed.await {
        return Ended::Unreachable(error);
    }
    tracing::info!(%endpoint, "ZMQ block notify connected");
    let mut last_sequence: Option<u32> = None;
    loop {
        let message = match socket.recv().await {
            Ok(message) => message,
            Err(error) => return Ended::Lost(error),
        };
        if message.get(0).map(|topic| &topic[..]) != Some(TOPIC.as_bytes()) {
            continue;
        }
        let sequence = message
            .get(2)
            .and_then(|bytes| <[u8; 4]>::try_from(&bytes[..]).ok())
            .map(u32::from_le_bytes);
        if let (Some(last), Some(now)) = (last_sequence, sequence) {
            let missed = now.wrapping_sub(last).wrapping_sub(1);
            if missed > 0 {
                tracing::warn!(%endpoint, missed, "ZMQ block notify missed messages");
            }
        }
        last_sequence = sequence.or(last_sequence);
        waker.wake(WakeSource::Zmq);
    }
}
