//! A pool that mines through bigger pools, in one file: no daemon; miners get slices of the
//! upstream's extranonce2, their shares are counted here and those meeting the upstream's
//! difficulty go on to it. Upstreams after the first take over while those before are down.
//!
//! `cargo run -p nomp-examples --example proxy_pool -- <host:port>[,<host:port>…] <upstream worker> [stratum port] [difficulty]`
//!
//! (defaults: port 3334, difficulty 1).
//!
//! Shares are printed per worker; a real pool would store them (see the `payments` crate).
//! Stop it with Ctrl-C.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use hashing::{Algorithm, Difficulty};
use stratum_core::{
    AddressFormat, AllowAll, CoinbaseOptions, PoolEvent, PoolOptions, PortOptions, UpstreamOptions,
    UpstreamServer, start_upstream_pool,
};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [upstreams, worker, rest @ ..] = args.as_slice() else {
        eprintln!(
            "usage: proxy_pool <host:port>[,<host:port>…] <upstream worker> [stratum port] [difficulty]"
        );
        return ExitCode::from(2);
    };
    match run(upstreams, worker, rest).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("proxy_pool: {error}");
            ExitCode::FAILURE
        }
    }
}

fn server(address: &str, worker: &str) -> Result<UpstreamServer, Box<dyn std::error::Error>> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or("an upstream must be host:port")?;
    Ok(UpstreamServer {
        host: host.into(),
        port: port.parse()?,
        user: worker.into(),
        password: "x".into(),
    })
}

async fn run(
    upstreams: &str,
    worker: &str,
    rest: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let servers = upstreams
        .split(',')
        .map(|address| server(address, worker))
        .collect::<Result<Vec<_>, _>>()?;
    let stratum_port = rest.first().map_or(Ok(3334), |p| p.parse())?;
    let difficulty = rest.get(1).map_or(Ok(1.0), |d| d.parse())?;
    let bind = SocketAddr::from(([0, 0, 0, 0], stratum_port));
    // The upstream builds the coinbase: these coinbase options are not used.
    let format = AddressFormat::bitcoin();
    let options = PoolOptions::new(
        Algorithm::Sha256d,
        CoinbaseOptions::new(Vec::new(), format),
        vec![PortOptions::new(bind, Difficulty::new(difficulty)?)],
    );
    let cancel = CancellationToken::new();
    let mut pool = start_upstream_pool(
        options,
        UpstreamOptions::new(servers),
        None,
        Arc::new(AllowAll),
        cancel.clone(),
    )
    .await?;
    tracing::info!(port = %pool.ports[0], "proxy pool listening");

    let mut credited: BTreeMap<String, f64> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            Some(event) = pool.events.recv() => match event {
                PoolEvent::Share(share) if share.is_valid() => {
                    let total = credited.entry(share.worker.clone()).or_default();
                    *total += share.difficulty.get();
                    tracing::info!(worker = share.worker, credited = *total, "share");
                }
                PoolEvent::Block(block) => tracing::info!(height = block.height, hash = %block.hash, taken = block.accepted, "block share sent upstream"),
                _ => {}
            },
        }
    }
    let counters = pool.handle().counters();
    tracing::info!(
        forwarded = counters.upstream_accepted,
        refused = counters.upstream_rejected,
        "stopping"
    );
    pool.shutdown().await;
    Ok(())
}
