//! The durable writer against a target that fails, lies and hangs, and a share log on a
//! real filesystem that fills up: every record written once, in order, and every share
//! acknowledged only once it is durable.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use pool_events::{
    Batch, BatchTarget, DurableWriter, EventSender, NotRecorded, PoolEvent, ShareEvent,
    TargetError, WriterError, WriterOptions, WriterStatus, event_channel,
};
use testkit::SmallDisk;
use tokio_util::sync::CancellationToken;

/// How the target answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    Down,
    /// Applies the batch, then reports a failure (an answer lost on the way).
    AppliesButFails,
}

/// A target keeping the last applied seq per writer, as the share stores do.
struct Target {
    mode: Mutex<Mode>,
    last: Mutex<HashMap<String, u64>>,
    records: Mutex<Vec<u64>>,
    writes: Mutex<u64>,
}

impl Target {
    fn new(mode: Mode) -> Arc<Target> {
        Arc::new(Target {
            mode: Mutex::new(mode),
            last: Mutex::default(),
            records: Mutex::default(),
            writes: Mutex::default(),
        })
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn records(&self) -> Vec<u64> {
        self.records.lock().unwrap().clone()
    }
}

#[async_trait]
impl BatchTarget<u64> for Target {
    async fn write(&self, batch: &Batch<u64>) -> Result<(), TargetError> {
        *self.writes.lock().unwrap() += 1;
        let mode = *self.mode.lock().unwrap();
        if mode == Mode::Down {
            return Err("target is down".into());
        }
        let mut last = self.last.lock().unwrap();
        let seen = last.entry(batch.writer.clone()).or_default();
        if batch.seq > *seen {
            *seen = batch.seq;
            self.records.lock().unwrap().extend(&batch.records);
        }
        match mode {
            Mode::AppliesButFails => Err("answer lost".into()),
            _ => Ok(()),
        }
    }
}

fn share(n: u64) -> PoolEvent {
    PoolEvent::Share(ShareEvent {
        worker: "w".into(),
        ip: IpAddr::from([127, 0, 0, 1]),
        port: 3333,
        height: n,
        difficulty: hashing::Difficulty::ONE,
        share_difficulty: Some(hashing::Difficulty::ONE),
        block_hash: None,
        block_accepted: false,
        reject: None,
        time: SystemTime::UNIX_EPOCH,
    })
}

fn record(event: &PoolEvent) -> Option<u64> {
    match event {
        PoolEvent::Share(share) => Some(share.height),
        _ => None,
    }
}

fn options(spool: &Path) -> WriterOptions {
    let mut options = WriterOptions::new(spool.to_owned());
    options.batch_size = 50;
    options.flush_interval = Duration::from_millis(20);
    options.write_timeout = Duration::from_millis(500);
    options.retry_interval = Duration::from_millis(50);
    options.ack_timeout = Duration::from_millis(300);
    options.alert_interval = Duration::from_millis(200);
    options.shutdown_grace = Duration::from_millis(500);
    options
}

struct Running {
    sender: EventSender,
    writer: DurableWriter,
    cancel: CancellationToken,
}

fn start(target: &Arc<Target>, options: WriterOptions, limit: u64) -> Running {
    let (sender, receiver) = event_channel(64, limit);
    let cancel = CancellationToken::new();
    let writer =
        DurableWriter::spawn(target.clone(), receiver, record, options, cancel.clone()).unwrap();
    Running {
        sender,
        writer,
        cancel,
    }
}

/// Waits until the writer's status meets `condition` (the writer retries every 50 ms).
async fn until(writer: &DurableWriter, what: &str, condition: impl Fn(&WriterStatus) -> bool) {
    let mut status = writer.status.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition(&status.borrow_and_update()) {
        assert!(
            Instant::now() < deadline,
            "never {what}: {:?}",
            *status.borrow()
        );
        let _ = tokio::time::timeout(Duration::from_millis(100), status.changed()).await;
    }
}

/// Waits until the writer has made every event sent durable (stored or spooled).
async fn until_released(sender: &EventSender) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while sender.gate().pending() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} events never released",
            sender.gate().pending()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn until_records(target: &Target, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while target.records().len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records arrived",
            target.records().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_target_down_for_a_while_gets_every_record_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::new(Mode::Down);
    let running = start(&target, options(&dir.path().join("s.spool")), 100_000);
    for n in 0..500 {
        running.sender.send(share(n));
    }
    until(&running.writer, "spooling", |s| {
        s.spooling && s.received == 500
    })
    .await;
    until_released(&running.sender).await;
    assert!(
        !running.writer.status.borrow().at_risk(),
        "spooled, not at risk"
    );
    target.set(Mode::Up);
    until_records(&target, 500).await;
    for n in 500..600 {
        running.sender.send(share(n));
    }
    until_records(&target, 600).await;
    running.cancel.cancel();
    running.writer.join().await.unwrap();
    assert_eq!(target.records(), (0..600).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_write_applied_whose_answer_was_lost_is_never_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::new(Mode::AppliesButFails);
    let running = start(&target, options(&dir.path().join("s.spool")), 100_000);
    for n in 0..300 {
        running.sender.send(share(n));
        if n % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    // Several writes are applied and "fail"; more records arrive meanwhile.
    let deadline = Instant::now() + Duration::from_secs(30);
    while *target.writes.lock().unwrap() < 5 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    target.set(Mode::Up);
    until_records(&target, 300).await;
    running.cancel.cancel();
    running.writer.join().await.unwrap();
    assert_eq!(target.records(), (0..300).collect::<Vec<_>>());
}

#[tokio::test]
async fn with_the_disk_full_and_the_target_down_shares_wait_in_memory_loudly_and_none_is_lost() {
    let mut disk = SmallDisk::mount(256 * 1024);
    let target = Target::new(Mode::Down);
    let running = start(&target, options(&disk.path().join("s.spool")), 100_000);
    disk.fill();
    for n in 0..400 {
        running.sender.send(share(n));
    }
    until(&running.writer, "at risk", |s| s.at_risk()).await;
    let status = running.writer.status.borrow().clone();
    let failure = status.failure.unwrap();
    assert!(
        failure.contains("No space left on device") && failure.contains("target is down"),
        "{failure}"
    );
    assert!(
        running
            .sender
            .gate()
            .failure()
            .is_some_and(|f| f.contains("No space left")),
        "the gate names the cause for refusals"
    );
    assert!(
        running.sender.gate().pending() > 0,
        "held events stay counted"
    );

    // The target comes back first: memory goes straight to it, in order.
    target.set(Mode::Up);
    until_records(&target, 400).await;
    until(&running.writer, "no longer at risk", |s| !s.at_risk()).await;

    // Then the disk: the log works again without a restart.
    disk.free();
    target.set(Mode::Down);
    for n in 400..450 {
        running.sender.send(share(n));
    }
    until(&running.writer, "spooling again", |s| {
        s.spooling
            && s.failure
                .as_deref()
                .is_some_and(|f| !f.contains("share log"))
    })
    .await;
    target.set(Mode::Up);
    until_records(&target, 450).await;
    running.cancel.cancel();
    running.writer.join().await.unwrap();
    assert_eq!(target.records(), (0..450).collect::<Vec<_>>());
}

#[tokio::test]
async fn at_the_memory_bound_new_shares_are_refused_with_the_cause() {
    let mut disk = SmallDisk::mount(256 * 1024);
    let target = Target::new(Mode::Down);
    let running = start(&target, options(&disk.path().join("s.spool")), 100);
    disk.fill();
    let mut sent = 0;
    let refusal = loop {
        match running.sender.admit() {
            Ok(()) => {
                running.sender.send(share(sent));
                sent += 1;
            }
            Err(reason) => break reason,
        }
        if sent % 10 == 0 {
            tokio::task::yield_now().await;
        }
        assert!(sent < 10_000, "never refused");
    };
    assert!(sent >= 100, "refused before the bound: {sent}");
    assert!(
        matches!(&refusal, NotRecorded::Backlog { cause, .. } if cause.contains("target is down")),
        "{refusal}"
    );
    assert_eq!(running.sender.gate().refused(), 1);
    target.set(Mode::Up);
    until_records(&target, sent as usize).await;
    assert!(running.sender.admit().is_ok(), "room again once written");
    running.cancel.cancel();
    running.writer.join().await.unwrap();
    assert_eq!(target.records(), (0..sent).collect::<Vec<_>>());
}

#[test]
fn a_durably_acknowledged_share_survives_a_crash_of_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("s.spool");
    let target = Target::new(Mode::Down);
    // A runtime dropped mid-way stops the writer where it stands, as a kill -9 would.
    let crashed = tokio::runtime::Runtime::new().unwrap();
    let acknowledged = crashed.block_on(async {
        let running = start(&target, options(&spool), 100_000);
        let mut acknowledged = 0;
        for n in 0..40 {
            running.sender.send_durable(share(n)).await.unwrap();
            acknowledged += 1;
        }
        std::mem::forget(running);
        acknowledged
    });
    drop(crashed);
    assert!(target.records().is_empty());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    target.set(Mode::Up);
    runtime.block_on(async {
        let running = start(&target, options(&spool), 100_000);
        until_records(&target, acknowledged).await;
        running.cancel.cancel();
        running.writer.join().await.unwrap();
    });
    assert_eq!(target.records(), (0..40).collect::<Vec<_>>());
}

#[tokio::test]
async fn with_the_log_failing_durable_shares_are_acknowledged_by_the_target() {
    let mut disk = SmallDisk::mount(256 * 1024);
    let target = Target::new(Mode::Up);
    let running = start(&target, options(&disk.path().join("s.spool")), 100_000);
    disk.fill();
    for n in 0..20 {
        assert_eq!(running.sender.send_durable(share(n)).await, Ok(()));
    }
    assert_eq!(target.records(), (0..20).collect::<Vec<_>>());
    running.cancel.cancel();
    running.writer.join().await.unwrap();
}

#[tokio::test]
async fn with_the_log_and_the_target_failing_durable_shares_are_refused_in_time() {
    let mut disk = SmallDisk::mount(256 * 1024);
    let target = Target::new(Mode::Down);
    let running = start(&target, options(&disk.path().join("s.spool")), 100_000);
    disk.fill();
    let started = Instant::now();
    let answer = running.sender.send_durable(share(1)).await;
    let reason = answer.unwrap_err();
    assert!(
        matches!(&reason, NotRecorded::Unsaved(why) if why.contains("No space left on device")),
        "{reason}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "refused only after ack_timeout"
    );
    assert_eq!(running.writer.status.borrow().refused, 1);
    // Refused, yet kept: it is written when the target is back (a credit, never a loss).
    target.set(Mode::Up);
    until_records(&target, 1).await;
    running.cancel.cancel();
    running.writer.join().await.unwrap();
}

#[tokio::test]
async fn a_shutdown_with_nowhere_to_write_names_the_unsaved_events() {
    let mut disk = SmallDisk::mount(256 * 1024);
    let target = Target::new(Mode::Down);
    let running = start(&target, options(&disk.path().join("s.spool")), 100_000);
    disk.fill();
    for n in 0..30 {
        running.sender.send(share(n));
    }
    until(&running.writer, "at risk", |s| s.held_events == 30).await;
    running.cancel.cancel();
    match running.writer.join().await {
        Err(WriterError::Unsaved { events, reason }) => {
            assert_eq!(events, 30);
            assert!(reason.contains("No space left"), "{reason}");
        }
        other => panic!("expected unsaved events, got {other:?}"),
    }
}
