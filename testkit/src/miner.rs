//! A CPU miner on stratum-core's client: for tests, demos and examples, not for profit.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hashing::{Algorithm, Difficulty, HashOptions, PowHasher};

use stratum_core::{ClientError, MiningJob, ServerMessage, StratumClient};

/// Nonces tried between looks at the server's notifications.
const BATCH: u32 = 256;

/// A CPU miner: connects to a stratum port with [`StratumClient`], subscribes, authorises
/// a worker, and submits every share that meets the current difficulty, until dropped.
/// Runs on its own thread with its own runtime, so sync and async code alike can use it;
/// start several for several cores (each connection gets its own extranonce1).
#[derive(Debug)]
pub struct TestMiner {
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Stats {
    submitted: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    authorized: AtomicBool,
    /// Rejections by the server's message, the first kinds seen (bounded).
    rejections: Mutex<BTreeMap<String, u64>>,
    running: AtomicBool,
}

/// Distinct rejection messages kept at most (low-difficulty messages carry values).
const KEPT_MESSAGES: usize = 64;

impl TestMiner {
    /// Starts mining on `pool` as `worker` (password `x`) with `algorithm`.
    pub fn start(pool: SocketAddr, worker: &str, algorithm: Algorithm) -> TestMiner {
        TestMiner::start_with(pool, worker, algorithm, HashOptions::default())
    }

    /// [`TestMiner::start`] for a coin whose hashing takes options (scrypt's N,
    /// scrypt-jane's N factors, …).
    ///
    /// # Panics
    ///
    /// If `options` do not make a hasher for `algorithm`.
    pub fn start_with(
        pool: SocketAddr,
        worker: &str,
        algorithm: Algorithm,
        options: HashOptions,
    ) -> TestMiner {
        let hasher = PowHasher::new(algorithm, &options).expect("options fit the algorithm");
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (worker, thread_stats, thread_stop) = (worker.to_owned(), stats.clone(), stop.clone());
        stats.running.store(true, Ordering::Relaxed);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds");
            if let Err(error) =
                runtime.block_on(mine(pool, &worker, &hasher, &thread_stats, &thread_stop))
                && !thread_stop.load(Ordering::Relaxed)
            {
                tracing::warn!(%pool, %error, "CPU miner stopped");
            }
            thread_stats.running.store(false, Ordering::Relaxed);
        });
        TestMiner {
            stats,
            stop,
            thread: Some(thread),
        }
    }

    /// Shares sent to the pool (answered or not).
    pub fn submitted(&self) -> u64 {
        self.stats.submitted.load(Ordering::Relaxed)
    }

    /// The pool's rejections by message (the first kinds seen).
    pub fn rejections(&self) -> BTreeMap<String, u64> {
        self.stats
            .rejections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether it is still connected and mining (a dropped connection ends it).
    pub fn is_running(&self) -> bool {
        self.stats.running.load(Ordering::Relaxed)
    }

    /// Shares the pool accepted.
    pub fn accepted(&self) -> u64 {
        self.stats.accepted.load(Ordering::Relaxed)
    }

    /// Shares the pool refused.
    pub fn rejected(&self) -> u64 {
        self.stats.rejected.load(Ordering::Relaxed)
    }

    /// Whether the pool authorised the worker.
    pub fn authorized(&self) -> bool {
        self.stats.authorized.load(Ordering::Relaxed)
    }

    /// Waits until `count` shares were accepted; false after `timeout`.
    pub fn wait_for_accepted(&self, count: u64, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.accepted() >= count)
    }

    /// Waits until `count` shares were refused; false after `timeout`.
    pub fn wait_for_rejected(&self, count: u64, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.rejected() >= count)
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !done() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl TestMiner {
    /// Stops mining and waits for the last answer in flight; the counts stay readable.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestMiner {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn mine(
    pool: SocketAddr,
    worker: &str,
    hasher: &PowHasher,
    stats: &Stats,
    stop: &AtomicBool,
) -> Result<(), ClientError> {
    let algorithm = hasher.algorithm();
    let (client, mut notifications) = StratumClient::connect(pool, Duration::from_secs(10)).await?;
    let subscription = client.subscribe("nomp-rs cpu miner").await?;
    if !client.authorize(worker, "x").await? {
        return Err(ClientError::Protocol(format!(
            "worker {worker} was not authorised"
        )));
    }
    stats.authorized.store(true, Ordering::Relaxed);
    let mut job: Option<MiningJob> = None;
    let mut difficulty = Difficulty::ONE;
    let mut extranonce2 = 0u32;
    let mut nonce = 0u32;
    while !stop.load(Ordering::Relaxed) {
        while let Ok(notification) = notifications.try_recv() {
            match notification {
                ServerMessage::Notify(next) => {
                    job = Some(next);
                    extranonce2 = extranonce2.wrapping_add(1);
                    nonce = 0;
                }
                ServerMessage::SetDifficulty(d) => {
                    difficulty = Difficulty::new(d).unwrap_or(difficulty)
                }
                _ => {}
            }
        }
        let Some(current) = &job else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let target = difficulty.target(algorithm);
        let en2 = extranonce2.to_be_bytes()[4 - subscription.extranonce2_size.min(4)..].to_vec();
        for _ in 0..BATCH {
            let header = current.header(
                hasher,
                &subscription.extranonce1,
                &en2,
                current.ntime,
                nonce,
            );
            let hash = hasher.hash(&header).expect("80-byte header");
            if target.is_met_by(&hash) {
                stats.submitted.fetch_add(1, Ordering::Relaxed);
                match client
                    .submit(worker, &current.job_id, &en2, current.ntime, nonce)
                    .await
                {
                    Ok(()) => {
                        stats.accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(ClientError::Stratum { message, .. }) => {
                        stats.rejected.fetch_add(1, Ordering::Relaxed);
                        let mut kept = stats.rejections.lock().unwrap_or_else(|p| p.into_inner());
                        if kept.len() < KEPT_MESSAGES || kept.contains_key(&message) {
                            *kept.entry(message).or_default() += 1;
                        }
                    }
                    Err(error) => return Err(error),
                };
                // A share may have been a block: take the job that follows it before
                // hashing on, as a miner does, rather than submitting stale work.
                if !notifications.is_empty() {
                    nonce = nonce.wrapping_add(1);
                    break;
                }
            }
            nonce = nonce.wrapping_add(1);
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}
