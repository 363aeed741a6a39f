//! Block notifications from a daemon's ZMQ publisher (`-zmqpubhashblock=tcp://…`): each
//! `hashblock` message wakes the template source, as a blocknotify script or a P2P block
//! announcement does, without a process per block or a peer slot on the daemon.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zeromq::{Socket, SocketRecv, SubSocket};

use crate::template_source::{TemplateWaker, WakeSource};

/// The topic bitcoind publishes a new tip's hash under.
const TOPIC: &str = "hashblock";
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Subscribes to `hashblock` at `endpoint` (`tcp://host:port`, the daemon's
/// `-zmqpubhashblock`) until cancelled, waking `waker` on every new block. A publisher
/// that cannot be reached is retried with backoff, with one warning until it answers; a
/// gap in the publisher's sequence numbers (messages ZMQ dropped) is logged, and the
/// wake-up it still causes fetches the current tip either way.
pub fn spawn_zmq_block_notify(
    endpoint: String,
    waker: TemplateWaker,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        let mut warned = false;
        loop {
            let mut connected = false;
            let outcome = tokio::select! {
                () = cancel.cancelled() => return,
                outcome = subscribe(&endpoint, &waker, &mut connected) => outcome,
            };
            if connected {
                backoff = MIN_BACKOFF;
                warned = false;
            }
            if let Err(error) = outcome
                && !warned
            {
                tracing::warn!(%endpoint, %error, "ZMQ block notify unavailable; retrying with backoff");
                warned = true;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

/// One subscription: returns the error that ended it; `connected` says whether it got
/// that far.
async fn subscribe(
    endpoint: &str,
    waker: &TemplateWaker,
    connected: &mut bool,
) -> Result<(), zeromq::ZmqError> {
    let mut socket = SubSocket::new();
    socket.connect(endpoint).await?;
    socket.subscribe(TOPIC).await?;
    tracing::info!(%endpoint, "ZMQ block notify connected");
    *connected = true;
    let mut last_sequence: Option<u32> = None;
    loop {
        let message = socket.recv().await?;
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
