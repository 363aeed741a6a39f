//! Out-of-process load generator: starts the pool (`loadgen serve`) as a child process and
//! drives it over plain sockets with its own minimal stratum code, so the pool's client code
//! is not what is measured, and reads the pool's CPU time and memory from `/proc`.
//!
//! `swarm <pool command> <mode> <connections> [seconds | rounds]` (the pool command is run with
//! `serve` and, if the environment sets `SWARM_POOL_MODE`, its words: `store` writes the
//! shares to an embedded store, `scrypt` makes it a scrypt pool), modes:
//! - `shares`: every connection submits a share as soon as the last is answered (about half
//!   meet the pool's difficulty, the rest are low-difficulty refusals); prints the pool's
//!   CPU time per answered share and the answer latency;
//! - `idle`: connections subscribe and authorise, then wait; prints the pool's resident
//!   memory per connection;
//! - `fanout`: idle connections, then a new block (the pool's blocknotify trigger); prints
//!   when the new `mining.notify` reached the first, median, 99th-percentile and last miner,
//!   for each of `rounds` new blocks (default 1).
//!
//! Connections come from 127.0.0.1–127.0.0.200 in turn. Raise the open-files limit first
//! (`ulimit -n`; `scripts/bench.sh` does): each connection is a file in both processes.

#![allow(
    clippy::print_stdout,
    reason = "a command-line benchmark reports on stdout"
)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Semaphore, watch};

/// Connections set up at once (the pool's accept backlog is 1024).
const CONNECTING: usize = 256;

type Lines = tokio::io::Lines<BufReader<OwnedReadHalf>>;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(loadgen), Some(mode), Some(Ok(connections))) = (
        args.first(),
        args.get(1),
        args.get(2).map(|n| n.parse::<usize>()),
    ) else {
        eprintln!(
            "usage: swarm <loadgen binary> <shares|idle|fanout> <connections> [seconds | rounds]"
        );
        return ExitCode::from(2);
    };
    let last = args.get(3).and_then(|s| s.parse().ok());
    match run(loadgen, mode, connections, last).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("swarm: {error}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn run(
    loadgen: &str,
    mode: &str,
    connections: usize,
    last: Option<u64>,
) -> Result<(), Error> {
    let mut pool = Pool::start(loadgen).await?;
    let before = pool.usage()?;
    let miners = connect_all(pool.addr, connections).await?;
    println!("connections            {connections}");
    match mode {
        "idle" => {
            // Let the pool's allocator settle after the burst of connects.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let after = pool.usage()?;
            println!(
                "pool memory            {:.1} MiB before, {:.1} MiB with the connections",
                before.rss_kib as f64 / 1024.0,
                after.rss_kib as f64 / 1024.0
            );
            println!(
                "per idle connection    {:.2} KiB",
                after.rss_kib.saturating_sub(before.rss_kib) as f64 / connections as f64
            );
        }
        "shares" => shares(&pool, miners, Duration::from_secs(last.unwrap_or(10))).await?,
        "fanout" => fanout(&mut pool, miners, last.unwrap_or(1)).await?,
        other => return Err(format!("unknown mode {other:?}").into()),
    }
    pool.stop().await;
    Ok(())
}

/// The pool process.
struct Pool {
    child: Child,
    stdin: ChildStdin,
    addr: SocketAddr,
    pid: u32,
}

/// The pool process's CPU time and resident memory.
#[derive(Debug, Clone, Copy)]
struct Usage {
    cpu: Duration,
    rss_kib: u64,
}

impl Pool {
    async fn start(loadgen: &str) -> Result<Pool, Error> {
        let mut command = Command::new(loadgen);
        command.arg("serve");
        if let Ok(mode) = std::env::var("SWARM_POOL_MODE") {
            command.args(mode.split_whitespace());
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next_line().await?.ok_or("the pool exited")?;
            if let Some(addr) = line.strip_prefix("listening ") {
                break addr.parse()?;
            }
        };
        let pid = child.id().ok_or("the pool exited")?;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Pool {
            child,
            stdin,
            addr,
            pid,
        })
    }

    fn usage(&self) -> Result<Usage, Error> {
        let pid = self.pid.to_string();
        Ok(Usage {
            cpu: nomp_examples::cpu_time(&pid).ok_or("no CPU time")?,
            rss_kib: nomp_examples::resident_kib(&pid).ok_or("no VmRSS")?,
        })
    }

    async fn block(&mut self) -> Result<(), Error> {
        self.stdin.write_all(b"block\n").await?;
        Ok(self.stdin.flush().await?)
    }

    async fn stop(mut self) {
        drop(self.stdin);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// A subscribed, authorised connection and the job it was given.
struct Miner {
    lines: Lines,
    writer: OwnedWriteHalf,
    worker: String,
    job_id: String,
    ntime: String,
}

async fn connect_all(addr: SocketAddr, connections: usize) -> Result<Vec<Miner>, Error> {
    let slots = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let slots = slots.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire().await?;
            Miner::connect(addr, i).await
        }));
    }
    let mut miners = Vec::with_capacity(connections);
    for task in tasks {
        miners.push(task.await??);
    }
    Ok(miners)
}

impl Miner {
    async fn connect(addr: SocketAddr, index: usize) -> Result<Miner, Error> {
        let socket = TcpSocket::new_v4()?;
        let source = Ipv4Addr::new(127, 0, 0, 1 + (index % 200) as u8);
        socket.bind(SocketAddr::from((source, 0)))?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, mut writer) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let hello = format!(
            "{}\n{}\n",
            json!({"id": 1, "method": "mining.subscribe", "params": ["swarm"]}),
            json!({"id": 2, "method": "mining.authorize", "params": [format!("w{index}"), "x"]})
        );
        writer.write_all(hello.as_bytes()).await?;
        let (mut authorized, mut job) = (false, None);
        while !authorized || job.is_none() {
            let line = lines.next_line().await?.ok_or("the pool closed")?;
            let message: Value = serde_json::from_str(&line)?;
            if message["id"] == 2 {
                authorized = message["result"] == true;
                if !authorized {
                    return Err(format!("worker refused: {line}").into());
                }
            } else if message["method"] == "mining.notify" {
                let params = &message["params"];
                job = Some((text(&params[0])?, text(&params[7])?));
            }
        }
        let (job_id, ntime) = job.ok_or("no job")?;
        Ok(Miner {
            lines,
            writer,
            worker: format!("w{index}"),
            job_id,
            ntime,
        })
    }
}

fn text(value: &Value) -> Result<String, Error> {
    Ok(value
        .as_str()
        .ok_or("a notify field is not text")?
        .to_owned())
}

async fn shares(pool: &Pool, miners: Vec<Miner>, duration: Duration) -> Result<(), Error> {
    let counts: Arc<[AtomicU64; 3]> = Arc::default();
    let start = pool.usage()?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for mut miner in miners {
        let counts = counts.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut nonce = 0u32;
            while Instant::now() < deadline {
                nonce += 1;
                let line = format!(
                    "{{\"id\":{nonce},\"method\":\"mining.submit\",\"params\":[\"{}\",\"{}\",\"00000000\",\"{}\",\"{nonce:08x}\"]}}\n",
                    miner.worker, miner.job_id, miner.ntime
                );
                let sent = Instant::now();
                miner.writer.write_all(line.as_bytes()).await?;
                loop {
                    let answer = miner.lines.next_line().await?.ok_or("the pool closed")?;
                    // Notifications (a new job, a difficulty) may come between answers.
                    if answer.contains("\"method\"") {
                        continue;
                    }
                    let kind = if answer.contains("\"result\":true") {
                        0
                    } else if answer.contains("[23,") {
                        1
                    } else {
                        2
                    };
                    counts[kind].fetch_add(1, Ordering::Relaxed);
                    break;
                }
                latencies.push(sent.elapsed());
            }
            Ok::<_, Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.append(&mut task.await??);
    }
    let elapsed = started.elapsed();
    let end = pool.usage()?;
    let answered = latencies.len();
    if answered == 0 {
        return Err("no share was answered".into());
    }
    latencies.sort_unstable();
    let at = |p: f64| latencies[((answered as f64 * p) as usize).min(answered - 1)];
    let cpu = end.cpu.saturating_sub(start.cpu);
    println!(
        "answered               {answered} in {:.1} s ({:.0}/s): {} accepted, {} low difficulty, {} other",
        elapsed.as_secs_f64(),
        answered as f64 / elapsed.as_secs_f64(),
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
        counts[2].load(Ordering::Relaxed)
    );
    println!(
        "pool CPU per share     {:.2} µs ({:.2} s of CPU in all)",
        cpu.as_secs_f64() * 1e6 / answered.max(1) as f64,
        cpu.as_secs_f64()
    );
    println!(
        "answer latency         p50 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

async fn fanout(pool: &mut Pool, mut miners: Vec<Miner>, rounds: u64) -> Result<(), Error> {
    let count = miners.len();
    for _ in 0..rounds.max(1) {
        let (trigger, triggered) = watch::channel(None::<Instant>);
        let mut tasks = Vec::with_capacity(count);
        for miner in miners.drain(..) {
            let mut triggered = triggered.clone();
            tasks.push(tokio::spawn(async move {
                let at = triggered
                    .wait_for(Option::is_some)
                    .await?
                    .ok_or("no trigger")?;
                // The whole miner moves in: its write half, unused here, keeps the socket open.
                let mut miner = miner;
                let old_job = format!("[\"{}\",", miner.job_id);
                loop {
                    let line = miner.lines.next_line().await?.ok_or("the pool closed")?;
                    // A new block's job is clean (its notify ends with `true]}`) and new.
                    if line.contains("mining.notify")
                        && line.ends_with("true]}")
                        && !line.contains(&old_job)
                    {
                        let message: Value = serde_json::from_str(&line)?;
                        miner.job_id = text(&message["params"][0])?;
                        return Ok::<_, Error>((at.elapsed(), miner));
                    }
                }
            }));
        }
        let start = pool.usage()?;
        let sent = Instant::now();
        trigger.send_replace(Some(sent));
        pool.block().await?;
        let mut arrivals = Vec::with_capacity(count);
        for task in tasks {
            let (arrival, miner) = task.await??;
            arrivals.push(arrival);
            miners.push(miner);
        }
        let cpu = pool.usage()?.cpu.saturating_sub(start.cpu);
        arrivals.sort_unstable();
        let at = |p: f64| arrivals[((count as f64 * p) as usize).min(count - 1)];
        println!(
            "new block's notify     first {:?}, p50 {:?}, p99 {:?}, last {:?} after the trigger",
            at(0.0),
            at(0.5),
            at(0.99),
            at(1.0)
        );
        println!(
            "pool CPU per miner     {:.1} µs ({:?} in all, template fetch and job included)",
            cpu.as_secs_f64() * 1e6 / count as f64,
            cpu
        );
    }
    Ok(())
}
