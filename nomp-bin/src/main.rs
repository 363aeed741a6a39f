//! The `nomp` binary: runs every enabled pool of a NOMP configuration directory in one
//! process, and talks to a running one through NOMP's CLI.

mod cli;
mod config;
mod datadir;
mod fleet;
mod logging;
mod notify;
mod profit;
mod run;
mod web;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hashing::Algorithm;
use tokio_util::sync::CancellationToken;

/// nomp-rs: a NOMP-compatible mining pool server.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The directory holding config.json, coins/ and pool_configs/.
    #[arg(long, global = true, default_value = ".")]
    config_dir: PathBuf,
    /// Where the embedded share store and spools live (default: <config-dir>/data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every enabled pool until SIGINT or SIGTERM (the default).
    Run,
    /// Check the configuration and print it with defaults merged in.
    CheckConfig,
    /// Tell a running nomp that a pool's coin has a new block (a daemon's blocknotify).
    Blocknotify {
        /// The pool: its coin file's name without .json.
        pool: String,
        /// The new block's hash.
        blockhash: String,
    },
    /// Tell a running nomp to reload one pool's configuration (other pools keep running).
    Reloadpool {
        /// The pool: its coin file's name without .json.
        pool: String,
    },
    /// Tell a running nomp to move a switch's miners to another coin (NOMP's order:
    /// the coin, then the switch).
    Coinswitch {
        /// The pool to move to: its coin file's name without .json, or its coin's name.
        coin: String,
        /// The switch: its name under `switching` in config.json; without it, give
        /// `--algorithm` to move every switch of that algorithm.
        switch: Option<String>,
        /// Move every switch of this algorithm (NOMP's `-algorithm=`).
        #[arg(long)]
        algorithm: Option<String>,
    },
    /// Ask a running nomp whether every pool is ready (its portal's `/ready`): prints what
    /// is not, and exits 0 when ready, 1 when not ready, 2 when nothing answers.
    Check {
        /// Keep asking for up to this many seconds until ready (for service managers).
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
    },
    /// Print the JSON Schema of the config files (`config.json`, coin files, pool files),
    /// derived from the types the loader reads them with; one file's schema with its name.
    ConfigSchema {
        /// `config`, `coin` or `pool`; all three, keyed by file, without it.
        file: Option<config::SchemaFile>,
    },
    /// List the proof-of-work algorithms this build hashes.
    Algorithms,
    /// Read a password on standard input and print its argon2 hash, for
    /// `website.adminCenter.adminPasswordHash`.
    HashPassword,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command.unwrap_or(Command::Run) {
        Command::Algorithms => print_algorithms(),
        Command::ConfigSchema { file } => {
            let schema = config::schema(file);
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            ExitCode::SUCCESS
        }
        Command::Check { wait } => check(&args.config_dir, wait.map(Duration::from_secs)),
        Command::HashPassword => hash_password(),
        Command::CheckConfig => match config::load(&args.config_dir) {
            Ok(config) => {
                if let Err(error) = run::preflight(&config) {
                    return fail(&error.to_string());
                }
                for warning in &config.warnings {
                    eprintln!("nomp: warning: {warning}");
                }
                let text =
                    serde_json::to_string_pretty(&config::merged_json(&config)).unwrap_or_default();
                let _ = writeln!(std::io::stdout().lock(), "{text}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error.to_string()),
        },
        Command::Blocknotify { pool, blockhash } => send_to_cli(
            &args.config_dir,
            "blocknotify",
            vec![pool, blockhash],
            HashMap::new(),
        ),
        Command::Reloadpool { pool } => {
            send_to_cli(&args.config_dir, "reloadpool", vec![pool], HashMap::new())
        }
        Command::Coinswitch {
            coin,
            switch,
            algorithm,
        } => {
            let params = std::iter::once(coin).chain(switch).collect();
            let options = algorithm
                .map(|a| HashMap::from([("algorithm".to_owned(), serde_json::Value::String(a))]))
                .unwrap_or_default();
            send_to_cli(&args.config_dir, "coinswitch", params, options)
        }
        Command::Run => {
            let config = match config::load(&args.config_dir) {
                Ok(config) => config,
                Err(error) => return fail(&error.to_string()),
            };
            let data_dir = args
                .data_dir
                .unwrap_or_else(|| args.config_dir.join("data"));
            run_pools(config, &data_dir)
        }
    }
}

/// Sends one command to a running nomp's CLI listener and prints its reply.
fn send_to_cli(
    config_dir: &Path,
    command: &str,
    params: Vec<String>,
    options: HashMap<String, serde_json::Value>,
) -> ExitCode {
    let port = match config::cli_port(config_dir) {
        Ok(port) => port,
        Err(error) => return fail(&error.to_string()),
    };
    let message = cli::Message {
        command: command.into(),
        params,
        options,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error.to_string()),
    };
    match runtime.block_on(cli::send(
        SocketAddr::from(([127, 0, 0, 1], port)),
        &message,
    )) {
        Ok(reply) if reply.starts_with("error") => fail(&reply),
        Ok(reply) => {
            let _ = writeln!(std::io::stdout().lock(), "{reply}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(error) = std::io::stdin().read_line(&mut line) {
        return fail(&format!("cannot read the password: {error}"));
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.len() < 12 {
        return fail("use a password of at least 12 characters");
    }
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        portal::hash_password(password)
    );
    ExitCode::SUCCESS
}

/// `nomp check`: the portal's `/ready`, once or until ready within `wait`.
fn check(config_dir: &Path, wait: Option<Duration>) -> ExitCode {
    let addr = match config::portal_address(config_dir) {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("nomp: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error.to_string()),
    };
    let url = format!("http://{addr}/ready");
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(error) => return fail(&error.to_string()),
    };
    let deadline = wait.map(|wait| std::time::Instant::now() + wait);
    runtime.block_on(async {
        loop {
            let answer = match client.get(&url).send().await {
                Ok(response) => {
                    let ready = response.status().is_success();
                    response.text().await.map(|body| (ready, body))
                }
                Err(error) => Err(error),
            };
            let waiting = deadline.is_some_and(|d| std::time::Instant::now() < d);
            match answer {
                Ok((true, body)) => {
                    let _ = writeln!(std::io::stdout().lock(), "{body}");
                    return ExitCode::SUCCESS;
                }
                Ok((false, _)) | Err(_) if waiting => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Ok((false, body)) => {
                    let _ = writeln!(std::io::stdout().lock(), "{body}");
                    eprintln!("nomp: not ready (see the problems above)");
                    return ExitCode::from(1);
                }
                Err(error) => {
                    eprintln!("nomp: nothing answers at {url}: {error}");
                    return ExitCode::from(2);
                }
            }
        }
    })
}

fn fail(message: &str) -> ExitCode {
    eprintln!("nomp: {message}");
    ExitCode::FAILURE
}

fn print_algorithms() -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<10} {:>10} {:>14}",
        "algorithm", "multiplier", "hashes/diff"
    );
    for algo in Algorithm::ALL {
        let _ = writeln!(
            out,
            "{:<10} {:>10} {:>14}",
            algo.name(),
            algo.multiplier(),
            algo.hashes_per_difficulty()
        );
    }
    ExitCode::SUCCESS
}

/// NOMP's log levels as tracing filters.
fn log_filter(level: &str) -> &str {
    match level {
        "special" | "error" => "error",
        "warning" => "warn",
        "debug" => "info",
        other => other,
    }
}

fn run_pools(config: config::Config, data_dir: &Path) -> ExitCode {
    let data_dir = match datadir::DataDir::open(data_dir) {
        Ok(dir) => std::sync::Arc::new(dir),
        Err(error) => return fail(&error),
    };
    let filter = std::env::var("RUST_LOG")
        .unwrap_or_else(|_| log_filter(&config.portal.log_level).to_owned());
    logging::init(filter, config.portal.log_json(), config.portal.log_colors);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let threads = match &config.portal.clustering.forks {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|n| n.max(1) as usize),
        _ => None,
    }
    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the runtime: {error}")),
    };
    runtime.block_on(async move {
        // A signal also ends a start-up that is still waiting for a daemon: the pools
        // started so far are stopped as gracefully as at any other time.
        let cancel = CancellationToken::new();
        let signalled = cancel.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            signalled.cancel();
        });
        let fleet = match fleet::Fleet::join(&config, data_dir.instance()).await {
            Ok(fleet) => fleet,
            Err(error) => return fail(&error.to_string()),
        };
        let pools = match run::Pools::start_all(&config, &data_dir, fleet.ids(), cancel.clone()).await {
            Ok(pools) => std::sync::Arc::new(pools),
            Err(_) if cancel.is_cancelled() => return ExitCode::SUCCESS,
            Err(error) => return fail(&error.to_string()),
        };
        let front_ends = fleet.portal_view();
        let lost = fleet.lost();
        let heartbeat = fleet.spawn(pools.clone(), cancel.clone());
        let cli_addr = SocketAddr::from(([127, 0, 0, 1], config.portal.cli_port));
        if let Err(error) = cli::listen(cli_addr, pools.clone(), cancel.clone()).await {
            tracing::warn!(%cli_addr, %error, "CLI listener not started; blocknotify will not reach this process");
        }
        if let Some(profit) = config.portal.profit_switch.as_ref().filter(|p| p.enabled)
            && let Err(error) = profit::spawn(profit, pools.clone(), cancel.clone())
        {
            cancel.cancel();
            pools.stop_all().await;
            return fail(&error);
        }
        let website = config.portal.website.as_ref().filter(|w| w.enabled);
        let portal = match website {
            Some(website) => match web::start(&config, website, data_dir.path(), pools.clone(), front_ends, &cancel).await {
                Ok(portal) => Some(portal),
                Err(error) => {
                    cancel.cancel();
                    pools.stop_all().await;
                    return fail(&error);
                }
            },
            None => None,
        };
        // The line tests and scripts wait for: every pool serves, and the portal if any.
        tracing::info!(pools = pools.count().await, "nomp ready");
        cancel.cancelled().await;
        if let Some(portal) = portal {
            portal.shutdown().await;
        }
        pools.stop_all().await;
        if let Err(error) = heartbeat.await {
            tracing::error!(%error, "the front-end heartbeat failed");
        }
        if lost.load(std::sync::atomic::Ordering::SeqCst) {
            return fail("stopped: another front-end took this one's instance id");
        }
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
