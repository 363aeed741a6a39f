//! Running every enabled pool: stratum ports, share store or MPOS, payments, CLI, shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use coin_daemon::{
    Amount, ChainGuardOptions, DaemonEndpoint, DaemonGroup, P2pOptions, TemplateOptions,
    TemplateWaker,
};
use futures_util::future::join_all;
use hashing::{Algorithm, Difficulty, HashOptions};
use mpos::{MposAuthorizer, MposOptions, MposShareSink};
use payments::{
    EmbeddedStore, PaymentOptions, PaymentProcessor, PaymentStore, PplnsWindow, RedisStore, Scheme,
    ShareWriter, SwitchState,
};
use portal::{ActionError, Named, PoolDirectory, PoolSummary, PortSummary, PortalPool};
use stratum_core::{
    AddressAuthorizer, AddressFormat, AllowAll, Authorizer, BanOptions, CoinbaseOptions,
    DaemonAddressAuthorizer, DurableWriter, IdAllocator, PoolOptions, PortOptions, RewardRecipient,
    RunningPool, RunningSwitch, SwitchOptions, SwitchTarget, VardiffOptions, WriterOptions,
    key_hash_credit, start_pool, start_switch, start_upstream_pool, tls_config_from_pem,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{Config, ConfigError, DaemonConfig, PoolFile, upstream_options};
use crate::datadir::DataDir;
use crate::notify::Notifier;

/// How long shutdown waits for a payment run in progress.
const PAYMENT_GRACE: Duration = Duration::from_secs(60);

/// A pool that is running.
pub(crate) struct Running {
    /// Its name (the coin file's name).
    pub(crate) name: String,
    /// Its coin's name.
    pub(crate) coin: String,
    /// The settings it runs with.
    file: PoolFile,
    /// Wakes its template source (blocknotify); `None` in upstream mode.
    pub(crate) waker: Option<TemplateWaker>,
    pool: RunningPool,
    /// What the portal shows of it.
    portal: PortalPool,
    /// How its coin writes addresses (switching ports derive miners' addresses with it).
    format: AddressFormat,
    writer: DurableWriter,
    writer_stop: CancellationToken,
    payments: Option<(JoinHandle<()>, CancellationToken)>,
}

/// Where a pool's shares go.
enum Destination {
    /// MPOS mode: the MPOS database, with its settings.
    Mpos(mysql_async::Pool, MposOptions),
    /// A share store, which also keeps payouts.
    Store(Arc<dyn PaymentStore>),
}

/// Why a pool could not start.
#[derive(Debug)]
pub(crate) enum StartError {
    /// The configuration is wrong.
    Config(ConfigError),
    /// Something else (a port in use, an unreadable store).
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Other(e) => f.write_str(e),
        }
    }
}

fn endpoint(daemon: &DaemonConfig) -> DaemonEndpoint {
    DaemonEndpoint {
        host: daemon.host.clone(),
        port: daemon.port,
        user: daemon.user.clone(),
        password: daemon.password.clone(),
    }
}

fn config_error(pool: &PoolFile, field: &str, message: String, fix: &str) -> StartError {
    StartError::Config(ConfigError {
        file: pool.path.clone(),
        field: field.into(),
        message,
        fix: Some(fix.into()),
    })
}

/// The PPLNS window `processing` sets: `pplnsWindow` (share difficulty) or `pplnsFactor`
/// (a multiple of each block's network difficulty), exactly one, positive.
fn pplns_window(
    pool: &PoolFile,
    processing: &crate::config::PaymentProcessing,
) -> Result<PplnsWindow, StartError> {
    let positive = |value: Option<f64>, field: &str| match value {
        None => Ok(None),
        Some(value) => payments::share_decimal(value).map(Some).ok_or_else(|| {
            config_error(
                pool,
                field,
                format!("{value} is not a positive number"),
                "give a positive number",
            )
        }),
    };
    let window = positive(processing.pplns_window, "paymentProcessing.pplnsWindow")?;
    let factor = positive(processing.pplns_factor, "paymentProcessing.pplnsFactor")?;
    match (window, factor) {
        (Some(window), None) => Ok(PplnsWindow::Shares(window)),
        (None, Some(factor)) => Ok(PplnsWindow::NetworkFactor(factor)),
        (Some(_), Some(_)) => Err(config_error(
            pool,
            "paymentProcessing.pplnsFactor",
            "is set beside pplnsWindow".into(),
            "keep one: pplnsFactor (a multiple of each block's network difficulty) or pplnsWindow (a fixed share difficulty)",
        )),
        (None, None) => Err(config_error(
            pool,
            "paymentProcessing.pplnsWindow",
            "is missing: PPLNS needs a window".into(),
            "set pplnsFactor (e.g. 2: twice each block's network difficulty) or pplnsWindow (a share difficulty)",
        )),
    }
}

/// The output script paying `address`, from the daemon's `validateaddress`. Waits for the
/// daemon while it is unreachable (a daemon down at start-up delays this pool, no other).
async fn address_script(
    pool: &PoolFile,
    daemons: &DaemonGroup,
    field: &str,
    address: &str,
    cancel: &CancellationToken,
) -> Result<Vec<u8>, StartError> {
    let mut logged = false;
    loop {
        match daemons.validate_address(address).await {
            Ok(answer) if !answer.is_valid => {
                return Err(config_error(
                    pool,
                    field,
                    format!("the coin daemon says {address:?} is not a valid address"),
                    "use an address of this coin's network",
                ));
            }
            Ok(answer) => {
                let script = answer
                    .script_pubkey
                    .as_deref()
                    .and_then(|s| hex::decode(s).ok());
                return script.ok_or_else(|| {
                    StartError::Other(format!(
                        "{}: the daemon's validateaddress gave no scriptPubKey for {address}",
                        pool.path.display()
                    ))
                });
            }
            Err(error) => {
                if !logged {
                    tracing::warn!(pool = pool.name(), %error, "cannot check the pool address yet; waiting for the daemon");
                    logged = true;
                }
                tokio::select! {
                    () = cancel.cancelled() => return Err(StartError::Other("stopped".into())),
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    }
}

/// The base58check version byte of `address`, if it is a base58check address.
fn address_version(address: &str) -> Option<u8> {
    bs58::decode(address)
        .with_check(None)
        .into_vec()
        .ok()
        .and_then(|bytes| bytes.first().copied())
}

/// The coin's address format as seen on the pool address: its base58 prefix (P2SH when
/// `script` is one), or its bech32 prefix for a segwit address. Enough for payees named
/// by address, switching-port addresses, and worker checks without a daemon.
fn address_format(address: &str, script: &[u8]) -> AddressFormat {
    let version = address_version(address);
    let is_p2sh = script.first() == Some(&0xa9);
    let prefix = version.map(|v| vec![v]).unwrap_or_default();
    AddressFormat {
        p2pkh: if is_p2sh { Vec::new() } else { prefix.clone() },
        p2sh: if is_p2sh { prefix } else { Vec::new() },
        bech32_hrp: bech32::segwit::decode(address)
            .ok()
            .map(|(hrp, _, _)| hrp.to_lowercase()),
    }
}

/// The key hash of a mining key (40 hex digits), if `recipient` is one.
pub(crate) fn mining_key(recipient: &str) -> Option<Vec<u8>> {
    (recipient.len() == 40)
        .then(|| hex::decode(recipient).ok())
        .flatten()
}

/// What the coinbase pays: the pool address and each reward recipient, their scripts from
/// the daemon's `validateaddress`; and how the coin writes addresses.
async fn coinbase_options(
    pool: &PoolFile,
    daemons: &DaemonGroup,
    cancel: &CancellationToken,
) -> Result<(CoinbaseOptions, AddressFormat), StartError> {
    let settings = &pool.config;
    let pool_script = address_script(pool, daemons, "address", &settings.address, cancel).await?;
    let format = address_format(&settings.address, &pool_script);
    let mut coinbase = CoinbaseOptions::new(pool_script, format.clone());
    coinbase.proof_of_stake = pool.coin.reward.as_deref() == Some("POS");
    coinbase.tx_message = pool.coin.tx_messages.then(|| "nomp-rs".to_owned());
    for (address, percent) in &settings.reward_recipients {
        let field = format!("rewardRecipients.{address}");
        // A 40-hex-digit recipient is a mining key (RIPEMD160(SHA256(pubkey))), paid to
        // its P2PKH script on any coin, as node-stratum-pool does.
        let script = match mining_key(address) {
            Some(hash) => [&[0x76, 0xa9, 0x14][..], &hash, &[0x88, 0xac]].concat(),
            None => address_script(pool, daemons, &field, address, cancel).await?,
        };
        coinbase.recipients.push(RewardRecipient {
            script,
            percent: *percent,
        });
    }
    Ok((coinbase, format))
}

/// Refuses a wallet daemon without the raw-transaction calls payouts are built with:
/// paying with `sendmany` instead could pay a run twice after a lost answer. A wallet
/// that does not answer now is checked by the payment processor's first run instead
/// (it pays nothing without them), so a wallet down at start-up holds up no miner.
async fn check_wallet(pool: &PoolFile, wallet: &DaemonGroup) -> Result<(), StartError> {
    match wallet.missing_payment_calls().await {
        Ok(missing) if missing.is_empty() => Ok(()),
        Ok(missing) => Err(config_error(
            pool,
            "paymentProcessing.daemon",
            format!(
                "the wallet daemon lacks {}: nomp-rs builds and journals each payout transaction before it broadcasts it, so that no run can be paid twice, and cannot pay from this wallet",
                missing.join(", ")
            ),
            "point paymentProcessing.daemon at a wallet with raw-transaction calls (Bitcoin Core 0.12 or later, or a fork of it), or disable paymentProcessing",
        )),
        Err(error) => {
            tracing::warn!(pool = pool.name(), %error, "cannot ask the wallet daemon which calls it has yet; the first payment run checks again");
            Ok(())
        }
    }
}

/// Stratum ports from their config (a pool's `ports`, or a switch's at `prefix`), with the
/// portal's view of each. TLS files are read relative to `config_dir`; errors name `file`.
pub(crate) fn port_options(
    config_dir: &Path,
    file: &Path,
    prefix: &str,
    configs: &std::collections::BTreeMap<String, crate::config::PortConfig>,
) -> Result<(Vec<PortOptions>, Vec<PortSummary>), StartError> {
    let error = |field: String, message: String, fix: &str| {
        StartError::Config(ConfigError {
            file: file.to_owned(),
            field,
            message,
            fix: Some(fix.into()),
        })
    };
    let mut ports = Vec::new();
    let mut summaries = Vec::new();
    for (port, port_config) in configs {
        let number: u16 = port.parse().unwrap_or_default();
        let difficulty = Difficulty::new(port_config.diff).map_err(|e| {
            error(
                format!("{prefix}ports.{port}.diff"),
                e.to_string(),
                "use a positive difficulty",
            )
        })?;
        let mut options = PortOptions::new(SocketAddr::from(([0, 0, 0, 0], number)), difficulty);
        options.vardiff = port_config.var_diff.as_ref().map(|v| VardiffOptions {
            target_time: v.target_time,
            retarget_time: v.retarget_time,
            variance_percent: v.variance_percent,
            min_diff: v.min_diff,
            max_diff: v.max_diff,
            x2_mode: v.x2_mode,
        });
        if let Some(tls) = &port_config.tls {
            let field = format!("{prefix}ports.{port}.tls");
            let read = |path: &Path| {
                std::fs::read(config_dir.join(path)).map_err(|e| {
                    error(
                        field.clone(),
                        format!("cannot read {}: {e}", path.display()),
                        "point cert and key at PEM files",
                    )
                })
            };
            let pem = tls_config_from_pem(&read(&tls.cert)?, &read(&tls.key)?)
                .map_err(|e| error(field.clone(), e.to_string(), "check the PEM files"))?;
            options.tls = Some(pem);
        }
        summaries.push(PortSummary {
            port: number,
            difficulty: port_config.diff,
            vardiff: options.vardiff.as_ref().map(|v| (v.min_diff, v.max_diff)),
            tls: options.tls.is_some(),
        });
        ports.push(options);
    }
    Ok((ports, summaries))
}

/// The coin's hashing options, as the pool and its miners hash.
fn hash_options(pool: &PoolFile) -> Result<HashOptions, StartError> {
    let (n_min, n_max) =
        crate::config::scrypt_jane_factors(&pool.path, &pool.coin).map_err(StartError::Config)?;
    let options = HashOptions {
        scrypt_n: pool.coin.n_value,
        scrypt_r: pool.coin.r_value,
        time_table: pool
            .coin
            .time_table
            .as_ref()
            .map(|table| crate::config::time_table(&pool.path, table))
            .transpose()
            .map_err(StartError::Config)?,
        normal_hashing: pool.coin.normal_hashing,
        proof_of_stake: pool.coin.reward.as_deref() == Some("POS"),
        chain_start_time: pool.coin.chain_start_time,
        n_min,
        n_max,
    };
    hashing::PowHasher::new(pool.algorithm, &options).map_err(|e| {
        config_error(
            pool,
            "coin",
            format!("coins/{}: {e}", pool.config.coin),
            "fix the coin file's hashing fields",
        )
    })?;
    Ok(options)
}

/// Everything start-up checks that needs no daemon, store or wallet: each enabled pool's
/// ports (difficulties, TLS certificate and key) and hashing options, and each enabled
/// switch's ports. `nomp check-config` runs it too, so a config it passes fails at start
/// only on what the daemons, stores and wallets answer.
pub(crate) fn preflight(config: &Config) -> Result<(), StartError> {
    for pool in config.pools.iter().filter(|p| p.config.enabled) {
        port_options(&config.dir, &pool.path, "", &pool.config.ports)?;
        hash_options(pool)?;
    }
    let file = config.dir.join("config.json");
    for (name, switch) in config.portal.switching.iter().filter(|(_, s)| s.enabled) {
        port_options(
            &config.dir,
            &file,
            &format!("switching.{name}."),
            &switch.ports,
        )?;
    }
    Ok(())
}

/// Starts one pool. Everything it logs, from any of its tasks, carries its name (`pool`).
pub(crate) async fn start(
    config: &Config,
    pool: &PoolFile,
    data: &DataDir,
    ids: &Arc<IdAllocator>,
    notifier: Option<&Notifier>,
    cancel: &CancellationToken,
) -> Result<Running, StartError> {
    let span = tracing::info_span!("pool", pool = %pool.name());
    start_in_span(config, pool, data, ids, notifier, cancel)
        .instrument(span)
        .await
}

async fn start_in_span(
    config: &Config,
    pool: &PoolFile,
    data: &DataDir,
    ids: &Arc<IdAllocator>,
    notifier: Option<&Notifier>,
    cancel: &CancellationToken,
) -> Result<Running, StartError> {
    let data_dir = data.path();
    let settings = &pool.config;
    let name = pool.name();
    // Upstream mode may run without daemons; otherwise check_pool made sure there are some.
    let daemons = if settings.daemons.is_empty() {
        None
    } else {
        Some(Arc::new(
            DaemonGroup::new(
                settings.daemons.iter().map(endpoint).collect(),
                DaemonConfig::group_options(&settings.daemons),
            )
            .map_err(|e| StartError::Other(e.to_string()))?,
        ))
    };
    let (coinbase, format) = match &daemons {
        Some(daemons) => coinbase_options(pool, daemons, cancel).await?,
        None => {
            // The upstream builds the coinbase; the address is only shown.
            let format = address_format(&settings.address, &[]);
            (CoinbaseOptions::new(Vec::new(), format.clone()), format)
        }
    };

    let (ports, port_summaries) = port_options(&config.dir, &pool.path, "", &settings.ports)?;

    let mut options = PoolOptions::new(pool.algorithm, coinbase, ports);
    options.hash_options = hash_options(pool)?;
    options.ids = ids.clone();
    options.template = TemplateOptions {
        refresh_interval: Duration::from_millis(settings.block_refresh_interval.max(50)),
        rebroadcast_after: Duration::from_secs(settings.job_rebroadcast_timeout.max(1)),
    };
    options.connection_timeout = Duration::from_secs(settings.connection_timeout.max(1));
    options.proxy_protocol = settings.tcp_proxy_protocol;
    options.zmq_block_notify = settings
        .daemons
        .iter()
        .filter_map(|d| d.zmq_block_notify.clone())
        .collect();
    let guard = &settings.chain_guard;
    options.chain_guard = guard.enabled.then(|| ChainGuardOptions {
        interval: Duration::from_secs(guard.interval),
        max_height_lag: guard.max_height_lag,
        disagree_for: Duration::from_secs(guard.disagree_seconds),
        stale_after: guard
            .block_time
            .or(pool.coin.block_time)
            .map(|seconds| Duration::from_secs(seconds.saturating_mul(guard.stale_tip_factor))),
        expected_chain: guard.expected_chain.clone(),
    });
    options.refuse_work_on_chain_fault = settings.refuse_work_on_chain_fault;
    options.durable_ack = settings.durable_ack;
    options.event_memory_limit = settings.share_memory_limit.max(1);
    options.banning = settings
        .banning
        .as_ref()
        .filter(|b| b.enabled)
        .map(|b| BanOptions {
            duration: Duration::from_secs(b.time),
            invalid_percent: b.invalid_percent,
            check_threshold: b.check_threshold,
            purge_interval: Duration::from_secs(b.purge_interval.max(1)),
        });
    if let Some(p2p) = settings.p2p.as_ref().filter(|p| p.enabled) {
        let magic = pool
            .coin
            .peer_magic
            .as_deref()
            .and_then(|m| hex::decode(m).ok())
            .and_then(|m| <[u8; 4]>::try_from(m).ok())
            .ok_or_else(|| {
                config_error(
                    pool,
                    "p2p",
                    format!("the coin file {} has no 4-byte peerMagic", pool.config.coin),
                    "add peerMagic (hex) to the coin file, or disable p2p",
                )
            })?;
        options.p2p = Some(P2pOptions {
            host: p2p.host.clone(),
            port: p2p.port,
            magic,
            relay_transactions: !p2p.disable_transactions,
        });
    }

    let writer_stop = CancellationToken::new();
    let mpos = settings.mpos_mode.as_ref().filter(|m| m.enabled);
    let (authorizer, destination): (Arc<dyn Authorizer>, _) = if let Some(mode) = mpos {
        let mut mpos_options = MposOptions::new(format!(
            "mysql://{}:{}@{}:{}/{}",
            mode.user, mode.password, mode.host, mode.port, mode.database
        ));
        mpos_options.check_password = mode.check_password;
        mpos_options.auto_create_worker = mode.auto_create_worker;
        mpos_options.difficulty_multiplier = pool
            .coin
            .mpos_diff_multiplier
            .or(mode.difficulty_multiplier)
            .unwrap_or(1.0);
        mpos_options.validate_worker_username = settings.validate_worker_username;
        mpos_options.emit_invalid_block_hashes = settings.emit_invalid_block_hashes;
        let database = mpos_options.pool().map_err(|e| {
            config_error(
                pool,
                "mposMode",
                e.to_string(),
                "check host, user, password and database",
            )
        })?;
        tracing::info!(pool = name, "MPOS mode: shares go to the MPOS database");
        let authorizer = Arc::new(MposAuthorizer::new(database.clone(), &mpos_options));
        (
            authorizer as Arc<dyn Authorizer>,
            Destination::Mpos(database, mpos_options),
        )
    } else {
        let authorizer: Arc<dyn Authorizer> = match (settings.validate_worker_username, &daemons) {
            (true, Some(daemons)) => Arc::new(DaemonAddressAuthorizer::new(daemons.clone())),
            // Without a daemon (upstream mode) addresses are checked by their format.
            (true, None) => Arc::new(AddressAuthorizer::new(format.clone())),
            (false, _) => Arc::new(AllowAll),
        };
        let store: Arc<dyn PaymentStore> = match &settings.redis {
            Some(redis) => {
                tracing::info!(
                    pool = name,
                    redis = redis.describe(),
                    "share store: Redis (NOMP's key layout)"
                );
                Arc::new(
                    RedisStore::with_options(&redis.options(), &pool.coin.name)
                        .map_err(|e| StartError::Other(e.to_string()))?,
                )
            }
            None => {
                let path = data_dir.join("nomp.sqlite");
                tracing::info!(pool = name, file = %path.display(), "share store: embedded");
                Arc::new(
                    EmbeddedStore::open(&path, &pool.coin.name)
                        .map_err(|e| StartError::Other(e.to_string()))?,
                )
            }
        };
        (authorizer, Destination::Store(store))
    };

    let started = match (settings.upstream(), daemons) {
        (Some(upstream), daemons) => {
            tracing::info!(
                pool = name,
                upstreams = upstream.servers.len(),
                "upstream mode: work comes from upstream pools"
            );
            start_upstream_pool(
                options,
                upstream_options(upstream),
                daemons,
                authorizer,
                cancel.child_token(),
            )
            .await
        }
        (None, Some(daemons)) => {
            start_pool(options, daemons, authorizer, cancel.child_token()).await
        }
        (None, None) => {
            return Err(config_error(
                pool,
                "daemons",
                "lists no daemon".into(),
                "add the coin daemon's host, port, user and password",
            ));
        }
    };
    let mut running =
        started.map_err(|e| StartError::Other(format!("{}: {e}", pool.path.display())))?;
    let events = running.take_events();
    let spool = WriterOptions::new(data_dir.join(format!("{name}.spool")));
    let mut summary = PoolSummary {
        name: name.clone(),
        symbol: pool.coin.symbol.clone(),
        algorithm: pool.algorithm,
        address: settings.address.clone(),
        address_version: address_version(&settings.address),
        ports: port_summaries,
        fee_percent: settings.reward_recipients.values().sum(),
        payment_scheme: None,
        minimum_payment: None,
    };
    let mut store_for_portal = None;
    let mut payment_counters = None;
    let mut prune_samples = true;
    let (writer, payments) = match destination {
        Destination::Mpos(database, mpos_options) => {
            let sink =
                MposShareSink::spawn(database, events, &mpos_options, spool, writer_stop.clone())
                    .await
                    .map_err(|e| {
                        StartError::Other(format!("{}: mposMode: {e}", pool.path.display()))
                    })?;
            (sink, None)
        }
        Destination::Store(store) => {
            store_for_portal = Some(store.clone());
            let writer = ShareWriter::spawn(store.clone(), events, spool, writer_stop.clone())
                .map_err(|e| StartError::Other(e.to_string()))?;
            let payments = match settings.payment_processing.as_ref().filter(|p| p.enabled) {
                Some(processing) => {
                    let minimum = Amount::from_coin_str(&processing.minimum_payment.to_string())
                        .ok_or_else(|| {
                            config_error(
                                pool,
                                "paymentProcessing.minimumPayment",
                                format!("{} is not an amount of coin", processing.minimum_payment),
                                "use a decimal number with at most 8 decimals",
                            )
                        })?;
                    let scheme = match processing.scheme.as_deref() {
                        None | Some("prop") => Scheme::Prop,
                        Some("solo") => Scheme::Solo,
                        Some("pplns") => Scheme::Pplns {
                            window: pplns_window(pool, processing)?,
                        },
                        Some(other) => {
                            return Err(config_error(
                                pool,
                                "paymentProcessing.scheme",
                                format!("unknown scheme {other:?}"),
                                "use \"prop\", \"pplns\" or \"solo\"",
                            ));
                        }
                    };
                    // PPLNS reads the hashrate samples as its share log.
                    prune_samples = !matches!(scheme, Scheme::Pplns { .. });
                    summary.payment_scheme =
                        Some(processing.scheme.clone().unwrap_or_else(|| "prop".into()));
                    summary.minimum_payment = Some(minimum);
                    let wallet = Arc::new(
                        DaemonGroup::new(
                            vec![endpoint(&processing.daemon)],
                            DaemonConfig::group_options(std::slice::from_ref(&processing.daemon)),
                        )
                        .map_err(|e| StartError::Other(e.to_string()))?,
                    );
                    check_wallet(pool, &wallet).await?;
                    let stop = CancellationToken::new();
                    let mut processor = PaymentProcessor::new(
                        store,
                        wallet,
                        PaymentOptions {
                            coin: pool.coin.name.clone(),
                            pool_address: settings.address.clone(),
                            scheme,
                            minimum_payment: minimum,
                            interval: Duration::from_secs(processing.payment_interval.max(1)),
                            lease_ttl: Duration::from_secs(
                                processing
                                    .lease_time
                                    .unwrap_or(processing.payment_interval.max(60) * 2)
                                    .max(1),
                            ),
                            owner: data.instance().to_owned(),
                        },
                    );
                    if let Some(notifier) = notifier {
                        let (notifier, pool) = (notifier.clone(), name.clone());
                        processor =
                            processor.on_report(move |report| notifier.payment(&pool, report));
                    }
                    payment_counters = Some(processor.counters());
                    Some((processor.spawn(stop.clone()), stop))
                }
                None => None,
            };
            (writer, payments)
        }
    };
    tracing::info!(pool = name, ports = ?running.ports, algorithm = %pool.algorithm, "pool started");
    let portal = PortalPool {
        summary,
        handle: running.handle(),
        store: store_for_portal,
        writer: Some(writer.status.clone()),
        store_write: Some(writer.store_write.clone()),
        payments: payment_counters,
        prune_samples,
    };
    if let Some(notifier) = notifier {
        notifier.watch(portal.clone(), writer_stop.child_token());
    }
    Ok(Running {
        name,
        coin: pool.coin.name.clone(),
        file: pool.clone(),
        waker: running.waker.clone(),
        pool: running,
        portal,
        format,
        writer,
        writer_stop,
        payments,
    })
}

impl Running {
    /// Stops accepting, closes connections after their in-flight answers, writes every
    /// share the pool reported (to the store or the spool), and lets a payment run in
    /// progress finish (or stay safely planned in the journal).
    pub(crate) async fn stop(self) {
        let name = self.name;
        self.pool.shutdown().await;
        self.writer_stop.cancel();
        if let Err(error) = self.writer.join().await {
            tracing::error!(pool = name, %error, "the share writer stopped with shares it could not save");
        }
        if let Some((task, stop)) = self.payments {
            stop.cancel();
            if tokio::time::timeout(PAYMENT_GRACE, task).await.is_err() {
                tracing::warn!(
                    pool = name,
                    "payment run still going at shutdown; the journal finishes it next start"
                );
            }
        }
        tracing::info!(pool = name, "pool stopped");
    }
}

/// The running pools, for the CLI (blocknotify, reloadpool) and the portal.
pub(crate) struct Pools {
    config_dir: std::path::PathBuf,
    data: Arc<DataDir>,
    /// One for every pool of the process: a switching port moves miners between them.
    ids: Arc<IdAllocator>,
    /// Tells the operator of what costs money, when `notifications` are on.
    notifier: Option<Notifier>,
    cancel: CancellationToken,
    /// Locked before `switches` wherever both are held.
    running: tokio::sync::Mutex<Vec<Running>>,
    switches: tokio::sync::Mutex<Vec<Switch>>,
    /// Where the coin of each switch is kept (NOMP's `proxyState`), when there are switches.
    switch_state: Option<Arc<dyn SwitchState>>,
}

/// A running switch and the algorithm of the pools it moves between.
struct Switch {
    name: String,
    algorithm: Algorithm,
    running: RunningSwitch,
}

impl Running {
    /// This pool as a switch's target: miners' key hashes become this coin's addresses.
    fn target(&self) -> SwitchTarget {
        SwitchTarget {
            name: self.name.clone(),
            handle: self.pool.handle(),
            credit: key_hash_credit(self.format.clone()),
        }
    }
}

/// The store of the coin each switch is on: the portal's Redis (NOMP's `proxyState` hash)
/// when `config.json` names one, else the embedded store in the data directory.
fn open_switch_state(
    config: &Config,
    data: &DataDir,
) -> Result<Option<Arc<dyn SwitchState>>, StartError> {
    if !config.portal.switching.values().any(|s| s.enabled) {
        return Ok(None);
    }
    let file = config.dir.join("config.json");
    let store: Arc<dyn SwitchState> = match &config.portal.redis {
        Some(redis) => Arc::new(
            RedisStore::with_options(&redis.options(), "")
                .map_err(|e| StartError::Other(format!("{}: redis: {e}", file.display())))?,
        ),
        None => {
            let path = data.path().join("nomp.sqlite");
            Arc::new(
                EmbeddedStore::open(&path, "")
                    .map_err(|e| StartError::Other(format!("{}: {e}", path.display())))?,
            )
        }
    };
    Ok(Some(store))
}

/// The coin each switch was on before the restart, by algorithm. A store that cannot be
/// read starts the switches on their first pools, loudly.
async fn saved_switch_coins(state: Option<&Arc<dyn SwitchState>>) -> BTreeMap<String, String> {
    let Some(state) = state else {
        return BTreeMap::new();
    };
    match state.switched_coins().await {
        Ok(saved) => saved,
        Err(error) => {
            tracing::error!(%error, "the coins the switches were on cannot be read; each starts on the first pool of its algorithm");
            BTreeMap::new()
        }
    }
}

/// Starts the enabled switches of `config`, each on the pool it was on before (NOMP's
/// `proxyState`) or else on the first running pool of its algorithm.
async fn start_switches(
    config: &Config,
    running: &[Running],
    saved: &BTreeMap<String, String>,
    cancel: &CancellationToken,
) -> Result<Vec<Switch>, StartError> {
    let file = config.dir.join("config.json");
    let mut switches = Vec::new();
    for (name, switch) in config.portal.switching.iter().filter(|(_, s)| s.enabled) {
        // check_switching made sure the algorithm parses and a pool mines it.
        let algorithm: Algorithm = switch
            .algorithm
            .parse()
            .map_err(|e: hashing::HashingError| StartError::Other(e.to_string()))?;
        let candidates = || running.iter().filter(|p| p.file.switchable(algorithm));
        let resumed = saved.get(algorithm.name()).and_then(|coin| {
            let found = candidates().find(|p| Pools::is(p, coin));
            if found.is_none() {
                tracing::warn!(switch = name, coin, "the coin this switch was on runs no more; it starts on the first pool of its algorithm");
            }
            found
        });
        let Some(first) = resumed.or_else(|| candidates().next()) else {
            return Err(StartError::Other(format!(
                "switch {name}: no running pool mines {algorithm}"
            )));
        };
        let (ports, _) = port_options(
            &config.dir,
            &file,
            &format!("switching.{name}."),
            &switch.ports,
        )?;
        let options = SwitchOptions {
            name: name.clone(),
            ports,
            proxy_protocol: false,
        };
        let started = start_switch(options, first.target(), cancel.child_token())
            .await
            .map_err(|e| StartError::Other(format!("{}: switching.{name}: {e}", file.display())))?;
        switches.push(Switch {
            name: name.clone(),
            algorithm,
            running: started,
        });
    }
    Ok(switches)
}

/// Points each switch at the running pool of the name it is on (a restarted pool is a new
/// pool), or at the first running pool of its algorithm if that one is gone (or was
/// reloaded into upstream mode).
fn retarget(running: &[Running], switches: &[Switch]) {
    for switch in switches {
        let current = switch.running.current();
        let target = running
            .iter()
            .filter(|p| p.file.switchable(switch.algorithm))
            .find(|p| p.name == current)
            .or_else(|| running.iter().find(|p| p.file.switchable(switch.algorithm)));
        match target {
            Some(pool) => {
                if let Err(error) = switch.running.switch_to(pool.target()) {
                    tracing::warn!(switch = switch.name, %error, "switch not moved");
                }
            }
            None => tracing::warn!(
                switch = switch.name,
                "no running pool of its algorithm is left"
            ),
        }
    }
}

impl Pools {
    /// Starts every enabled pool of `config`, their extranonce1 values and job ids from
    /// `ids` (this front-end's instance id); on a failure stops those started.
    pub(crate) async fn start_all(
        config: &Config,
        data: &Arc<DataDir>,
        ids: Arc<IdAllocator>,
        cancel: CancellationToken,
    ) -> Result<Pools, StartError> {
        preflight(config)?;
        let ids = &ids;
        let notifier = config
            .portal
            .notifications
            .as_ref()
            .and_then(|n| Notifier::start(n, cancel.child_token()));
        let notifier = notifier.as_ref();
        // All at once: a pool waiting for its daemon holds up no other. The first failure
        // stops the others' waits, and every pool started is stopped again.
        let starting = cancel.child_token();
        let results = join_all(
            config
                .pools
                .iter()
                .filter(|p| p.config.enabled)
                .map(|pool| {
                    let starting = &starting;
                    async move {
                        let result = start(config, pool, data, ids, notifier, starting).await;
                        let first_failure = result.is_err() && !starting.is_cancelled();
                        if first_failure {
                            starting.cancel();
                        }
                        (result, first_failure)
                    }
                }),
        )
        .await;
        let mut running = Vec::new();
        let mut failure = None;
        for (result, first_failure) in results {
            match result {
                Ok(started) => running.push(started),
                Err(error) if first_failure || failure.is_none() => failure = Some(error),
                Err(_) => {}
            }
        }
        if let Some(error) = failure {
            for started in running {
                started.stop().await;
            }
            return Err(error);
        }
        if running.is_empty() {
            return Err(StartError::Other("no enabled pool in pool_configs/".into()));
        }
        let switch_state = match open_switch_state(config, data) {
            Ok(state) => state,
            Err(error) => {
                for started in running {
                    started.stop().await;
                }
                return Err(error);
            }
        };
        let saved = saved_switch_coins(switch_state.as_ref()).await;
        let switches = match start_switches(config, &running, &saved, &cancel).await {
            Ok(switches) => switches,
            Err(error) => {
                for started in running {
                    started.stop().await;
                }
                return Err(error);
            }
        };
        Ok(Pools {
            config_dir: config.dir.clone(),
            data: data.clone(),
            ids: ids.clone(),
            notifier: notifier.cloned(),
            cancel,
            running: tokio::sync::Mutex::new(running),
            switches: tokio::sync::Mutex::new(switches),
            switch_state,
        })
    }

    /// How many pools run.
    pub(crate) async fn count(&self) -> usize {
        self.running.lock().await.len()
    }

    /// Whether `name` (a coin file's name or a coin's name, any case) names `pool`.
    fn is(pool: &Running, name: &str) -> bool {
        pool.name.eq_ignore_ascii_case(name) || pool.coin.eq_ignore_ascii_case(name)
    }

    /// Wakes pool `name`'s template source; false if there is no such pool.
    pub(crate) async fn blocknotify(&self, name: &str) -> Result<(), ActionError> {
        let running = self.running.lock().await;
        match running.iter().find(|p| Pools::is(p, name)) {
            Some(pool) => match &pool.waker {
                Some(waker) => {
                    waker.wake(coin_daemon::WakeSource::BlockNotify);
                    Ok(())
                }
                None => Err(ActionError::Refused(format!(
                    "{} mines through an upstream pool: its new blocks arrive as the upstream's jobs",
                    pool.name
                ))),
            },
            None => Err(self.unknown(&running, name)),
        }
    }

    fn unknown(&self, running: &[Running], name: &str) -> ActionError {
        ActionError::Unknown {
            kind: Named::Pool,
            name: name.to_owned(),
            known: running.iter().map(|p| p.name.clone()).collect(),
        }
    }

    /// Re-reads the configuration and restarts pool `name` with it; the other pools and
    /// their miners are untouched. A configuration that does not load leaves the pool as
    /// it was; if the new settings fail to start, the old ones are started again.
    pub(crate) async fn reload(&self, name: &str) -> Result<String, ActionError> {
        let config = crate::config::load(&self.config_dir)
            .map_err(|e| ActionError::Refused(e.to_string()))?;
        let mut running = self.running.lock().await;
        let Some(index) = running.iter().position(|p| Pools::is(p, name)) else {
            return Err(self.unknown(&running, name));
        };
        let old = running.remove(index);
        // Replies name the pool as configured, whatever case the caller used.
        let name = old.name.clone();
        let file = old.file.clone();
        let fresh = config
            .pools
            .iter()
            .find(|p| p.path == file.path)
            .filter(|p| p.config.enabled)
            .cloned();
        old.stop().await;
        let Some(fresh) = fresh else {
            retarget(&running, &self.switches.lock().await);
            return Ok(format!(
                "{name} stopped: disabled or removed in the new configuration"
            ));
        };
        let notifier = self.notifier.as_ref();
        let started = start(
            &config,
            &fresh,
            &self.data,
            &self.ids,
            notifier,
            &self.cancel,
        )
        .await;
        let reply = match started {
            Ok(started) => {
                running.push(started);
                Ok(format!("{name} reloaded"))
            }
            Err(error) => {
                let previous = crate::config::Config {
                    pools: vec![file.clone()],
                    ..config
                };
                match start(
                    &previous,
                    &file,
                    &self.data,
                    &self.ids,
                    notifier,
                    &self.cancel,
                )
                .await
                {
                    Ok(started) => running.push(started),
                    Err(again) => {
                        tracing::error!(pool = name, %again, "the previous settings do not start either")
                    }
                }
                Err(ActionError::Refused(format!(
                    "{name} kept its previous settings: {error}"
                )))
            }
        };
        retarget(&running, &self.switches.lock().await);
        reply
    }

    /// For each switch: its name, the pool it is on, and what each pool of its algorithm
    /// earns per hash now (reward of the current job × price ÷ network difficulty).
    pub(crate) async fn profit_candidates(
        &self,
        prices: &crate::profit::Prices,
    ) -> Vec<(String, String, Vec<crate::profit::Candidate>)> {
        let running = self.running.lock().await;
        let switches = self.switches.lock().await;
        let mut all = Vec::new();
        for switch in switches.iter() {
            let mut candidates = Vec::new();
            for pool in running
                .iter()
                .filter(|p| p.file.switchable(switch.algorithm))
            {
                let handle = pool.pool.handle();
                let reward = handle.current_job().map(|job| {
                    job.coinbase_outputs()
                        .iter()
                        .map(|(sats, _)| *sats as f64)
                        .sum::<f64>()
                        / 1e8
                });
                let difficulty = handle.network_difficulty().map(|d| d.get());
                let price = prices.price(&pool.file.coin.symbol).await;
                let revenue = match (reward, price, difficulty) {
                    (Some(reward), Some(price), Some(difficulty)) => {
                        crate::profit::revenue(reward, price, difficulty)
                    }
                    _ => None,
                };
                candidates.push(crate::profit::Candidate {
                    pool: pool.name.clone(),
                    revenue,
                    working: handle.current_job().is_some(),
                });
            }
            all.push((switch.name.clone(), switch.running.current(), candidates));
        }
        all
    }

    /// Moves switch `switch` and its miners to pool `coin` (its name or its coin's name).
    pub(crate) async fn coin_switch(
        &self,
        switch: &str,
        coin: &str,
    ) -> Result<String, ActionError> {
        let running = self.running.lock().await;
        let switches = self.switches.lock().await;
        let Some(found) = switches
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(switch))
        else {
            return Err(ActionError::Unknown {
                kind: Named::Switch,
                name: switch.to_owned(),
                known: switches.iter().map(|s| s.name.clone()).collect(),
            });
        };
        let (reply, moved) = self.move_switch(&running, found, coin)?;
        self.save_switch(found.algorithm, &moved).await;
        Ok(reply)
    }

    /// Keeps the coin the switches of `algorithm` are now on, for the next start; a store
    /// that refuses it is an error in the log (the switch has moved all the same).
    async fn save_switch(&self, algorithm: Algorithm, coin: &str) {
        let Some(state) = &self.switch_state else {
            return;
        };
        if let Err(error) = state.set_switched_coin(algorithm.name(), coin).await {
            tracing::error!(%algorithm, coin, %error, "switch moved, but its coin could not be saved: a restart starts it where it was saved last");
        }
    }

    /// Moves every switch of `algorithm` to pool `coin` (NOMP's `coinswitch <coin>
    /// -algorithm=<algorithm>`).
    pub(crate) async fn coin_switch_algorithm(
        &self,
        algorithm: &str,
        coin: &str,
    ) -> Result<String, ActionError> {
        let algorithm: Algorithm = algorithm
            .parse()
            .map_err(|e: hashing::HashingError| ActionError::Refused(e.to_string()))?;
        let running = self.running.lock().await;
        let switches = self.switches.lock().await;
        let chosen: Vec<&Switch> = switches
            .iter()
            .filter(|s| s.algorithm == algorithm)
            .collect();
        if chosen.is_empty() {
            return Err(ActionError::Refused(format!("no switch mines {algorithm}")));
        }
        let mut replies = Vec::new();
        let mut moved = None;
        for switch in chosen {
            let (reply, coin) = self.move_switch(&running, switch, coin)?;
            replies.push(reply);
            moved = Some(coin);
        }
        if let Some(coin) = moved {
            self.save_switch(algorithm, &coin).await;
        }
        Ok(replies.join("; "))
    }

    /// Whether `name` names a switch.
    pub(crate) async fn is_switch(&self, name: &str) -> bool {
        self.switches
            .lock()
            .await
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Moves `found` to pool `coin`; the reply and the pool's coin name.
    fn move_switch(
        &self,
        running: &[Running],
        found: &Switch,
        coin: &str,
    ) -> Result<(String, String), ActionError> {
        let Some(pool) = running.iter().find(|p| Pools::is(p, coin)) else {
            return Err(self.unknown(running, coin));
        };
        if pool.file.algorithm != found.algorithm {
            return Err(ActionError::Refused(format!(
                "{} mines {}, switch {} is for {}",
                pool.name, pool.file.algorithm, found.name, found.algorithm
            )));
        }
        if !pool.file.switchable(found.algorithm) {
            return Err(ActionError::Refused(format!(
                "{} mines through an upstream pool; switches only move miners to pools with \
                 their own daemons",
                pool.name
            )));
        }
        found
            .running
            .switch_to(pool.target())
            .map_err(|e| ActionError::Refused(e.to_string()))?;
        Ok((
            format!("switch {} moved to {}", found.name, pool.name),
            pool.coin.clone(),
        ))
    }

    /// Stops every pool gracefully.
    pub(crate) async fn stop_all(&self) {
        let mut running = self.running.lock().await;
        for switch in std::mem::take(&mut *self.switches.lock().await) {
            switch.running.shutdown().await;
        }
        let running = std::mem::take(&mut *running);
        for pool in running {
            pool.stop().await;
        }
    }
}

#[async_trait::async_trait]
impl PoolDirectory for Pools {
    async fn pools(&self) -> Vec<PortalPool> {
        self.running
            .lock()
            .await
            .iter()
            .map(|p| p.portal.clone())
            .collect()
    }

    async fn reload_pool(&self, name: &str) -> Result<String, ActionError> {
        self.reload(name).await
    }

    async fn coin_switch(&self, switch: &str, coin: &str) -> Result<String, ActionError> {
        Pools::coin_switch(self, switch, coin).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_format_follows_the_pool_address() {
        let regtest = address_format("mzBc4XEFSdzCDcTxAgf6EZXgsZWpztRhef", &[0x76]);
        assert_eq!(regtest.p2pkh, [0x6f]);
        assert_eq!(regtest.bech32_hrp, None);
        let p2sh = address_format("2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", &[0xa9]);
        assert_eq!((p2sh.p2pkh.len(), p2sh.p2sh), (0, vec![0xc4]));

        let segwit = bech32::segwit::encode_v0(bech32::hrp::BC, &[7; 20]).unwrap();
        let format = address_format(&segwit, &[0x00, 0x14]);
        assert_eq!(format.bech32_hrp.as_deref(), Some("bc"));
        assert!(format.p2pkh.is_empty());
        // A segwit-only coin credits switching miners their P2WPKH address.
        let credit = key_hash_credit(format);
        assert_eq!(credit(&hex::encode([7u8; 20])), Some(segwit));
    }
}
