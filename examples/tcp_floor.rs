//! What loopback TCP itself costs on this machine: the floor under `swarm`'s per-share and
//! per-notify figures, measured without the pool.
//!
//! - `tcp_floor writes <connections>`: one 1 KiB write (a new block's `mining.notify` is
//!   about that size) to each of that many connected sockets, blocking, nothing else in the
//!   loop; prints the time per write, five rounds. On loopback the sender's write also runs
//!   the receiver's side of TCP, as it does for the pool's fan-out.
//! - `tcp_floor echo <connections> <seconds>`: a one-thread tokio server that answers each
//!   line with a fixed line (no JSON, no hashing), driven by that many ping-pong clients in
//!   a child process (on the core `TCP_FLOOR_CLIENT_CORE` names, through `taskset`); prints
//!   the server's CPU time per answer, the floor of the pool's CPU per share.
//!
//! Raise the open-files limit first for many connections (`ulimit -n`).

#![allow(
    clippy::print_stdout,
    reason = "a command-line benchmark reports on stdout"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

type Error = Box<dyn std::error::Error + Send + Sync>;

const ANSWER: &[u8] = b"{\"id\":4,\"result\":true,\"error\":null}\n";
const SUBMIT: &[u8] = b"{\"id\":4,\"method\":\"mining.submit\",\"params\":[\"w\",\"1a\",\"00000000\",\"5f5e1000\",\"12345678\"]}\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let number = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
    let result = match (words.first().copied(), number(1), number(2)) {
        (Some("writes"), Some(connections), _) => writes(connections as usize),
        (Some("echo"), Some(connections), Some(seconds)) => echo(connections, seconds),
        (Some("echo-client"), _, _) => {
            match (words.get(1).map(|a| a.parse()), number(2), number(3)) {
                (Some(Ok(addr)), Some(connections), Some(seconds)) => {
                    echo_client(addr, connections, seconds)
                }
                _ => Err("usage: tcp_floor echo-client <address> <connections> <seconds>".into()),
            }
        }
        _ => Err("usage: tcp_floor writes <connections> | echo <connections> <seconds>".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tcp_floor: {error}");
            ExitCode::FAILURE
        }
    }
}

fn writes(connections: usize) -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut pairs = Vec::with_capacity(connections);
    for _ in 0..connections {
        let reader = TcpStream::connect(addr)?;
        let (writer, _) = listener.accept()?;
        writer.set_nodelay(true)?;
        pairs.push((writer, reader));
    }
    let line = [b'x'; 1024];
    let mut drained = [0u8; 4096];
    for round in 1..=5 {
        let started = Instant::now();
        for (writer, _) in &mut pairs {
            writer.write_all(&line)?;
        }
        let took = started.elapsed();
        println!(
            "round {round}: {connections} writes in {took:?}, {:.2} µs per write",
            took.as_secs_f64() * 1e6 / connections as f64
        );
        for (_, reader) in &mut pairs {
            let mut read = 0;
            while read < line.len() {
                read += reader.read(&mut drained)?;
            }
        }
    }
    Ok(())
}

fn echo(connections: u64, seconds: u64) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let answers = Arc::new(AtomicU64::new(0));
        let counted = answers.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(answer(socket, counted.clone()));
            }
        });
        let exe = std::env::current_exe()?;
        let mut command = match std::env::var("TCP_FLOOR_CLIENT_CORE") {
            Ok(core) => {
                let mut taskset = tokio::process::Command::new("taskset");
                taskset.arg("-c").arg(core).arg(exe);
                taskset
            }
            Err(_) => tokio::process::Command::new(exe),
        };
        let started = nomp_examples::cpu_time("self").ok_or("no CPU time")?;
        let status = command
            .arg("echo-client")
            .arg(addr.to_string())
            .arg(connections.to_string())
            .arg(seconds.to_string())
            .stdin(Stdio::null())
            .status()
            .await?;
        if !status.success() {
            return Err(format!("the clients failed: {status}").into());
        }
        let cpu = nomp_examples::cpu_time("self").ok_or("no CPU time")? - started;
        let answered = answers.load(Ordering::Relaxed);
        println!(
            "server CPU per answer  {:.2} µs ({answered} answers, {cpu:?} of CPU)",
            cpu.as_secs_f64() * 1e6 / answered.max(1) as f64
        );
        Ok(())
    })
}

async fn answer(socket: tokio::net::TcpStream, answers: Arc<AtomicU64>) {
    let _ = socket.set_nodelay(true);
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(_)) = lines.next_line().await {
        answers.fetch_add(1, Ordering::Relaxed);
        if write.write_all(ANSWER).await.is_err() {
            return;
        }
    }
}

fn echo_client(addr: SocketAddr, connections: u64, seconds: u64) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let mut clients = Vec::new();
        for _ in 0..connections {
            clients.push(tokio::spawn(async move {
                let socket = tokio::net::TcpStream::connect(addr).await?;
                socket.set_nodelay(true)?;
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                while tokio::time::Instant::now() < until {
                    write.write_all(SUBMIT).await?;
                    lines.next_line().await?.ok_or("the server closed")?;
                }
                Ok::<_, Error>(())
            }));
        }
        for client in clients {
            client.await??;
        }
        Ok(())
    })
}
