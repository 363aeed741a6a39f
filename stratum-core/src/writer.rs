//! A durable writer: pool events turned into records, written in numbered batches to a
//! target (a share store, a database), spooled to disk while the target is down or slow and
//! replayed in order when it is back. Miners never wait on it and nothing is dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::events::PoolEvent;
use crate::spool::{Spool, SpoolError};

/// Records written together, named by `(writer, seq)`.
///
/// A target applies each batch at most once, so a batch whose answer was lost can be sent
/// again from the spool without counting twice. A writer's batches arrive in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch<R> {
    /// The writer that made it: unique per writer start (see [`Batch::new_writer_id`]).
    pub writer: String,
    /// Its number, rising by one per batch of that writer, from 1.
    pub seq: u64,
    /// What to record, in order.
    pub records: Vec<R>,
}

impl<R> Batch<R> {
    /// A writer id no other writer start has had: the process id and the start time in
    /// nanoseconds.
    pub fn new_writer_id() -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos:x}", std::process::id())
    }
}

/// Where a [`DurableWriter`] writes.
#[async_trait]
pub trait BatchTarget<R>: Send + Sync {
    /// Writes `batch` in one transaction, or not at all; a batch written before (same
    /// writer and seq) must change nothing. An error means "not written, try later".
    async fn write(&self, batch: &Batch<R>) -> Result<(), String>;
}

/// How a [`DurableWriter`] batches and spools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// The spool file for outages (e.g. `data/<pool>.spool`).
    pub spool_path: PathBuf,
    /// Records per batch at most.
    pub batch_size: usize,
    /// A batch is written at least this often while records wait.
    pub flush_interval: Duration,
    /// A write that takes longer counts as failed; its batch goes to the spool.
    pub write_timeout: Duration,
    /// How often the spool is offered to the target again during an outage.
    pub retry_interval: Duration,
}

impl WriterOptions {
    /// Batches of up to 1000 records, flushed every 100 ms, a 3 s write timeout and a
    /// retry every second, spooling to `spool_path`.
    pub fn new(spool_path: PathBuf) -> Self {
        WriterOptions {
            spool_path,
            batch_size: 1000,
            flush_interval: Duration::from_millis(100),
            write_timeout: Duration::from_secs(3),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// What a writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStatus {
    /// Records received.
    pub received: u64,
    /// Batches the target took.
    pub stored_batches: u64,
    /// Batches that went to the spool.
    pub spooled_batches: u64,
    /// Whether batches wait in the spool for the target.
    pub spooling: bool,
}

/// A running durable writer.
#[derive(Debug)]
pub struct DurableWriter {
    /// Its progress, updated after every batch.
    pub status: watch::Receiver<WriterStatus>,
    task: JoinHandle<Result<(), SpoolError>>,
}

impl DurableWriter {
    /// Starts writing the records `convert` makes of `events` to `target` (events it maps
    /// to `None` are skipped). Batches spooled by an earlier run are replayed first.
    ///
    /// When the target fails or is slower than `write_timeout`, batches go to the spool
    /// (synced to disk) and are replayed in order when the target answers again; while
    /// batches wait there, new ones join them, so order is kept. On `cancel`, or when the
    /// events channel closes, it writes what it holds (to the target, or the spool) and
    /// stops. Fails to start only if the spool cannot be opened.
    pub fn spawn<R, T, F>(
        target: Arc<T>,
        events: mpsc::Receiver<PoolEvent>,
        convert: F,
        options: WriterOptions,
        cancel: CancellationToken,
    ) -> Result<DurableWriter, SpoolError>
    where
        R: Serialize + DeserializeOwned + Send + Sync + 'static,
        T: BatchTarget<R> + ?Sized + 'static,
        F: Fn(&PoolEvent) -> Option<R> + Send + 'static,
    {
        let spool = Spool::open(&options.spool_path)?;
        let (status_tx, status) = watch::channel(WriterStatus {
            spooling: spool.has_pending(),
            ..WriterStatus::default()
        });
        let writer = Writer {
            target,
            spool,
            options,
            status: status_tx,
            writer_id: Batch::<R>::new_writer_id(),
            seq: 0,
            pending: Vec::new(),
        };
        let task = tokio::spawn(writer.run(events, convert, cancel));
        Ok(DurableWriter { status, task })
    }

    /// Waits for the writer to stop (after its cancel token or the end of its events);
    /// an error is a spool that could not be written, the one way records can be lost.
    pub async fn join(self) -> Result<(), SpoolError> {
        match self.task.await {
            Ok(result) => result,
            Err(error) => Err(SpoolError {
                path: String::new(),
                source: std::io::Error::other(format!("writer task failed: {error}")),
            }),
        }
    }
}

struct Writer<R, T: ?Sized> {
    target: Arc<T>,
    spool: Spool<Batch<R>>,
    options: WriterOptions,
    status: watch::Sender<WriterStatus>,
    writer_id: String,
    seq: u64,
    pending: Vec<R>,
}

impl<R, T> Writer<R, T>
where
    R: Serialize + DeserializeOwned + Send + Sync + 'static,
    T: BatchTarget<R> + ?Sized + 'static,
{
    async fn run(
        mut self,
        mut events: mpsc::Receiver<PoolEvent>,
        convert: impl Fn(&PoolEvent) -> Option<R>,
        cancel: CancellationToken,
    ) -> Result<(), SpoolError> {
        if self.spool.has_pending() {
            tracing::info!("replaying batches spooled by an earlier run");
            self.replay().await?;
        }
        let mut flush = tokio::time::interval(self.options.flush_interval);
        let mut retry = tokio::time::interval(self.options.retry_interval);
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    while let Ok(event) = events.try_recv() {
                        self.push(convert(&event));
                    }
                    break;
                }
                event = events.recv() => match event {
                    Some(event) => {
                        self.push(convert(&event));
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
                "target still unavailable at shutdown; batches stay spooled for the next start"
            );
        }
        Ok(())
    }

    fn push(&mut self, record: Option<R>) {
        if let Some(record) = record {
            self.pending.push(record);
            self.status.send_modify(|s| s.received += 1);
        }
    }

    /// Writes the waiting records as one batch: to the target, or to the spool while
    /// earlier batches wait there (order is kept) or when the target fails.
    async fn flush(&mut self) -> Result<(), SpoolError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.seq += 1;
        let batch = Batch {
            writer: self.writer_id.clone(),
            seq: self.seq,
            records: std::mem::take(&mut self.pending),
        };
        if !self.spool.has_pending() && self.try_write(&batch).await {
            self.status.send_modify(|s| s.stored_batches += 1);
            return Ok(());
        }
        if !self.spool.has_pending() {
            tracing::warn!("write target unavailable: spooling batches to disk until it is back");
        }
        self.spool.append(&batch)?;
        self.status.send_modify(|s| {
            s.spooled_batches += 1;
            s.spooling = true;
        });
        Ok(())
    }

    /// Offers the spooled batches to the target in order, until one fails.
    async fn replay(&mut self) -> Result<(), SpoolError> {
        let mut replayed = 0u64;
        while let Some(batch) = self.spool.peek()? {
            if !self.try_write(&batch).await {
                return Ok(());
            }
            self.spool.advance()?;
            replayed += 1;
        }
        tracing::info!(replayed, "write target is back: spooled batches written");
        self.status.send_modify(|s| {
            s.stored_batches += replayed;
            s.spooling = false;
        });
        Ok(())
    }

    /// Whether the target took the batch (now, or at an earlier try whose answer was lost).
    async fn try_write(&self, batch: &Batch<R>) -> bool {
        match tokio::time::timeout(self.options.write_timeout, self.target.write(batch)).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::debug!(%error, seq = batch.seq, "batch not written");
                false
            }
            Err(_) => {
                tracing::debug!(seq = batch.seq, "write timed out");
                false
            }
        }
    }
}
