//! A small multi-threaded stratum CPU miner (testkit's, on stratum-core's client): one
//! connection per thread, each mining its own extranonce1. Prints the shares the pool
//! accepted every few seconds until Ctrl-C.
//!
//! `cargo run --release -p nomp-examples --example cpu_miner -- <host:port> <worker> [algorithm] [threads]`
//! (algorithm: `sha256` or `scrypt`, or any other `nomp algorithms` lists; threads: the
//! number of cores by default).

use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::time::Duration;

use hashing::Algorithm;
use testkit::TestMiner;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [pool, worker, rest @ ..] = args.as_slice() else {
        eprintln!("usage: cpu_miner <host:port> <worker> [algorithm] [threads]");
        return ExitCode::from(2);
    };
    let Some(address) = pool.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        eprintln!("cpu_miner: cannot resolve {pool}");
        return ExitCode::from(2);
    };
    let algorithm = match rest.first().map_or(Ok(Algorithm::Sha256d), |a| a.parse()) {
        Ok(algorithm) => algorithm,
        Err(error) => {
            eprintln!("cpu_miner: {error}");
            return ExitCode::from(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Ok(threads) = rest.get(1).map_or(Ok(cores), |t| t.parse::<usize>()) else {
        eprintln!("cpu_miner: threads must be a number");
        return ExitCode::from(2);
    };
    let miners: Vec<TestMiner> = (0..threads.max(1))
        .map(|_| TestMiner::start(address, worker, algorithm))
        .collect();
    tracing::info!(%address, worker, %algorithm, threads = miners.len(), "mining");
    let mut report = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = report.tick() => {
                let accepted: u64 = miners.iter().map(TestMiner::accepted).sum();
                let rejected: u64 = miners.iter().map(TestMiner::rejected).sum();
                tracing::info!(accepted, rejected, "shares");
            }
        }
    }
    ExitCode::SUCCESS
}
