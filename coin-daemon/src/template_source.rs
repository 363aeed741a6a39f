use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::group::DaemonGroup;
use crate::template::BlockTemplate;

/// How often templates are fetched (NOMP's `blockRefreshInterval` and `jobRebroadcastTimeout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOptions {
    /// Poll `getblocktemplate` this often (`blockRefreshInterval`, NOMP default 1000 ms).
    pub refresh_interval: Duration,
    /// Publish a refreshed template (new transactions and time) when the block has not
    /// changed for this long (`jobRebroadcastTimeout`, NOMP default 55 s).
    pub rebroadcast_after: Duration,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions {
            refresh_interval: Duration::from_millis(1000),
            rebroadcast_after: Duration::from_secs(55),
        }
    }
}

/// Who asked for an immediate template fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeSource {
    /// The daemon's `blocknotify` script, through the CLI.
    BlockNotify,
    /// A block announcement from the P2P peer.
    P2p,
    /// A `hashblock` message from the daemon's ZMQ publisher.
    Zmq,
    /// Anything else (an operator, a test).
    Manual,
}

/// Why a template was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The first template after start.
    Initial,
    /// The periodic poll found a new block.
    Poll,
    /// A wake-up found a new block.
    Wake(WakeSource),
    /// Same block, refreshed after `rebroadcast_after`.
    Rebroadcast,
}

/// A template as published to the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateUpdate {
    /// The template.
    pub template: Arc<BlockTemplate>,
    /// Whether it builds on a different block than the previous one (a clean job).
    pub new_block: bool,
    /// What made the source fetch it.
    pub trigger: Trigger,
    /// When it was fetched.
    pub fetched_at: Instant,
    /// When its `getblocktemplate` call was sent: the daemon's chain is at least as new
    /// as at this moment.
    pub requested_at: Instant,
}

/// Wakes a [`TemplateSource`] for an immediate fetch. Cheap to clone; wake-ups that arrive
/// while one is pending are merged.
#[derive(Debug, Clone)]
pub struct TemplateWaker {
    sender: mpsc::Sender<WakeSource>,
}

impl TemplateWaker {
    /// Asks for a fetch now. Returns false if the source has stopped.
    pub fn wake(&self, source: WakeSource) -> bool {
        match self.sender.try_send(source) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Fetches block templates from a daemon group and publishes each new one.
///
/// Polls every `refresh_interval` and whenever woken; publishes when the previous block
/// hash changes (a new block: clean jobs) or, with the block unchanged, once
/// `rebroadcast_after` has passed since the last publication. Daemon errors are logged once
/// per outage and retried at the next poll.
#[derive(Debug)]
pub struct TemplateSource {
    /// The latest template; `None` until the first fetch succeeds.
    pub updates: watch::Receiver<Option<TemplateUpdate>>,
    /// Wakes the source.
    pub waker: TemplateWaker,
    /// The polling task; it ends when the cancellation token is cancelled.
    pub task: JoinHandle<()>,
}

impl TemplateSource {
    /// Starts polling `daemons` on the current tokio runtime until `cancel` is cancelled.
    pub fn spawn(
        daemons: Arc<DaemonGroup>,
        options: TemplateOptions,
        cancel: CancellationToken,
    ) -> TemplateSource {
        let (update_tx, updates) = watch::channel(None);
        let (wake_tx, wake_rx) = mpsc::channel(1);
        let task =
            tokio::spawn(poll_loop(daemons, options, cancel, update_tx, wake_rx).in_current_span());
        TemplateSource {
            updates,
            waker: TemplateWaker { sender: wake_tx },
            task,
        }
    }
}

async fn poll_loop(
    daemons: Arc<DaemonGroup>,
    options: TemplateOptions,
    cancel: CancellationToken,
    updates: watch::Sender<Option<TemplateUpdate>>,
    mut wakes: mpsc::Receiver<WakeSource>,
) {
    let mut trigger = Trigger::Initial;
    let mut last: Option<(hashing::BlockHash, Instant)> = None;
    let mut failing = false;
    loop {
        let requested_at = Instant::now();
        match daemons.get_block_template().await {
            Ok(template) => {
                if failing {
                    tracing::info!("getblocktemplate works again");
                    failing = false;
                }
                let now = Instant::now();
                let new_block = last
                    .as_ref()
                    .is_none_or(|(prev, _)| *prev != template.previous_block_hash);
                let stale = last
                    .as_ref()
                    .is_some_and(|(_, at)| now - *at >= options.rebroadcast_after);
                if new_block || stale {
                    let trigger = if new_block {
                        trigger
                    } else {
                        Trigger::Rebroadcast
                    };
                    last = Some((template.previous_block_hash, now));
                    let update = TemplateUpdate {
                        template: Arc::new(template),
                        new_block,
                        trigger,
                        fetched_at: now,
                        requested_at,
                    };
                    updates.send_replace(Some(update));
                }
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "getblocktemplate failed; retrying every poll");
                    failing = true;
                }
            }
        }
        trigger = tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(options.refresh_interval) => Trigger::Poll,
            Some(source) = wakes.recv() => Trigger::Wake(source),
        };
    }
}
