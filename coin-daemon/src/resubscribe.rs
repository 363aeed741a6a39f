//! Keeping a block-notification subscription (P2P or ZMQ) up: run it, and after it ends
//! run it again with backoff, until cancelled.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How one subscription ended.
pub(crate) enum Ended<E> {
    /// It had connected, then ended with this error.
    Lost(E),
    /// It never connected.
    Unreachable(E),
}

/// Runs `subscribe` until `cancel`, again after each end, 1 s doubling to 30 s between
/// attempts (back to 1 s after one that had connected). A lost connection is warned about
/// each time; an unreachable `peer` once, not at every retry.
pub(crate) async fn keep_subscribed<E, F, Fut>(
    what: &str,
    peer: &str,
    cancel: &CancellationToken,
    mut subscribe: F,
) where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Ended<E>>,
{
    let mut backoff = MIN_BACKOFF;
    let mut logged_down = false;
    loop {
        let ended = tokio::select! {
            () = cancel.cancelled() => return,
            ended = subscribe() => ended,
        };
        match ended {
            Ended::Lost(error) => {
                backoff = MIN_BACKOFF;
                tracing::warn!(%peer, %error, "{what} connection lost; reconnecting");
                logged_down = true;
            }
            Ended::Unreachable(error) => {
                if !logged_down {
                    tracing::warn!(%peer, %error, "{what} cannot connect; retrying with backoff");
                    logged_down = true;
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
