//! The share writer: pool events to the share store, in batches, never lost.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use stratum_core::PoolEvent;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::batch::{Batch, Record};
use crate::error::StoreError;
use crate::spool::Spool;
use crate::store::ShareStore;

/// How the share writer batches and spools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// The spool file for store outages (e.g. `data/<pool>.spool`).
    pub spool_path: PathBuf,
    /// Records per batch at most.
    pub batch_size: usize,
    /// A batch is written at least this often while records wait.
    pub flush_interval: Duration,
    /// A store call that takes longer counts as failed; its batch goes to the spool.
    pub store_timeout: Duration,
    /// How often the spool is offered to the store again during an outage.
    pub retry_interval: Duration,
}

impl WriterOptions {
    /// Batches of up to 1000 records, flushed every 100 ms, a 3 s store timeout and a
    /// retry every second, spooling to `spool_path`.
    pub fn new(spool_path: PathBuf) -> Self {
        WriterOptions {
            spool_path,
            batch_size: 1000,
            flush_interval: Duration::from_millis(100),
            store_timeout: Duration::from_secs(3),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStatus {
    /// Records received from the pool.
    pub received: u64,
    /// Batches the store applied.
    pub stored_batches: u64,
    /// Batches that went to the spool.
    pub spooled_batches: u64,
    /// Whether batches wait in the spool for the store.
    pub spooling: bool,
}

/// A running share writer.
#[derive(Debug)]
pub struct ShareWriter {
    /// Its progress, updated after every batch.
    pub status: watch::Receiver<WriterStatus>,
    task: JoinHandle<Result<(), StoreError>>,
}

impl ShareWriter {
    /// Starts writing `events` to `store`. Batches that were spooled before (by an earlier
    /// run) are replayed first, in order; a batch the store had already applied changes
    /// nothing.
    ///
    /// Miners never wait on the writer: it only reads the events channel. When the store
    /// fails or is slower than `store_timeout`, batches go to the spool (synced to disk)
    /// and are replayed, in order and exactly once, when the store answers again.
    /// On `cancel`, or when the events channel closes, it writes what it holds (to the
    /// store, or the spool) and stops. Fails to start only if the spool cannot be opened.
    pub fn spawn(
        store: Arc<dyn ShareStore>,
        events: mpsc::Receiver<PoolEvent>,
        options: WriterOptions,
        cancel: CancellationToken,
    ) -> Result<ShareWriter, StoreError> {
        let spool = Spool::open(&options.spool_path)?;
        let (status_tx, status) = watch::channel(WriterStatus {
            spooling: spool.has_pending(),
            ..WriterStatus::default()
        });
        let writer = Writer {
            store,
            spool,
            options,
            status: status_tx,
            writer_id: Batch::new_writer_id(),
            seq: 0,
            pending: Vec::new(),
        };
        let task = tokio::spawn(writer.run(events, cancel));
        Ok(ShareWriter { status, task })
    }

    /// Waits for the writer to stop (after its cancel token or the end of its events);
    /// an error is a spool that could not be written, the one way records can be lost.
    pub async fn join(self) -> Result<(), StoreError> {
        self.task
            .await
            .map_err(|e| StoreError::Unavailable(format!("share writer task failed: {e}")))?
    }
}

struct Writer {
    store: Arc<dyn ShareStore>,
    spool: Spool,
    options: WriterOptions,
    status: watch::Sender<WriterStatus>,
    writer_id: String,
    seq: u64,
    pending: Vec<Record>,
}

impl Writer {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<PoolEvent>,
        cancel: CancellationToken,
    ) -> Result<(), StoreError> {
        if self.spool.has_pending() {
            tracing::info!("replaying share batches spooled by an earlier run");
            self.replay().await?;
        }
        let mut flush = tokio::time::interval(self.options.flush_interval);
        let mut retry = tokio::time::interval(self.options.retry_interval);
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    while let Ok(event) = events.try_recv() {
                        self.push(&event);
                    }
                    break;
                }
                event = events.recv() => match event {
                    Some(event) => {
                        self.push(&event);
                        if self.pending.len() >= self.options.batch_size {
                            self.flush().await?;
                        }
                    }
                    None => break,
                },
                _ = flush.tick() => self.flush().await?,
                _ = retry.tick(), if self.spool.has_pending() => self.replay().await?,
            }
        }
        self.flush().await?;
        if self.spool.has_pending() {
            self.replay().await?;
        }
        if self.spool.has_pending() {
            tracing::warn!(
                "share store still unavailable at shutdown; batches stay spooled for the next start"
            );
        }
        Ok(())
    }

    fn push(&mut self, event: &PoolEvent) {
        self.pending.push(Record::from_event(event));
        self.status.send_modify(|s| s.received += 1);
    }

    /// Writes the waiting records as one batch: to the store, or to the spool while
    /// earlier batches wait there (order is kept) or when the store fails.
    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.seq += 1;
        let batch = Batch {
            writer: self.writer_id.clone(),
            seq: self.seq,
            records: std::mem::take(&mut self.pending),
        };
        if !self.spool.has_pending() && self.store_apply(&batch).await {
            self.status.send_modify(|s| s.stored_batches += 1);
            return Ok(());
        }
        if !self.spool.has_pending() {
            tracing::warn!(
                "share store unavailable: spooling share batches to disk until it is back"
            );
        }
        self.spool.append(&batch)?;
        self.status.send_modify(|s| {
            s.spooled_batches += 1;
            s.spooling = true;
        });
        Ok(())
    }

    /// Offers the spooled batches to the store in order, until one fails.
    async fn replay(&mut self) -> Result<(), StoreError> {
        let mut replayed = 0u64;
        while let Some(batch) = self.spool.peek()? {
            if !self.store_apply(&batch).await {
                return Ok(());
            }
            self.spool.advance()?;
            replayed += 1;
        }
        tracing::info!(replayed, "share store is back: spooled batches written");
        self.status.send_modify(|s| {
            s.stored_batches += replayed;
            s.spooling = false;
        });
        Ok(())
    }

    /// Whether the store took the batch (now, or at an earlier try whose answer was lost).
    async fn store_apply(&self, batch: &Batch) -> bool {
        match tokio::time::timeout(self.options.store_timeout, self.store.apply(batch)).await {
            Ok(Ok(_)) => true,
            Ok(Err(error)) => {
                tracing::debug!(%error, seq = batch.seq, "share batch not stored");
                false
            }
            Err(_) => {
                tracing::debug!(seq = batch.seq, "share store timed out");
                false
            }
        }
    }
}
