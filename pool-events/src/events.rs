//! What the pool reports: every share and every block candidate, and how its consumer
//! (a share writer) says what it has made durable.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hashing::{BlockHash, Difficulty, Txid};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::counters::PoolCounters;
use crate::reject::Reject;

/// A share, valid or not.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareEvent {
    /// The worker name as authorised (`address.rig`).
    pub worker: String,
    /// The miner's IP (from the PROXY header when one is used).
    pub ip: IpAddr,
    /// The pool port it came in on.
    pub port: u16,
    /// The block height of its job (0 when the job was unknown).
    pub height: u64,
    /// The difficulty credited (the connection's difficulty).
    pub difficulty: Difficulty,
    /// The difficulty the hash reached; `None` when it was not hashed (refused before).
    pub share_difficulty: Option<Difficulty>,
    /// The block id when the share was a block candidate. Such a share's event is sent
    /// once the daemons have answered its block, just before its [`BlockEvent`].
    pub block_hash: Option<BlockHash>,
    /// Whether the share's block was accepted (false for every other share).
    pub block_accepted: bool,
    /// Why it was refused, for an invalid share.
    pub reject: Option<Reject>,
    /// When it arrived.
    pub time: SystemTime,
}

impl ShareEvent {
    /// Whether the share was valid.
    pub fn is_valid(&self) -> bool {
        self.reject.is_none()
    }

    /// The message the miner was sent for an invalid share (node-stratum-pool's text).
    pub fn error(&self) -> Option<String> {
        self.reject.as_ref().map(Reject::to_string)
    }
}

/// A block candidate after submission to the daemons.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockEvent {
    /// The worker whose share it was.
    pub worker: String,
    /// The block height.
    pub height: u64,
    /// The block id.
    pub hash: BlockHash,
    /// The coinbase txid.
    pub coinbase_txid: Txid,
    /// Whether a synced daemon has it on its main chain (or, when no daemon could say
    /// after the re-checks, whether it may be: the payment processor's wallet check then
    /// decides, and a round it cannot find goes back into the current one).
    pub accepted: bool,
    /// The daemons' reason when it was not accepted, or why acceptance is unconfirmed.
    pub reason: Option<String>,
    /// When its share arrived: its PPLNS window ends there, not when the daemons answered.
    pub found: SystemTime,
    /// The network difficulty it met, in share units.
    pub network_difficulty: Difficulty,
}

/// A worker's difficulty changed (vardiff or `mining.suggest_difficulty`), effective from
/// the job sent with it.
#[derive(Debug, Clone, PartialEq)]
pub struct DifficultyEvent {
    /// The worker (each worker authorised on the connection gets one).
    pub worker: String,
    /// The new difficulty.
    pub difficulty: Difficulty,
}

/// An event of a running pool.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolEvent {
    /// A share.
    Share(ShareEvent),
    /// A block candidate's fate.
    Block(BlockEvent),
    /// A new difficulty for a worker.
    Difficulty(DifficultyEvent),
}

/// Why a share could not be recorded; the miner is told `share not recorded: ` and this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRecorded {
    /// The pool's event consumer (its share writer) has stopped.
    #[error("the pool's share writer has stopped")]
    WriterStopped,
    /// The memory held for a failing or lagging writer is at its bound.
    #[error("the pool cannot store shares right now ({cause}); {waiting} events wait in memory")]
    Backlog {
        /// The writer's failure, or that it lags behind.
        cause: String,
        /// Events waiting in memory.
        waiting: u64,
    },
    /// The writer could make the share durable nowhere (the store and its share log
    /// failing), or not in time.
    #[error("{0}")]
    Unsaved(String),
}

/// The answer a pool waits for before it acknowledges a share with `durableAck`.
pub type AckResult = Result<(), NotRecorded>;

/// A share's acknowledgement, owed by the consumer once the share is durable.
///
/// Dropping it unresolved tells the miner the share was not recorded (the consumer
/// stopped), so an acknowledgement can never be lost silently.
#[derive(Debug)]
pub struct DurableAck(oneshot::Sender<AckResult>);

impl DurableAck {
    /// A fresh acknowledgement and the ticket the pool awaits it on.
    pub fn pair() -> (DurableAck, oneshot::Receiver<AckResult>) {
        let (sender, receiver) = oneshot::channel();
        (DurableAck(sender), receiver)
    }

    /// The share is durable: the miner is told it is accepted.
    pub fn confirm(self) {
        // The miner's connection may have closed meanwhile; the share is stored anyway.
        let _ = self.0.send(Ok(()));
    }

    /// The share could not be made durable: the miner is told why, and it is not counted
    /// as acknowledged.
    pub fn refuse(self, why: NotRecorded) {
        let _ = self.0.send(Err(why));
    }
}

/// One event as the pool hands it over, with the acknowledgement its share waits for
/// when the pool runs with `durableAck`.
#[derive(Debug)]
pub struct Delivery {
    /// The event.
    pub event: PoolEvent,
    /// Owed once the event is durable; `None` when nobody waits.
    pub ack: Option<DurableAck>,
}

/// How far a pool's consumer is behind, and why: the bound on the events the pool holds
/// in memory for it, and the failure it reports while it cannot make events durable.
///
/// Every event sent counts until the consumer releases it (it is stored, or on local
/// disk); at `limit` the pool refuses new shares with an error naming the failure rather
/// than acknowledge what it cannot keep. Block candidates are never refused.
#[derive(Debug)]
pub struct EventGate {
    pending: AtomicU64,
    limit: u64,
    refused: AtomicU64,
    consumer_gone: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl EventGate {
    fn new(limit: u64) -> EventGate {
        EventGate {
            pending: AtomicU64::new(0),
            limit: limit.max(1),
            refused: AtomicU64::new(0),
            consumer_gone: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    /// The consumer made `count` more events durable (or took them over).
    pub fn release(&self, count: u64) {
        // Never below zero, even if a consumer releases more than it was given.
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(count))
            });
    }

    /// The consumer's current failure (`None` once it works again), named in the errors
    /// miners get when the bound is reached.
    pub fn report_failure(&self, reason: Option<String>) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }

    /// The failure the consumer reported last, if it is still failing.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Events sent and not yet released by the consumer.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Acquire)
    }

    /// The bound on pending events.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Shares refused so far because the bound was reached or the consumer was gone.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Whether a new share may be taken; the error says why not.
    pub fn admit(&self) -> Result<(), NotRecorded> {
        if self.consumer_gone.load(Ordering::Acquire) {
            return Err(NotRecorded::WriterStopped);
        }
        let pending = self.pending();
        if pending < self.limit {
            return Ok(());
        }
        let cause = self
            .failure()
            .unwrap_or_else(|| "its share writer lags behind".into());
        Err(NotRecorded::Backlog {
            cause,
            waiting: pending,
        })
    }

    /// Counts a share refused at the gate.
    pub fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
}

/// The receiving end of a pool's events.
///
/// [`EventReceiver::recv`] hands events over and treats them as taken care of (any
/// waiting share is acknowledged at once); a durable consumer uses
/// [`EventReceiver::recv_delivery`] instead, resolves each acknowledgement once the event
/// is durable, and releases events from the [`EventGate`] as it makes them durable.
#[derive(Debug)]
pub struct EventReceiver {
    deliveries: mpsc::Receiver<Delivery>,
    gate: Arc<EventGate>,
}

impl EventReceiver {
    /// A receiver that is closed: nothing ever arrives. Takes the place of one moved
    /// elsewhere.
    pub fn closed() -> EventReceiver {
        let (_, deliveries) = mpsc::channel(1);
        EventReceiver {
            deliveries,
            gate: Arc::new(EventGate::new(1)),
        }
    }

    /// The next event, taken over by the caller; `None` once the pool has stopped.
    pub async fn recv(&mut self) -> Option<PoolEvent> {
        let delivery = self.deliveries.recv().await?;
        Some(self.take_over(delivery))
    }

    /// The next event if one is waiting, taken over by the caller.
    pub fn try_recv(&mut self) -> Option<PoolEvent> {
        let delivery = self.deliveries.try_recv().ok()?;
        Some(self.take_over(delivery))
    }

    /// The next delivery, with its acknowledgement and still pending in the gate.
    pub async fn recv_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.recv().await
    }

    /// The next delivery if one is waiting.
    pub fn try_recv_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.try_recv().ok()
    }

    /// The gate the consumer reports progress and failures to.
    pub fn gate(&self) -> &Arc<EventGate> {
        &self.gate
    }

    fn take_over(&self, delivery: Delivery) -> PoolEvent {
        self.gate.release(1);
        if let Some(ack) = delivery.ack {
            ack.confirm();
        }
        delivery.event
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        self.gate.consumer_gone.store(true, Ordering::Release);
    }
}

/// Sends events without ever waiting and without losing any.
///
/// Events go straight into the bounded channel while it has room. When the consumer lags
/// and the channel is full, they queue in memory behind it, in order, and a forwarding task
/// feeds them into the channel as it drains; while that backlog exists every new event
/// joins it, so order is kept. Miners never wait on a slow consumer and no event is dropped:
/// the cost is memory, bounded by the [`EventGate`] (shares are refused at its limit).
#[derive(Debug)]
pub struct EventSender {
    sender: mpsc::Sender<Delivery>,
    counters: Arc<PoolCounters>,
    overflow: mpsc::UnboundedSender<Delivery>,
    backlog: Arc<AtomicU64>,
    gate: Arc<EventGate>,
    gone_logged: AtomicBool,
}

impl EventSender {
    /// A sink into a channel of `capacity` holding at most `limit` unreleased events, and
    /// the receiver for its consumer; spawns its forwarding task on the current runtime.
    /// Every event sent is counted in `counters` first.
    pub fn new(
        capacity: usize,
        limit: u64,
        counters: Arc<PoolCounters>,
    ) -> (EventSender, EventReceiver) {
        let (sender, deliveries) = mpsc::channel(capacity.max(1));
        let (overflow, queued) = mpsc::unbounded_channel();
        let backlog = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(EventGate::new(limit));
        tokio::spawn(
            forward_backlog(queued, sender.clone(), backlog.clone(), gate.clone())
                .in_current_span(),
        );
        let sink = EventSender {
            sender,
            counters,
            overflow,
            backlog,
            gate: gate.clone(),
            gone_logged: AtomicBool::new(false),
        };
        (sink, EventReceiver { deliveries, gate })
    }

    /// Whether a new share may be taken (see [`EventGate`]); counts a refusal.
    pub fn admit(&self) -> Result<(), NotRecorded> {
        self.gate.admit().inspect_err(|_| self.gate.count_refused())
    }

    /// The channel's gate.
    pub fn gate(&self) -> &Arc<EventGate> {
        &self.gate
    }

    /// Sends `event`; with `ack`, its share is acknowledged once the consumer makes it
    /// durable.
    pub fn send_with(&self, event: PoolEvent, ack: Option<DurableAck>) {
        self.counters.observe(&event);
        self.gate.pending.fetch_add(1, Ordering::AcqRel);
        let delivery = Delivery { event, ack };
        let delivery = if self.backlog.load(Ordering::Acquire) == 0 {
            match self.sender.try_send(delivery) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Closed(delivery)) => return self.lost(delivery),
                Err(mpsc::error::TrySendError::Full(delivery)) => delivery,
            }
        } else {
            delivery
        };
        if self.backlog.fetch_add(1, Ordering::AcqRel) == 0 {
            tracing::warn!(
                "pool event consumer lags: queueing events in memory until it catches up"
            );
        }
        if let Err(mpsc::error::SendError(delivery)) = self.overflow.send(delivery) {
            self.backlog.fetch_sub(1, Ordering::AcqRel);
            self.lost(delivery);
        }
    }

    /// Sends `event` without anyone waiting for it to be durable.
    pub fn send(&self, event: PoolEvent) {
        self.send_with(event, None);
    }

    /// Sends `event` and returns what its consumer answers once it is durable (or why
    /// it could not make it so).
    pub fn send_durable(
        &self,
        event: PoolEvent,
    ) -> impl std::future::Future<Output = AckResult> + use<> {
        let (ack, ticket) = DurableAck::pair();
        self.send_with(event, Some(ack));
        async move { ticket.await.unwrap_or(Err(NotRecorded::WriterStopped)) }
    }

    /// An event the consumer can no longer take: its consumer has stopped (the pool is
    /// being torn down, or the consumer was dropped). Loud, and a waiting share is told.
    fn lost(&self, delivery: Delivery) {
        self.gate.release(1);
        if !self.gone_logged.swap(true, Ordering::AcqRel) {
            tracing::error!(
                event = ?delivery.event,
                "the pool's event consumer has stopped: this and any later event are not recorded"
            );
        }
        if let Some(ack) = delivery.ack {
            ack.refuse(NotRecorded::WriterStopped);
        }
    }

    /// Events queued behind the full channel, not yet handed to the consumer.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Acquire)
    }
}

/// A channel of pool events: at most `capacity` in the channel (more queue behind it) and
/// `limit` unreleased before [`EventSender::admit`] refuses. Spawns a task on the current
/// runtime.
pub fn event_channel(capacity: usize, limit: u64) -> (EventSender, EventReceiver) {
    EventSender::new(capacity, limit, Arc::default())
}

/// Moves queued events into the channel as the consumer makes room, then lowers the
/// backlog count, so the sink sends directly again only once the queue is empty.
async fn forward_backlog(
    mut queued: mpsc::UnboundedReceiver<Delivery>,
    sender: mpsc::Sender<Delivery>,
    backlog: Arc<AtomicU64>,
    gate: Arc<EventGate>,
) {
    let mut peak = 0;
    while let Some(delivery) = queued.recv().await {
        peak = peak.max(backlog.load(Ordering::Acquire));
        if let Err(mpsc::error::SendError(delivery)) = sender.send(delivery).await {
            tracing::error!(
                event = ?delivery.event,
                queued = backlog.load(Ordering::Acquire),
                "the pool's event consumer stopped with events still queued: they are not recorded"
            );
            gate.release(1);
            if let Some(ack) = delivery.ack {
                ack.refuse(NotRecorded::WriterStopped);
            }
            while let Some(delivery) = queued.recv().await {
                gate.release(1);
                if let Some(ack) = delivery.ack {
                    ack.refuse(NotRecorded::WriterStopped);
                }
            }
            return;
        }
        if backlog.fetch_sub(1, Ordering::AcqRel) == 1 {
            tracing::info!(peak, "pool event consumer caught up");
            peak = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(n: u64) -> PoolEvent {
        PoolEvent::Share(ShareEvent {
            worker: format!("w{n}"),
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 3333,
            height: n,
            difficulty: Difficulty::ONE,
            share_difficulty: Some(Difficulty::ONE),
            block_hash: None,
            block_accepted: false,
            reject: None,
            time: SystemTime::UNIX_EPOCH,
        })
    }

    fn height(event: PoolEvent) -> u64 {
        match event {
            PoolEvent::Share(share) => share.height,
            PoolEvent::Block(block) => block.height,
            PoolEvent::Difficulty(_) => u64::MAX,
        }
    }

    #[tokio::test]
    async fn a_lagging_consumer_gets_every_event_in_order() {
        let (sink, mut receiver) = EventSender::new(4, 10_000, Arc::default());
        for n in 0..1000 {
            sink.send(share(n));
        }
        assert!(sink.backlog() > 0, "the channel of 4 must have overflowed");
        assert_eq!(receiver.gate().pending(), 1000);
        for n in 0..1000 {
            assert_eq!(height(receiver.recv().await.unwrap()), n);
        }
        tokio::task::yield_now().await;
        assert_eq!(sink.backlog(), 0);
        assert_eq!(receiver.gate().pending(), 0, "recv takes events over");
        sink.send(share(1000));
        assert_eq!(height(receiver.try_recv().unwrap()), 1000);
    }

    #[tokio::test]
    async fn shares_are_refused_with_the_consumers_failure_once_the_bound_is_reached() {
        let (sink, mut receiver) = EventSender::new(16, 3, Arc::default());
        for n in 0..3 {
            assert!(sink.admit().is_ok());
            sink.send(share(n));
        }
        receiver
            .gate()
            .report_failure(Some("spool: No space left on device".into()));
        let refused = sink.admit().unwrap_err();
        assert_eq!(
            refused,
            NotRecorded::Backlog {
                cause: "spool: No space left on device".into(),
                waiting: 3
            }
        );
        assert!(
            refused.to_string().contains("3 events wait in memory"),
            "{refused}"
        );
        assert_eq!(receiver.gate().refused(), 1);

        // The consumer makes one durable: room for one more.
        let delivery = receiver.recv_delivery().await.unwrap();
        assert!(delivery.ack.is_none());
        receiver.gate().release(1);
        assert!(sink.admit().is_ok());
    }

    #[tokio::test]
    async fn an_acknowledgement_is_answered_by_the_consumer_or_refused_when_it_is_gone() {
        let (sink, mut receiver) = EventSender::new(16, 100, Arc::default());
        let (ack, ticket) = DurableAck::pair();
        sink.send_with(share(1), Some(ack));
        let delivery = receiver.recv_delivery().await.unwrap();
        delivery.ack.unwrap().confirm();
        assert_eq!(ticket.await.unwrap(), Ok(()));

        // Plain recv acknowledges at once.
        let (ack, ticket) = DurableAck::pair();
        sink.send_with(share(2), Some(ack));
        receiver.recv().await.unwrap();
        assert_eq!(ticket.await.unwrap(), Ok(()));

        // A consumer that is gone refuses, and says so to new shares.
        drop(receiver);
        let (ack, ticket) = DurableAck::pair();
        sink.send_with(share(3), Some(ack));
        let answer = ticket.await.unwrap();
        assert_eq!(answer, Err(NotRecorded::WriterStopped));
        assert_eq!(sink.admit(), Err(NotRecorded::WriterStopped));
    }
}
