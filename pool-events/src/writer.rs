//! A durable writer: pool events turned into records, written in numbered batches to a
//! target (a share store, a database). Batches wait on local disk (the share log) while
//! the target is down or slow, and in a bounded memory queue while the disk fails too;
//! they are written in order, exactly once, when the target is back. With durable
//! acknowledgements every batch goes through the log first and its shares are answered
//! once it is synced. The writer never stops on an error and never drops a batch.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::events::{Delivery, DurableAck, EventGate, EventReceiver, NotRecorded, PoolEvent};
use crate::latency::Latency;
use crate::spool::{Peeked, Spool, SpoolError};

/// Records written together, named by `(writer, seq)`.
///
/// A target applies a batch only if its `seq` is above the last one it applied for that
/// writer, so a batch whose answer was lost can be sent again without counting twice. A
/// writer's batches arrive in `seq` order; one batch may stand for several consecutive
/// numbers (`first_seq..=seq`) when the writer combines batches for one write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch<R> {
    /// The writer that made it: unique per writer start (see [`Batch::new_writer_id`]).
    pub writer: String,
    /// Its number (the last, for a combined batch), rising per batch of that writer,
    /// from 1.
    pub seq: u64,
    /// The first number it stands for (equal to `seq` but for a combined batch).
    #[serde(default)]
    pub first_seq: u64,
    /// What to record, in order.
    pub records: Vec<R>,
}

impl<R> Batch<R> {
    /// Batch `seq` of `writer`, standing for that one number.
    pub fn new(writer: impl Into<String>, seq: u64, records: Vec<R>) -> Batch<R> {
        Batch {
            writer: writer.into(),
            seq,
            first_seq: seq,
            records,
        }
    }

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
    /// Writes `batch` in one transaction, or not at all; a batch whose `seq` is not above
    /// the last applied for its writer must change nothing. An error means "not written
    /// (or not known to be), try later"; it is kept (as text) in the writer's status.
    async fn write(&self, batch: &Batch<R>) -> Result<(), TargetError>;
}

/// Why a [`BatchTarget`] did not write a batch: the store's own error.
pub type TargetError = Box<dyn std::error::Error + Send + Sync>;

/// How a [`DurableWriter`] batches, logs and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// The share log (e.g. `data/<pool>.spool`).
    pub spool_path: PathBuf,
    /// Records per batch at most (a combined write takes several batches).
    pub batch_size: usize,
    /// A batch is written at least this often while records wait.
    pub flush_interval: Duration,
    /// A write that takes longer counts as failed (and is retried as it was).
    pub write_timeout: Duration,
    /// How often a failing target or disk is tried again.
    pub retry_interval: Duration,
    /// A share waiting for its durable acknowledgement longer than this is refused
    /// (while both the log and the target fail).
    pub ack_timeout: Duration,
    /// While shares are held in memory only, the ERROR saying so is repeated this often.
    pub alert_interval: Duration,
    /// At shutdown, how long a failing target and disk are retried before what is still
    /// in memory is written to the log at ERROR level (and what the share log holds is
    /// left there for the next start).
    pub shutdown_grace: Duration,
}

impl WriterOptions {
    /// Batches of up to 1000 records, flushed every 100 ms, a 3 s write timeout, a retry
    /// every second, acknowledgements refused after 2 s, an alert every 10 s and a 10 s
    /// shutdown grace, logging to `spool_path`.
    pub fn new(spool_path: PathBuf) -> Self {
        WriterOptions {
            spool_path,
            batch_size: 1000,
            flush_interval: Duration::from_millis(100),
            write_timeout: Duration::from_secs(3),
            retry_interval: Duration::from_secs(1),
            ack_timeout: Duration::from_secs(2),
            alert_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What a writer has done so far, and what fails now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterStatus {
    /// Records received.
    pub received: u64,
    /// Batches the target took.
    pub stored_batches: u64,
    /// Batches written to the share log (every batch with durable acknowledgements; else
    /// those that waited for the target).
    pub spooled_batches: u64,
    /// Whether batches wait in the log for the target.
    pub spooling: bool,
    /// Events held in memory only, because the log cannot be written either.
    pub held_events: u64,
    /// Shares acknowledged once durable.
    pub acknowledged: u64,
    /// Shares whose acknowledgement was refused (nothing could make them durable in time).
    pub refused: u64,
    /// What fails now (the target, the log, or both), `None` while all is well.
    pub failure: Option<String>,
}

impl WriterStatus {
    /// Whether shares are at risk: held in memory only, or refused. A writer that only
    /// spools (the target is down, the log works) keeps every share and is healthy.
    pub fn at_risk(&self) -> bool {
        self.held_events > 0
    }
}

/// Why a writer stopped with events it could not save anywhere.
#[derive(Debug, Error)]
pub enum WriterError {
    /// Neither the target nor the log took these events before the shutdown grace ran
    /// out; each batch was written to the process log at ERROR level, as JSON.
    #[error(
        "{events} events could not be stored or spooled at shutdown ({reason}); they are in the ERROR log as JSON"
    )]
    Unsaved {
        /// How many.
        events: u64,
        /// What failed.
        reason: String,
    },
    /// The log could not be opened at start.
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// A running durable writer.
#[derive(Debug)]
pub struct DurableWriter {
    /// Its progress, updated as it goes.
    pub status: watch::Receiver<WriterStatus>,
    /// Each write to the target, until it answered, failed or timed out.
    pub store_write: Arc<Latency>,
    task: JoinHandle<Result<(), WriterError>>,
}

impl DurableWriter {
    /// Starts writing the records `convert` makes of `events` to `target` (events it maps
    /// to `None` are skipped). Batches left in the log by an earlier run are written first.
    ///
    /// Shares whose pool waits for a durable acknowledgement are logged and synced at
    /// once (group commit) and answered; other records are batched every
    /// `flush_interval`. When the target fails or is slower than `write_timeout`, batches
    /// wait in the log; when the log fails too, in memory, bounded by the pool's
    /// [`EventGate`], with an ERROR repeated every `alert_interval`. Everything is
    /// retried every `retry_interval` and written, in order, once the target (or the
    /// disk) is back. On `cancel`, or when the events end, it writes what it holds and
    /// stops. Fails to start only if the log cannot be opened.
    pub fn spawn<R, T, F>(
        target: Arc<T>,
        events: EventReceiver,
        convert: F,
        options: WriterOptions,
        cancel: CancellationToken,
    ) -> Result<DurableWriter, WriterError>
    where
        R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        T: BatchTarget<R> + ?Sized + 'static,
        F: Fn(&PoolEvent) -> Option<R> + Send + 'static,
    {
        let spool = Spool::open(&options.spool_path)?;
        let disk_only = spool.pending();
        let (status_tx, status) = watch::channel(WriterStatus {
            spooling: spool.has_pending(),
            ..WriterStatus::default()
        });
        let store_write = Arc::new(Latency::default());
        let writer = Writer {
            span: tracing::Span::current(),
            target,
            store_write: store_write.clone(),
            gate: events.gate().clone(),
            log: Some(spool),
            disk_only,
            copies: VecDeque::new(),
            memory: VecDeque::new(),
            inflight: None,
            options,
            status: status_tx,
            writer_id: Batch::<R>::new_writer_id(),
            seq: 0,
            pending: Vec::new(),
            pending_events: 0,
            pending_acks: Vec::new(),
            store_failure: None,
            log_failure: None,
            retry_due: true,
            last_alert: None,
        };
        let task = tokio::spawn(writer.run(events, convert, cancel));
        Ok(DurableWriter {
            status,
            store_write,
            task,
        })
    }

    /// Waits for the writer to stop (after its cancel token or the end of its events).
    /// An error names events that neither the target nor the log would take.
    pub async fn join(self) -> Result<(), WriterError> {
        match self.task.await {
            Ok(result) => result,
            Err(error) => Err(WriterError::Unsaved {
                events: 0,
                reason: format!("writer task failed: {error}"),
            }),
        }
    }
}

/// Records above which batches are not combined into one write.
const COMBINED_RECORDS: usize = 20_000;
/// Log records kept in memory as well, so writing them needs no read back.
const COPIED_RECORDS: usize = 200_000;

/// A log record's batch, kept in memory.
struct Logged<R> {
    batch: Batch<R>,
    /// The log records it stands for (more than one for a combined write being retried).
    records: usize,
    /// Whether a write of it failed: it is then written again alone, exactly as it was.
    attempted: bool,
}

/// A batch with what waits on it.
struct Unit<R> {
    batch: Batch<R>,
    /// Whether a write of it failed: it is then written again alone, exactly as it was.
    attempted: bool,
    /// Events it holds for the gate (released once it is durable).
    events: u64,
    /// Shares answered once it is durable.
    acks: Vec<DurableAck>,
    formed: Instant,
}

/// Where the batch being written comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The oldest log record, read back from disk.
    Disk,
    /// The oldest `copies` copies, standing for `records` log records.
    Copies {
        /// Copies combined.
        copies: usize,
        /// Log records they stand for.
        records: usize,
    },
    /// The oldest `count` memory units.
    Memory(usize),
}

struct Inflight<R> {
    source: Source,
    task: JoinHandle<(Batch<R>, Result<(), TargetError>)>,
}

struct Writer<R, T: ?Sized> {
    /// The span it was started in: its lines name it as parent (the task is not run inside
    /// it, which would cost an enter and exit at every wake-up).
    span: tracing::Span,
    target: Arc<T>,
    store_write: Arc<Latency>,
    gate: Arc<EventGate>,
    /// The share log; `None` only while a blocking operation holds it.
    log: Option<Spool<Batch<R>>>,
    /// Log records, from the cursor on, that have no copy in `copies` (the oldest ones).
    disk_only: usize,
    /// Copies of the newest log records, in log order.
    copies: VecDeque<Logged<R>>,
    /// Units not on disk, newer than every log record: the target comes after the log.
    memory: VecDeque<Unit<R>>,
    /// The one write to the target in progress; it covers the head of the log or of
    /// memory, which stays in place until it succeeds.
    inflight: Option<Inflight<R>>,
    options: WriterOptions,
    status: watch::Sender<WriterStatus>,
    writer_id: String,
    seq: u64,
    pending: Vec<R>,
    pending_events: u64,
    pending_acks: Vec<DurableAck>,
    store_failure: Option<String>,
    log_failure: Option<String>,
    /// A failing target or log may be tried again.
    retry_due: bool,
    last_alert: Option<Instant>,
}

impl<R, T> Writer<R, T>
where
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    T: BatchTarget<R> + ?Sized + 'static,
{
    async fn run(
        mut self,
        mut events: EventReceiver,
        convert: impl Fn(&PoolEvent) -> Option<R>,
        cancel: CancellationToken,
    ) -> Result<(), WriterError> {
        if self.log_pending() > 0 {
            tracing::info!(parent: &self.span,
                batches = self.log_pending(),
                "writing batches an earlier run left in the share log"
            );
        }
        let mut flush = tokio::time::interval(self.options.flush_interval);
        let mut retry = tokio::time::interval(self.options.retry_interval);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.start_write().await;
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                done = wait_for(&mut self.inflight) => {
                    self.finish_write(done);
                    self.spill().await;
                }
                delivery = events.recv_delivery() => match delivery {
                    Some(delivery) => {
                        self.take(delivery, &convert);
                        while self.pending.len() < self.options.batch_size {
                            match events.try_recv_delivery() {
                                Some(delivery) => self.take(delivery, &convert),
                                None => break,
                            }
                        }
                        if !self.pending_acks.is_empty() || self.pending.len() >= self.options.batch_size {
                            self.form_unit().await;
                        }
                    }
                    None => break,
                },
                _ = flush.tick() => self.form_unit().await,
                _ = retry.tick() => {
                    self.retry_due = true;
                    self.spill().await;
                    self.expire_acks();
                    self.report();
                }
            }
        }
        while let Some(delivery) = events.try_recv_delivery() {
            self.take(delivery, &convert);
        }
        self.form_unit().await;
        self.shutdown().await
    }

    fn take(&mut self, delivery: Delivery, convert: &impl Fn(&PoolEvent) -> Option<R>) {
        let Delivery { event, ack } = delivery;
        match convert(&event) {
            Some(record) => {
                self.pending.push(record);
                self.pending_events += 1;
                if let Some(ack) = ack {
                    self.pending_acks.push(ack);
                }
                self.status.send_modify(|s| s.received += 1);
            }
            None => {
                self.gate.release(1);
                if let Some(ack) = ack {
                    ack.confirm();
                }
            }
        }
    }

    fn log_pending(&self) -> usize {
        self.log.as_ref().map_or(0, Spool::pending)
    }

    /// Turns the waiting records into a batch and sends it on its way: to the log at once
    /// when shares wait for their acknowledgement (or the target is behind), else to
    /// memory for the target.
    async fn form_unit(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.seq += 1;
        let unit = Unit {
            batch: Batch {
                writer: self.writer_id.clone(),
                seq: self.seq,
                first_seq: self.seq,
                records: std::mem::take(&mut self.pending),
            },
            attempted: false,
            events: std::mem::take(&mut self.pending_events),
            acks: std::mem::take(&mut self.pending_acks),
            formed: Instant::now(),
        };
        self.memory.push_back(unit);
        self.spill().await;
    }

    /// Moves memory units to the log, oldest first, when they should be durable: shares
    /// wait for their acknowledgement, or the target is failing or behind. Never while
    /// the head of memory is being written (it would end up behind newer log records).
    async fn spill(&mut self) {
        if matches!(
            self.inflight.as_ref().map(|w| w.source),
            Some(Source::Memory(_))
        ) {
            return;
        }
        if self.log_failure.is_some() && !self.retry_due {
            return;
        }
        while let Some(unit) = self.memory.front() {
            let wanted = !unit.acks.is_empty()
                || self.store_failure.is_some()
                || self.log_pending() > 0
                || self.memory.len() > 1;
            if !wanted {
                break;
            }
            let record = Spool::encode(&unit.batch);
            let result = self.with_log(move |log| log.append_record(&record)).await;
            match result {
                Ok(()) => {
                    let Some(unit) = self.memory.pop_front() else {
                        break;
                    };
                    self.durable(unit.events, unit.acks);
                    self.copies.push_back(Logged {
                        batch: unit.batch,
                        records: 1,
                        attempted: unit.attempted,
                    });
                    self.trim_copies();
                    self.status.send_modify(|s| s.spooled_batches += 1);
                    if self.log_failure.take().is_some() {
                        tracing::info!(parent: &self.span, "the share log can be written again");
                    }
                }
                Err(error) => {
                    self.fail_log(error.to_string());
                    break;
                }
            }
        }
        self.report();
    }

    /// Starts writing the oldest batches to the target, if nothing is being written and
    /// the target is not failing (or may be retried).
    async fn start_write(&mut self) {
        if self.inflight.is_some() || (self.store_failure.is_some() && !self.retry_due) {
            return;
        }
        let (batch, source) = if self.disk_only > 0 {
            match self.read_back().await {
                Some(batch) => (batch, Source::Disk),
                None => return,
            }
        } else if !self.copies.is_empty() {
            let (batch, copies, records) = combine(
                self.copies
                    .iter()
                    .map(|c| (&c.batch, c.records, c.attempted)),
            );
            (batch, Source::Copies { copies, records })
        } else if !self.memory.is_empty() {
            let (batch, count, _) = combine(self.memory.iter().map(|u| (&u.batch, 1, u.attempted)));
            (batch, Source::Memory(count))
        } else {
            return;
        };
        self.retry_due = false;
        let target = self.target.clone();
        let timeout = self.options.write_timeout;
        let latency = self.store_write.clone();
        let task = tokio::spawn(
            async move {
                let started = Instant::now();
                let result = match tokio::time::timeout(timeout, target.write(&batch)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {timeout:?}").into()),
                };
                latency.observe(started.elapsed());
                (batch, result)
            }
            .instrument(self.span.clone()),
        );
        self.inflight = Some(Inflight { source, task });
    }

    /// The oldest log record that has no copy, read back from disk; a record this
    /// version cannot decode is set aside in `<log>.rejected` with an ERROR.
    async fn read_back(&mut self) -> Option<Batch<R>> {
        loop {
            match self.with_log(|log| log.peek()).await {
                Ok(Some(Peeked::Item(batch))) => return Some(batch),
                Ok(Some(Peeked::Unreadable(bytes, error))) => {
                    let aside = self.set_aside(&bytes).await;
                    tracing::error!(parent: &self.span, %error, kept = %aside, "a share log record cannot be decoded; it is kept aside and skipped");
                    if let Err(error) = self.with_log(|log| log.advance(1)).await {
                        self.fail_log(error.to_string());
                        return None;
                    }
                    self.disk_only -= 1;
                }
                Ok(None) => {
                    self.disk_only = 0;
                    return None;
                }
                Err(error) => {
                    self.fail_log(error.to_string());
                    return None;
                }
            }
        }
    }

    async fn set_aside(&mut self, bytes: &[u8]) -> String {
        let path = self
            .log
            .as_ref()
            .map(|log| log.path().with_extension("rejected"))
            .unwrap_or_default();
        let mut line = bytes.to_vec();
        line.push(b'\n');
        let target = path.clone();
        let kept = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&target)
                .and_then(|mut file| file.write_all(&line).and_then(|()| file.sync_data()))
        })
        .await;
        match kept {
            Ok(Ok(())) => path.display().to_string(),
            _ => format!(
                "nowhere (cannot write {}): {}",
                path.display(),
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    /// The target answered the write in progress.
    fn finish_write(&mut self, done: (Batch<R>, Result<(), TargetError>)) {
        let Some(inflight) = self.inflight.take() else {
            return;
        };
        let (batch, result) = done;
        if let Err(error) = result {
            tracing::debug!(parent: &self.span, %error, seq = batch.seq, "batch not written");
            if self.store_failure.is_none() {
                tracing::warn!(parent: &self.span, %error, "share store unavailable: keeping batches on local disk until it is back");
            }
            self.store_failure = Some(error.to_string());
            // The same batch is written again, whole, so a write whose answer was lost is
            // never followed by one overlapping it.
            self.retry_whole(batch, inflight.source);
            self.report();
            return;
        }
        if self.store_failure.take().is_some() {
            tracing::info!(parent: &self.span, "share store is back: writing what waited");
        }
        self.status.send_modify(|s| s.stored_batches += 1);
        match inflight.source {
            Source::Disk => {
                self.disk_only -= 1;
                self.advance_log(1);
            }
            Source::Copies { copies, records } => {
                self.copies.drain(..copies.min(self.copies.len()));
                self.advance_log(records);
            }
            Source::Memory(count) => {
                let done: Vec<Unit<R>> =
                    self.memory.drain(..count.min(self.memory.len())).collect();
                for unit in done {
                    self.durable(unit.events, unit.acks);
                }
            }
        }
        // Behind: go on at once rather than at the next retry.
        self.retry_due = true;
        self.report();
    }

    /// Keeps a failed write's batch for the next attempt: the copies or units it covers
    /// are replaced by that one batch, so the retry is the same write (a write whose
    /// answer was lost is never followed by one overlapping it).
    fn retry_whole(&mut self, batch: Batch<R>, source: Source) {
        match source {
            // Read back again next time: the same record, so the same write.
            Source::Disk => {}
            Source::Copies { copies, records } => {
                self.copies.drain(..copies.min(self.copies.len()));
                self.copies.push_front(Logged {
                    batch,
                    records,
                    attempted: true,
                });
            }
            Source::Memory(count) => {
                let count = count.min(self.memory.len());
                let mut merged: Vec<Unit<R>> = self.memory.drain(..count).collect();
                let events = merged.iter().map(|u| u.events).sum();
                let acks = merged.iter_mut().flat_map(|u| u.acks.drain(..)).collect();
                let formed = merged.first().map_or_else(Instant::now, |u| u.formed);
                self.memory.push_front(Unit {
                    batch,
                    attempted: true,
                    events,
                    acks,
                    formed,
                });
            }
        }
    }

    /// Moves the log's cursor past `records` written records.
    fn advance_log(&mut self, records: usize) {
        let log = self
            .log
            .as_mut()
            .expect("the log is back after each operation");
        // This only touches the file when the log empties (a truncate, not synced).
        if let Err(error) = log.advance(records) {
            self.fail_log(error.to_string());
        }
    }

    /// Records reached durability: release them from the gate and answer their shares.
    fn durable(&mut self, events: u64, acks: Vec<DurableAck>) {
        self.gate.release(events);
        let answered = acks.len() as u64;
        for ack in acks {
            ack.confirm();
        }
        self.status.send_modify(|s| s.acknowledged += answered);
    }

    /// Refuses acknowledgements that waited too long for any durable place.
    fn expire_acks(&mut self) {
        let reason = self
            .failure()
            .unwrap_or_else(|| "the share log is slow".into());
        let timeout = self.options.ack_timeout;
        let mut refused = 0u64;
        for unit in self.memory.iter_mut() {
            if unit.acks.is_empty() || unit.formed.elapsed() < timeout {
                continue;
            }
            for ack in unit.acks.drain(..) {
                ack.refuse(NotRecorded::Unsaved(reason.clone()));
                refused += 1;
            }
        }
        if refused > 0 {
            self.status.send_modify(|s| s.refused += refused);
        }
    }

    /// Drops the oldest copies past [`COPIED_RECORDS`]: those records are read back from
    /// the log instead, one by one (safe after any failed write: each is applied once).
    fn trim_copies(&mut self) {
        let mut records: usize = self.copies.iter().map(|c| c.batch.records.len()).sum();
        while records > COPIED_RECORDS && self.copies.len() > 1 {
            if matches!(
                self.inflight.as_ref().map(|w| w.source),
                Some(Source::Copies { .. })
            ) {
                // The oldest copies are being written; they go once that is done.
                return;
            }
            if let Some(oldest) = self.copies.pop_front() {
                records -= oldest.batch.records.len();
                self.disk_only += oldest.records;
            }
        }
    }

    fn fail_log(&mut self, error: String) {
        if self.log_failure.is_none() {
            tracing::error!(parent: &self.span, %error, "cannot write the share log");
        }
        self.log_failure = Some(error);
    }

    /// What fails now, for miners and operators.
    fn failure(&self) -> Option<String> {
        match (&self.store_failure, &self.log_failure) {
            (None, None) => None,
            (Some(store), None) => Some(format!("share store unavailable: {store}")),
            (None, Some(log)) => Some(format!("cannot write the share log: {log}")),
            (Some(store), Some(log)) => Some(format!(
                "share store unavailable: {store}; cannot write the share log either: {log}"
            )),
        }
    }

    /// Publishes the state; while events are in memory only, says so at ERROR every
    /// `alert_interval`.
    fn report(&mut self) {
        let held: u64 = self.memory.iter().map(|u| u.events).sum::<u64>() + self.pending_events;
        let on_disk = self.log_pending();
        let failure = self.failure();
        let at_risk = self.log_failure.is_some() && held > 0;
        self.gate.report_failure(failure.clone());
        if at_risk {
            let due = self
                .last_alert
                .is_none_or(|at| at.elapsed() >= self.options.alert_interval);
            if due {
                tracing::error!(parent: &self.span,
                    held,
                    limit = self.gate.limit(),
                    failure = failure.as_deref().unwrap_or_default(),
                    "shares are held in memory only: neither the share store nor the share log takes them; retrying"
                );
                self.last_alert = Some(Instant::now());
            }
        } else if self.last_alert.take().is_some() {
            tracing::info!(parent: &self.span,
                on_disk,
                "share writer recovered: nothing is held in memory only any more"
            );
        }
        self.status.send_if_modified(|s| {
            let next = WriterStatus {
                spooling: on_disk > 0,
                held_events: if self.log_failure.is_some() { held } else { 0 },
                failure: failure.clone(),
                ..s.clone()
            };
            let changed = *s != next;
            *s = next;
            changed
        });
    }

    /// Runs `operation` on the log on the blocking pool.
    async fn with_log<U: Send + 'static>(
        &mut self,
        operation: impl FnOnce(&mut Spool<Batch<R>>) -> U + Send + 'static,
    ) -> U {
        let mut log = self
            .log
            .take()
            .expect("the log is back after each operation");
        let (log, result) = tokio::task::spawn_blocking(move || {
            let result = operation(&mut log);
            (log, result)
        })
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
        self.log = Some(log);
        result
    }

    /// Writes what it holds, retrying a failing target and disk for the shutdown grace;
    /// what still has no place then is logged at ERROR as JSON.
    async fn shutdown(mut self) -> Result<(), WriterError> {
        let deadline = Instant::now() + self.options.shutdown_grace;
        loop {
            self.retry_due = true;
            self.start_write().await;
            if let Some(done) = self.inflight.as_mut() {
                let done = (&mut done.task)
                    .await
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
                self.finish_write(done);
            }
            self.retry_due = true;
            self.spill().await;
            // Batches safe in the share log are still written now if the store comes back
            // within the grace, rather than left for a next start that may never come.
            let idle = self.memory.is_empty() && self.log_pending() == 0;
            if idle || Instant::now() >= deadline {
                break;
            }
            if self.store_failure.is_some() || self.log_failure.is_some() {
                tokio::time::sleep(self.options.retry_interval).await;
            }
        }
        if self.log_pending() > 0 {
            tracing::warn!(parent: &self.span,
                batches = self.log_pending(),
                "share store still unavailable at shutdown; batches stay in the share log for the next start"
            );
        }
        if self.memory.is_empty() {
            return Ok(());
        }
        let reason = self.failure().unwrap_or_default();
        let mut events = 0;
        for unit in std::mem::take(&mut self.memory) {
            events += unit.events;
            for ack in unit.acks {
                ack.refuse(NotRecorded::Unsaved(reason.clone()));
            }
            tracing::error!(parent: &self.span,
                batch = %serde_json::to_string(&unit.batch).unwrap_or_default(),
                "unsaved share batch (neither the store nor the share log took it)"
            );
        }
        Err(WriterError::Unsaved { events, reason })
    }
}

/// The batch to write for the oldest `batches` (each with the log records it stands for
/// and whether a write of it failed): one, or several consecutive ones of one writer
/// combined into one (first to last seq); with how many batches and log records it
/// covers. A batch whose write failed goes alone, exactly as before, so a write whose
/// answer was lost is never followed by one overlapping it.
fn combine<'a, R: Clone + 'a>(
    mut batches: impl Iterator<Item = (&'a Batch<R>, usize, bool)>,
) -> (Batch<R>, usize, usize) {
    let (first, mut records, attempted) = batches.next().expect("called with at least one batch");
    let mut combined = first.clone();
    let mut count = 1;
    if attempted {
        return (combined, count, records);
    }
    for (batch, covered, attempted) in batches {
        let fits = combined.records.len() + batch.records.len() <= COMBINED_RECORDS;
        if attempted || batch.writer != combined.writer || !fits {
            break;
        }
        combined.seq = batch.seq;
        combined.records.extend(batch.records.iter().cloned());
        count += 1;
        records += covered;
    }
    (combined, count, records)
}

/// The write in progress, or never.
async fn wait_for<R>(inflight: &mut Option<Inflight<R>>) -> (Batch<R>, Result<(), TargetError>) {
    match inflight {
        Some(write) => (&mut write.task)
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic())),
        None => std::future::pending().await,
    }
}
