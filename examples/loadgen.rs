//! Load generator: many stratum connections submitting shares as fast as the pool answers,
//! against a pool whose daemon is a stand-in serving a mainnet-difficulty template (so no
//! share is a block and nothing but share handling is measured).
//!
//! `cargo run --release -p nomp-examples --example loadgen -- [connections] [seconds] [mode]`
//! (defaults: 200 connections for 10 s, events counted and dropped). Modes:
//! - `upstream`: the pool under load is in upstream mode, taking its work from a second
//!   pool on the stand-in daemon and forwarding the shares (one in eight) that meet that
//!   pool's higher difficulty;
//! - `store`: shares go through the share writer into the embedded store (in a temporary
//!   directory), each answered once handed to the writer;
//! - `durable`: the same with durable acknowledgements: each answered once synced to the
//!   share log.
//!
//! Clients and pools share this process and its cores, so the figures are a floor for the
//! pool alone. `loadgen serve [store] [scrypt]` runs only the pool (on the stand-in daemon,
//! events counted or, with `store`, written to an embedded store; sha256d or, with
//! `scrypt`, Litecoin's scrypt) for
//! the out-of-process generator `swarm`: it prints `listening <address>` once its first job
//! is ready, moves the stand-in daemon to a new block and wakes the pool (as blocknotify
//! does) for each `block` line on stdin, and stops at the end of stdin.

#![allow(
    clippy::print_stdout,
    reason = "a command-line benchmark reports on stdout"
)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use coin_daemon::{DaemonEndpoint, DaemonGroup, GroupOptions};
use hashing::{Algorithm, Difficulty, HashOptions, PowHasher};
use stratum_core::{
    AddressFormat, AllowAll, CoinbaseOptions, MiningJob, PoolEvent, PoolOptions, PortOptions,
    RunningPool, ServerMessage, StratumClient, UpstreamOptions, UpstreamServer, output_script,
    start_pool, start_upstream_pool,
};
use testkit::StandInDaemon;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Transactions in the stand-in template (a full mainnet block's worth).
const TRANSACTIONS: usize = 3000;
/// Half of all hashes meet this share difficulty, so clients spend little on hashing.
const SHARE_DIFFICULTY: f64 = 1.0 / (1u64 << 31) as f64;
/// The upstream pool's difficulty in upstream mode: one local share in eight meets it.
const UPSTREAM_DIFFICULTY: f64 = 1.0 / (1u64 << 28) as f64;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let words: Vec<&str> = args[1..].iter().map(String::as_str).collect();
        let mode = if words.contains(&"store") {
            Mode::Store { durable: false }
        } else {
            Mode::Count
        };
        let algorithm = if words.contains(&"scrypt") {
            Algorithm::Scrypt
        } else {
            Algorithm::Sha256d
        };
        return match serve(mode, algorithm).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("loadgen serve: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let connections = args.first().map_or(Ok(200), |a| a.parse::<usize>());
    let seconds = args.get(1).map_or(Ok(10), |a| a.parse::<u64>());
    let mode = match args.get(2).map(String::as_str) {
        None => Ok(Mode::Count),
        Some("upstream") => Ok(Mode::Upstream),
        Some("store") => Ok(Mode::Store { durable: false }),
        Some("durable") => Ok(Mode::Store { durable: true }),
        Some(_) => Err(()),
    };
    let (Ok(connections), Ok(seconds), Ok(mode)) = (connections, seconds, mode) else {
        eprintln!("usage: loadgen [connections] [seconds] [upstream|store|durable]");
        return ExitCode::from(2);
    };
    match run(connections, Duration::from_secs(seconds), mode).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The stand-in daemon with its mainnet-shaped template, a group on it, and a coinbase
/// paying a mainnet address.
fn stand_in()
-> Result<(StandInDaemon, Arc<DaemonGroup>, CoinbaseOptions), Box<dyn std::error::Error>> {
    let daemon = StandInDaemon::start(StandInDaemon::mainnet_template(TRANSACTIONS));
    let endpoint = DaemonEndpoint {
        host: "127.0.0.1".into(),
        port: daemon.rpc_port(),
        user: "loadgen".into(),
        password: "loadgen".into(),
    };
    let daemons = Arc::new(DaemonGroup::new(vec![endpoint], GroupOptions::default())?);
    let format = AddressFormat::bitcoin();
    let coinbase = CoinbaseOptions::new(
        output_script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &format)?,
        format,
    );
    Ok((daemon, daemons, coinbase))
}

/// The pool alone, driven over stdin (see the crate doc).
async fn serve(mode: Mode, algorithm: Algorithm) -> Result<(), Box<dyn std::error::Error>> {
    // As nomp logs by default: at info, every task of the pool inside its span.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    serve_pool(mode, algorithm)
        .instrument(tracing::info_span!("pool", pool = "bench"))
        .await
}

async fn serve_pool(mode: Mode, algorithm: Algorithm) -> Result<(), Box<dyn std::error::Error>> {
    use tokio::io::AsyncBufReadExt;

    let (daemon, daemons, coinbase) = stand_in()?;
    // The same share target for every algorithm: half of all hashes meet it.
    let difficulty = Difficulty::new(SHARE_DIFFICULTY * algorithm.multiplier())?;
    let port = PortOptions::new("127.0.0.1:0".parse()?, difficulty);
    let options = PoolOptions::new(algorithm, coinbase, vec![port]);
    let cancel = CancellationToken::new();
    let mut pool = start_pool(options, daemons, Arc::new(AllowAll), cancel.clone()).await?;
    let dir = tempfile::tempdir()?;
    let writer_stop = CancellationToken::new();
    let (_events, writer) = consume(&mut pool, mode, dir.path(), &writer_stop)?;
    pool.jobs.wait_for(Option::is_some).await?;
    println!("listening {}", pool.ports[0]);
    let waker = pool.waker.clone().ok_or("the pool has no template waker")?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "block" {
            let height = daemon.next_block();
            waker.wake(coin_daemon::WakeSource::BlockNotify);
            println!("block {height}");
        }
    }
    pool.shutdown().await;
    writer_stop.cancel();
    if let Some(writer) = writer {
        writer.join().await?;
    }
    Ok(())
}

/// A counter of the pool's share events, or the share writer taking them.
type Consumer = (Option<Arc<AtomicU64>>, Option<stratum_core::DurableWriter>);

/// Starts what takes the pool's events under `mode`: a counter, or a share writer into an
/// embedded store in `dir`.
fn consume(
    pool: &mut RunningPool,
    mode: Mode,
    dir: &std::path::Path,
    stop: &CancellationToken,
) -> Result<Consumer, Box<dyn std::error::Error>> {
    Ok(match mode {
        Mode::Store { .. } => {
            let store = Arc::new(payments::EmbeddedStore::open(
                &dir.join("nomp.sqlite"),
                "loadgen",
            )?);
            let writer = payments::ShareWriter::spawn(
                store,
                pool.take_events(),
                payments::WriterOptions::new(dir.join("loadgen.spool")),
                stop.clone(),
            )?;
            (None, Some(writer))
        }
        _ => (Some(count_shares(pool)), None),
    })
}

/// What the pool under load does with its shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Counts the events and drops them.
    Count,
    /// Upstream mode, forwarding to a second pool.
    Upstream,
    /// Writes them to the embedded store, acknowledging once durable or not.
    Store { durable: bool },
}

async fn run(
    connections: usize,
    duration: Duration,
    mode: Mode,
) -> Result<(), Box<dyn std::error::Error>> {
    let upstream = mode == Mode::Upstream;
    let (daemon, daemons, coinbase) = stand_in()?;
    let options = |difficulty| -> Result<PoolOptions, Box<dyn std::error::Error>> {
        let port = PortOptions::new("127.0.0.1:0".parse()?, Difficulty::new(difficulty)?);
        let mut options = PoolOptions::new(Algorithm::Sha256d, coinbase.clone(), vec![port]);
        options.durable_ack = mode == (Mode::Store { durable: true });
        Ok(options)
    };
    let cancel = CancellationToken::new();
    let (mut pool, upper) = if upstream {
        let mut upper = start_pool(
            options(UPSTREAM_DIFFICULTY)?,
            daemons,
            Arc::new(AllowAll),
            cancel.clone(),
        )
        .await?;
        count_shares(&mut upper);
        let server = UpstreamServer {
            host: "127.0.0.1".into(),
            port: upper.ports[0].port(),
            user: "loadgen".into(),
            password: "x".into(),
        };
        let pool = start_upstream_pool(
            options(SHARE_DIFFICULTY)?,
            UpstreamOptions::new(vec![server]),
            None,
            Arc::new(AllowAll),
            cancel.clone(),
        )
        .await?;
        (pool, Some(upper))
    } else {
        let pool = start_pool(
            options(SHARE_DIFFICULTY)?,
            daemons,
            Arc::new(AllowAll),
            cancel.clone(),
        )
        .await?;
        (pool, None)
    };
    pool.jobs.wait_for(Option::is_some).await?;
    let addr = pool.ports[0];
    let dir = tempfile::tempdir()?;
    let writer_stop = CancellationToken::new();
    let (events, writer) = consume(&mut pool, mode, dir.path(), &writer_stop)?;

    let rss_before = nomp_examples::resident_kib("self");
    let mut miners = Vec::with_capacity(connections);
    for i in 0..connections {
        miners.push(Miner::connect(addr, &format!("worker{i}")).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_connected = nomp_examples::resident_kib("self");

    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = miners
        .into_iter()
        .map(|miner| tokio::spawn(miner.mine_until(deadline)))
        .collect();
    let mut latencies = Vec::new();
    let mut rejected = 0;
    for task in tasks {
        let (mut times, refused) = task.await??;
        latencies.append(&mut times);
        rejected += refused;
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(200)).await;
    latencies.sort_unstable();
    let accepted = latencies.len();
    let percentile = |p: f64| {
        latencies
            .get(((accepted as f64 * p) as usize).min(accepted.saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!("connections            {connections}");
    println!("duration               {elapsed:.1} s");
    println!("shares accepted        {accepted} ({rejected} refused)");
    println!(
        "throughput             {:.0} shares/s",
        accepted as f64 / elapsed
    );
    println!(
        "submit latency         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(0.5),
        percentile(0.99),
        percentile(1.0)
    );
    match (&events, &writer) {
        (Some(events), _) => println!(
            "share events           {} (backlog {})",
            events.load(Ordering::Relaxed),
            pool.handle().event_backlog()
        ),
        (None, Some(writer)) => {
            let status = writer.status.borrow().clone();
            println!(
                "share writer           {} records, {} batches stored, {} logged, {} acknowledged once durable",
                status.received, status.stored_batches, status.spooled_batches, status.acknowledged
            );
        }
        (None, None) => {}
    }
    if let (Some(before), Some(after)) = (rss_before, rss_connected) {
        println!(
            "memory per connection  {:.1} KiB (pool and client sides together)",
            after.saturating_sub(before) as f64 / connections as f64
        );
    }
    if let Some(job) = pool.handle().current_job() {
        let (shares, bytes) = job.recorded_shares();
        println!(
            "current job's shares   {shares} recorded in {:.1} MiB ({:.1} B per share)",
            bytes as f64 / (1024.0 * 1024.0),
            bytes as f64 / shares.max(1) as f64
        );
    }
    if let (Some(connected), Some(now)) = (rss_connected, nomp_examples::resident_kib("self")) {
        println!(
            "memory per share       {:.1} B (resident set growth while mining ÷ shares accepted)",
            now.saturating_sub(connected) as f64 * 1024.0 / accepted.max(1) as f64
        );
    }
    if let Some(upper) = upper {
        let counters = pool.handle().counters();
        println!(
            "forwarded upstream     {} accepted, {} refused; upstream pool counted {}",
            counters.upstream_accepted,
            counters.upstream_rejected,
            upper.handle().counters().valid_shares
        );
        pool.shutdown().await;
        upper.shutdown().await;
    } else {
        pool.shutdown().await;
    }
    if let Some(writer) = writer {
        writer_stop.cancel();
        writer.join().await?;
    }
    println!("blocks submitted       {}", daemon.submitted_blocks());
    Ok(())
}

/// Takes over the pool's events and counts its shares as they arrive.
fn count_shares(pool: &mut RunningPool) -> Arc<AtomicU64> {
    let events = Arc::new(AtomicU64::new(0));
    let counted = events.clone();
    let mut receiver = pool.take_events();
    tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            if let PoolEvent::Share(_) = event {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    events
}

/// One connection with its current job.
struct Miner {
    client: StratumClient,
    notifications: mpsc::UnboundedReceiver<ServerMessage>,
    worker: String,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
    job: MiningJob,
}

impl Miner {
    async fn connect(addr: SocketAddr, worker: &str) -> Result<Miner, Box<dyn std::error::Error>> {
        let (client, mut notifications) =
            StratumClient::connect(addr, Duration::from_secs(30)).await?;
        let subscription = client.subscribe("nomp-rs loadgen").await?;
        if !client.authorize(worker, "x").await? {
            return Err(format!("{worker} was not authorised").into());
        }
        let job = loop {
            match notifications.recv().await {
                Some(ServerMessage::Notify(job)) => break job,
                Some(_) => continue,
                None => return Err("connection closed before the first job".into()),
            }
        };
        Ok(Miner {
            client,
            notifications,
            worker: worker.to_owned(),
            extranonce1: subscription.extranonce1,
            extranonce2_size: subscription.extranonce2_size.min(4),
            job,
        })
    }

    /// Submits shares one after another until `deadline`; returns each accepted share's
    /// round-trip time and the number refused.
    async fn mine_until(
        mut self,
        deadline: Instant,
    ) -> Result<(Vec<Duration>, u64), stratum_core::ClientError> {
        let hasher =
            PowHasher::new(Algorithm::Sha256d, &HashOptions::default()).expect("default options");
        let target = Difficulty::new(SHARE_DIFFICULTY)
            .expect("positive")
            .target(Algorithm::Sha256d);
        let mut times = Vec::new();
        let mut refused = 0;
        let mut extranonce2 = 0u32;
        let mut nonce = 0u32;
        while Instant::now() < deadline {
            while let Ok(notification) = self.notifications.try_recv() {
                if let ServerMessage::Notify(job) = notification {
                    self.job = job;
                }
            }
            if nonce == u32::MAX {
                extranonce2 += 1;
                nonce = 0;
            }
            let en2 = &extranonce2.to_be_bytes()[4 - self.extranonce2_size..];
            let header = self
                .job
                .header(&hasher, &self.extranonce1, en2, self.job.ntime, nonce);
            nonce += 1;
            if !target.is_met_by(&hasher.hash(&header).expect("80 bytes")) {
                continue;
            }
            let sent = Instant::now();
            match self
                .client
                .submit(
                    &self.worker,
                    &self.job.job_id,
                    en2,
                    self.job.ntime,
                    nonce - 1,
                )
                .await
            {
                Ok(()) => times.push(sent.elapsed()),
                Err(stratum_core::ClientError::Stratum { .. }) => refused += 1,
                Err(error) => return Err(error),
            }
        }
        Ok((times, refused))
    }
}
