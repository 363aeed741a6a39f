//! A solo mining pool in one file: one daemon, one stratum port, every block pays one address.
//!
//! `cargo run -p nomp-examples --example solo_pool -- <rpc host:port> <rpc user> <rpc password> <payout address> [stratum port]`
//!
//! The payout address is read with Bitcoin-style testnet/regtest prefixes; change
//! `AddressFormat` for another chain. Stop it with Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use coin_daemon::{DaemonEndpoint, DaemonGroup, GroupOptions};
use hashing::{Algorithm, Difficulty};
use stratum_core::{
    AddressAuthorizer, AddressFormat, CoinbaseOptions, PoolEvent, PoolOptions, PortOptions,
    output_script, start_pool,
};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rpc, user, password, address, rest @ ..] = args.as_slice() else {
        eprintln!(
            "usage: solo_pool <rpc host:port> <rpc user> <rpc password> <payout address> [stratum port]"
        );
        return ExitCode::from(2);
    };
    match run(rpc, user, password, address, rest.first()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("solo_pool: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    rpc: &str,
    user: &str,
    password: &str,
    address: &str,
    port: Option<&String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (host, rpc_port) = rpc.rsplit_once(':').ok_or("rpc must be host:port")?;
    let daemon = DaemonEndpoint {
        host: host.into(),
        port: rpc_port.parse()?,
        user: user.into(),
        password: password.into(),
    };
    let daemons = Arc::new(DaemonGroup::new(vec![daemon], GroupOptions::default())?);

    let format = AddressFormat::testnet();
    let coinbase = CoinbaseOptions::new(output_script(address, &format)?, format.clone());
    let stratum_port = port.map_or(Ok(3333), |p| p.parse())?;
    let bind = SocketAddr::from(([0, 0, 0, 0], stratum_port));
    let options = PoolOptions::new(
        Algorithm::Sha256d,
        coinbase,
        vec![PortOptions::new(bind, Difficulty::new(1.0)?)],
    );
    let authorizer = Arc::new(AddressAuthorizer::new(format));
    let cancel = CancellationToken::new();
    let mut pool = start_pool(options, daemons, authorizer, cancel.clone()).await?;
    tracing::info!(port = %pool.ports[0], "solo pool listening");

    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            Some(event) = pool.events.recv() => match event {
                PoolEvent::Share(share) => tracing::info!(worker = share.worker, valid = share.is_valid(), difficulty = share.share_difficulty.map_or(0.0, |d| d.get()), "share"),
                PoolEvent::Block(block) => tracing::info!(height = block.height, hash = %block.hash, accepted = block.accepted, "block"),
                PoolEvent::Difficulty(change) => tracing::info!(worker = change.worker, difficulty = change.difficulty.get(), "new difficulty"),
            },
        }
    }
    pool.shutdown().await;
    Ok(())
}
