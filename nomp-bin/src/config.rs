//! NOMP's configuration files: `config.json`, `coins/*.json`, `pool_configs/*.json`
//! (comments allowed), read strictly: an unknown field, a wrong type, an unknown coin or
//! algorithm, or a port used twice is an error naming the file, the field and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hashing::{Algorithm, HashOptions};
use payments::{INSTANCE_IDS, RedisEndpoint, RedisOptions};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A configuration mistake, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// The file.
    pub(crate) file: PathBuf,
    /// The field path inside it (`ports.3008.varDiff.targetTime`), empty for the whole file.
    pub(crate) field: String,
    /// What is wrong.
    pub(crate) message: String,
    /// How to fix it, when there is a likely fix.
    pub(crate) fix: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, " ({fix})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A setting NOMP accepts that nomp-rs reads differently or not at all: said at start-up
/// (and by `check-config`), never a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigWarning {
    /// The file.
    pub(crate) file: PathBuf,
    /// The field path inside it.
    pub(crate) field: String,
    /// What happens instead, and what to do about it.
    pub(crate) message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

fn yes() -> bool {
    true
}

/// `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PortalConfig {
    /// `debug`, `warning`, `error` or `special` (NOMP's levels), or any tracing level.
    #[serde(default = "default_log_level")]
    pub(crate) log_level: String,
    /// Colours in terminal logs.
    #[serde(default = "yes")]
    pub(crate) log_colors: bool,
    /// One JSON object per log line, for log shippers (nomp-rs).
    #[serde(default)]
    pub(crate) log_json: bool,
    /// `text` (the default) or `json`: one JSON object per line, with the pool, worker and
    /// remote address as top-level fields (nomp-rs).
    #[serde(default)]
    pub(crate) log_format: Option<LogFormat>,
    /// The CLI listener's port on 127.0.0.1.
    #[serde(default = "default_cli_port")]
    pub(crate) cli_port: u16,
    /// Worker threads.
    #[serde(default)]
    pub(crate) clustering: Clustering,
    /// Pool fields every pool config gets unless it sets them itself.
    #[serde(default)]
    pub(crate) default_pool_configs: Map<String, Value>,
    /// The portal's Redis (NOMP's stats); pools choose their store themselves.
    #[serde(default)]
    pub(crate) redis: Option<RedisConfig>,
    /// This front-end's instance id, 0–31, when several front-ends share one Redis: the
    /// top bits of its miners' extranonce1 values and job ids, claimed in Redis at start
    /// (a second front-end with the same id is refused). Left out, a free one is taken
    /// (nomp-rs).
    #[serde(default)]
    pub(crate) instance_id: Option<u8>,
    /// The web portal.
    #[serde(default)]
    pub(crate) website: Option<WebsiteConfig>,
    /// Coin-switching ports, by switch name.
    #[serde(default)]
    pub(crate) switching: BTreeMap<String, SwitchConfig>,
    /// Profit switching: moves each switch to its most profitable coin.
    #[serde(default)]
    pub(crate) profit_switch: Option<ProfitSwitchConfig>,
    /// Operator notifications (nomp-rs).
    #[serde(default)]
    pub(crate) notifications: Option<NotificationsConfig>,
}

/// One switch of `switching`: ports that take miners of an algorithm and give them the
/// work of one coin at a time.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SwitchConfig {
    /// Whether the switch runs: only with `"enabled": true`, as NOMP.
    #[serde(default)]
    pub(crate) enabled: bool,
    /// The algorithm of the coins it switches between (NOMP name).
    pub(crate) algorithm: String,
    /// Its ports, as a pool's.
    pub(crate) ports: BTreeMap<String, PortConfig>,
}

/// `profitSwitch`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ProfitSwitchConfig {
    /// Whether switches follow profit.
    #[serde(default)]
    pub(crate) enabled: bool,
    /// Seconds between checks.
    #[serde(default = "default_profit_interval")]
    pub(crate) update_interval: u64,
    /// How many percent more another coin must earn before a switch moves to it.
    #[serde(default = "default_margin")]
    pub(crate) margin: f64,
    /// Fixed prices by coin symbol, in any one currency.
    #[serde(default)]
    pub(crate) prices: BTreeMap<String, f64>,
    /// Prices read over HTTP by coin symbol (they win over `prices`).
    #[serde(default)]
    pub(crate) price_sources: BTreeMap<String, PriceSourceConfig>,
    /// NOMP's order-book depth and exchange switches: those exchanges are gone; ignored.
    #[serde(default, skip_serializing)]
    pub(crate) depth: Option<Value>,
    /// Ignored (NOMP's Poloniex switch).
    #[serde(default, skip_serializing)]
    pub(crate) use_poloniex: Option<Value>,
    /// Ignored (NOMP's Cryptsy switch).
    #[serde(default, skip_serializing)]
    pub(crate) use_cryptsy: Option<Value>,
    /// Ignored (NOMP's Mintpal switch).
    #[serde(default, skip_serializing)]
    pub(crate) use_mintpal: Option<Value>,
    /// Ignored (NOMP's Bittrex switch).
    #[serde(default, skip_serializing)]
    pub(crate) use_bittrex: Option<Value>,
}

impl ProfitSwitchConfig {
    /// The NOMP exchange fields set in this file: they do nothing now.
    pub(crate) fn ignored_fields(&self) -> Vec<&'static str> {
        [
            ("depth", &self.depth),
            ("usePoloniex", &self.use_poloniex),
            ("useCryptsy", &self.use_cryptsy),
            ("useMintpal", &self.use_mintpal),
            ("useBittrex", &self.use_bittrex),
        ]
        .into_iter()
        .filter(|(_, value)| value.is_some())
        .map(|(name, _)| name)
        .collect()
    }
}

fn default_profit_interval() -> u64 {
    600
}

fn default_margin() -> f64 {
    5.0
}

/// A price read from a JSON document over HTTP.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PriceSourceConfig {
    /// The document's URL (`http://…`).
    pub(crate) url: String,
    /// Where the price is in it: field names and array indexes joined by dots
    /// (`data.0.price`); the value is a number or a numeric string.
    pub(crate) path: String,
}

/// `website`: the portal.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct WebsiteConfig {
    /// Whether the portal runs: only with `"enabled": true`, as NOMP.
    #[serde(default)]
    pub(crate) enabled: bool,
    /// The address to listen on.
    #[serde(default = "default_web_host")]
    pub(crate) host: String,
    /// The port to listen on.
    #[serde(default = "default_web_port")]
    pub(crate) port: u16,
    /// The host name miners use, shown in stratum URLs (default: `host`).
    #[serde(default)]
    pub(crate) stratum_host: Option<String>,
    /// Stats gathering.
    #[serde(default)]
    pub(crate) stats: WebsiteStats,
    /// The admin center.
    #[serde(default)]
    pub(crate) admin_center: AdminCenter,
    /// Per-worker hashrate in `/metrics` for at most this many workers per pool (nomp-rs;
    /// 0, the default, keeps worker names out of metrics).
    #[serde(default)]
    pub(crate) metrics_worker_labels: usize,
}

fn default_web_host() -> String {
    "0.0.0.0".into()
}

fn default_web_port() -> u16 {
    8080
}

/// `website.stats`, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct WebsiteStats {
    /// How often stats are gathered and pushed.
    #[serde(default = "default_update_interval")]
    pub(crate) update_interval: u64,
    /// How long the history is kept.
    #[serde(default = "default_retention")]
    pub(crate) historical_retention: u64,
    /// The span hashrate is computed over.
    #[serde(default = "default_hashrate_window")]
    pub(crate) hashrate_window: u64,
    /// NOMP's chart colours: nomp-rs draws its charts in its own (said at start-up).
    #[serde(default, skip_serializing)]
    pub(crate) graph_colors: Option<Value>,
}

impl Default for WebsiteStats {
    fn default() -> Self {
        WebsiteStats {
            update_interval: default_update_interval(),
            historical_retention: default_retention(),
            hashrate_window: default_hashrate_window(),
            graph_colors: None,
        }
    }
}

fn default_update_interval() -> u64 {
    60
}

fn default_retention() -> u64 {
    43_200
}

fn default_hashrate_window() -> u64 {
    300
}

/// `website.adminCenter`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AdminCenter {
    /// Whether the admin center is on (it also needs a password hash).
    #[serde(default)]
    pub(crate) enabled: bool,
    /// The admin password's argon2 hash (`nomp hash-password` prints one).
    #[serde(default)]
    pub(crate) admin_password_hash: Option<String>,
    /// NOMP's plaintext password: refused, so no password sits in a config file.
    #[serde(default, skip_serializing)]
    pub(crate) password: Option<String>,
}

fn default_log_level() -> String {
    "debug".into()
}

fn default_cli_port() -> u16 {
    17117
}

/// `clustering`: NOMP's worker processes, here the runtime's worker threads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Clustering {
    /// Ignored (one process always); kept for NOMP's files.
    #[serde(default)]
    pub(crate) enabled: bool,
    /// Worker threads: a number, or `"auto"` for one per core.
    #[serde(default)]
    pub(crate) forks: Option<Value>,
}

/// A Redis server, or a Redis Sentinel group's master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RedisConfig {
    /// Host name or IP (unused with `sentinels`).
    #[serde(default = "default_redis_host")]
    pub(crate) host: String,
    /// Port (unused with `sentinels`).
    #[serde(default = "default_redis_port")]
    pub(crate) port: u16,
    /// Password (`requirepass`), if any.
    #[serde(default)]
    pub(crate) password: Option<String>,
    /// Database number.
    #[serde(default)]
    pub(crate) db: Option<u32>,
    /// Redis Sentinel (nomp-rs): the sentinels asked for the current master at every
    /// (re)connection, so the pool follows a failover by itself.
    #[serde(default)]
    pub(crate) sentinels: Vec<RedisNode>,
    /// The master's name in the sentinels' configuration (`sentinel monitor <name> …`);
    /// required with `sentinels`.
    #[serde(default)]
    pub(crate) master_name: Option<String>,
    /// The sentinels' own password, if they have one.
    #[serde(default)]
    pub(crate) sentinel_password: Option<String>,
    /// Replicas every write must reach (Redis `WAIT`) before it counts as stored: what a
    /// failover cannot lose (nomp-rs). Default 1 with `sentinels`, else 0.
    #[serde(default)]
    pub(crate) wait_replicas: Option<u32>,
    /// Milliseconds a write waits for them; a write they did not confirm is kept in the
    /// share log and written again (default 1000).
    #[serde(default = "default_replica_timeout")]
    pub(crate) replica_timeout: u64,
}

/// One sentinel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RedisNode {
    /// Host name or IP.
    pub(crate) host: String,
    /// Port (Sentinel's default is 26379).
    pub(crate) port: u16,
}

fn default_redis_host() -> String {
    "127.0.0.1".into()
}

fn default_redis_port() -> u16 {
    6379
}

fn default_replica_timeout() -> u64 {
    1000
}

impl RedisConfig {
    /// How the store reaches it.
    pub(crate) fn options(&self) -> RedisOptions {
        let db = self.db.unwrap_or(0);
        let endpoint = if self.sentinels.is_empty() {
            let auth = self
                .password
                .as_ref()
                .map_or(String::new(), |p| format!(":{p}@"));
            RedisEndpoint::Url(format!("redis://{auth}{}:{}/{db}", self.host, self.port))
        } else {
            let auth = self
                .sentinel_password
                .as_ref()
                .map_or(String::new(), |p| format!(":{p}@"));
            RedisEndpoint::Sentinel {
                sentinels: self
                    .sentinels
                    .iter()
                    .map(|s| format!("redis://{auth}{}:{}", s.host, s.port))
                    .collect(),
                master_name: self.master_name.clone().unwrap_or_default(),
                db: i64::from(db),
                password: self.password.clone(),
            }
        };
        RedisOptions {
            endpoint,
            replicas: self
                .wait_replicas
                .unwrap_or(u32::from(!self.sentinels.is_empty())),
            replica_timeout: Duration::from_millis(self.replica_timeout.max(1)),
        }
    }

    /// Where it is, for logs (no password).
    pub(crate) fn describe(&self) -> String {
        if self.sentinels.is_empty() {
            return format!("{}:{}", self.host, self.port);
        }
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("{}:{}", s.host, s.port))
            .collect();
        format!(
            "master {:?} of sentinels {}",
            self.master_name.as_deref().unwrap_or(""),
            sentinels.join(",")
        )
    }

    /// The settings that must go together.
    fn check(&self, path: &Path, field: &str) -> Result<(), ConfigError> {
        let missing_name = self
            .master_name
            .as_deref()
            .is_none_or(|name| name.trim().is_empty());
        if !self.sentinels.is_empty() && missing_name {
            return Err(ConfigError {
                file: path.to_owned(),
                field: format!("{field}.masterName"),
                message: "is missing: the sentinels are asked for a master by its name".into(),
                fix: Some(
                    "set it to the name in the sentinels' `sentinel monitor <name> …` line".into(),
                ),
            });
        }
        if self.sentinels.is_empty() && self.master_name.is_some() {
            return Err(ConfigError {
                file: path.to_owned(),
                field: format!("{field}.sentinels"),
                message: "is empty, but masterName is set".into(),
                fix: Some(
                    "list the sentinels ([{\"host\": …, \"port\": 26379}, …]), or remove masterName"
                        .into(),
                ),
            });
        }
        Ok(())
    }
}

/// `coins/<name>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CoinConfig {
    /// The coin's name; also the key prefix in Redis and the pool's name in the CLI.
    pub(crate) name: String,
    /// Its ticker.
    pub(crate) symbol: String,
    /// The proof-of-work algorithm, by NOMP's name.
    pub(crate) algorithm: String,
    /// P2P network magic (hex, wire order), for `p2p`.
    #[serde(default)]
    pub(crate) peer_magic: Option<String>,
    /// Testnet P2P magic (NOMP's README spells it `peerMagicTestnet`, its coin files
    /// `peerMagicTestNet`; both are read).
    #[serde(default, alias = "peerMagicTestNet")]
    pub(crate) peer_magic_testnet: Option<String>,
    /// Coinbase carries a transaction message (`true`, or NOMP files' `"true"`).
    #[serde(default, deserialize_with = "bool_or_text")]
    #[schemars(schema_with = "bool_or_text_schema")]
    pub(crate) tx_messages: bool,
    /// `POW` (default) or `POS`.
    #[serde(default)]
    pub(crate) reward: Option<String>,
    /// Scrypt N.
    #[serde(default)]
    pub(crate) n_value: Option<u64>,
    /// Scrypt r.
    #[serde(default)]
    pub(crate) r_value: Option<u32>,
    /// node-stratum-pool's `normalHashing`: keccak, fugue and groestl coins hash their
    /// coinbase with sha256d instead of one SHA-256, and keccak hashes headers twice.
    #[serde(default)]
    pub(crate) normal_hashing: bool,
    /// `scrypt-n`: N → activation unix time.
    #[serde(default)]
    pub(crate) time_table: Option<BTreeMap<String, u64>>,
    /// `scrypt-jane`: the chain's start time.
    #[serde(default)]
    pub(crate) chain_start_time: Option<i64>,
    /// `scrypt-jane`: the smallest N factor.
    #[serde(default)]
    pub(crate) n_min: Option<u32>,
    /// `scrypt-jane`: the largest N factor.
    #[serde(default)]
    pub(crate) n_max: Option<u32>,
    /// MPOS mode: share difficulties are multiplied by this before they are written.
    #[serde(default)]
    pub(crate) mpos_diff_multiplier: Option<f64>,
    /// Target seconds between blocks (nomp-rs): lets the chain guard call a tip stale.
    #[serde(default)]
    pub(crate) block_time: Option<u64>,
    /// An early node-stratum-pool's difficulty shift: no version of it in use reads it.
    #[serde(default, skip_serializing)]
    pub(crate) diff_shift: Option<Value>,
    /// Address and key prefixes of the main network (NOMP's coin example): `pubKeyHash`,
    /// `scriptHash` and `bech32` set how switching ports write a miner's address.
    #[serde(default)]
    pub(crate) mainnet: Option<NetworkPrefixes>,
    /// The same for the test network.
    #[serde(default)]
    pub(crate) testnet: Option<NetworkPrefixes>,
}

/// A network's address prefixes, as NOMP's coin example writes them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NetworkPrefixes {
    /// Bech32 human-readable part.
    #[serde(default)]
    pub(crate) bech32: Option<String>,
    /// BIP32 key prefixes (not used by a pool).
    #[serde(default)]
    pub(crate) bip32: Option<Value>,
    /// P2PKH version byte (hex).
    #[serde(default)]
    pub(crate) pub_key_hash: Option<String>,
    /// P2SH version byte (hex).
    #[serde(default)]
    pub(crate) script_hash: Option<String>,
    /// WIF prefix (not used by a pool).
    #[serde(default)]
    pub(crate) wif: Option<String>,
}

/// A flag given as a boolean or as NOMP files sometimes write it, `"true"` / `"false"`.
fn bool_or_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Bool(flag) => Ok(flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") || text.is_empty() => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected true or false, got {other}"
        ))),
    }
}

/// What [`bool_or_text`] reads, as a schema.
fn bool_or_text_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "true or false, or the text \"true\" / \"false\"",
        "type": ["boolean", "string"]
    })
}

/// `pool_configs/<name>.json`, after `defaultPoolConfigs` are merged in.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PoolConfig {
    /// Whether to run it: only with `"enabled": true`, as NOMP.
    #[serde(default)]
    pub(crate) enabled: bool,
    /// The coin file (`litecoin.json`).
    pub(crate) coin: String,
    /// The pool's address: the coinbase pays it.
    pub(crate) address: String,
    /// Address → percent of each block reward, paid in the coinbase.
    #[serde(default)]
    pub(crate) reward_recipients: BTreeMap<String, f64>,
    /// Payouts.
    #[serde(default)]
    pub(crate) payment_processing: Option<PaymentProcessing>,
    /// Port number → its settings.
    pub(crate) ports: BTreeMap<String, PortConfig>,
    /// The coin daemons, asked in this order (optional in upstream mode).
    #[serde(default)]
    pub(crate) daemons: Vec<DaemonConfig>,
    /// A P2P peer for instant block notifications.
    #[serde(default)]
    pub(crate) p2p: Option<P2pConfig>,
    /// MPOS mode.
    #[serde(default)]
    pub(crate) mpos_mode: Option<MposMode>,
    /// Template poll interval, milliseconds.
    #[serde(default = "default_refresh")]
    pub(crate) block_refresh_interval: u64,
    /// Seconds before an unchanged job is refreshed.
    #[serde(default = "default_rebroadcast")]
    pub(crate) job_rebroadcast_timeout: u64,
    /// Seconds without a share before a miner is dropped.
    #[serde(default = "default_connection_timeout")]
    pub(crate) connection_timeout: u64,
    /// MPOS: keep rejected blocks' hashes.
    #[serde(default)]
    pub(crate) emit_invalid_block_hashes: bool,
    /// Worker names must start with a valid address.
    #[serde(default = "yes")]
    pub(crate) validate_worker_username: bool,
    /// Connections start with a PROXY protocol header.
    #[serde(default)]
    pub(crate) tcp_proxy_protocol: bool,
    /// Answer a valid share `true` only once it is synced to the local share log
    /// (nomp-rs; on by default: the answer then means the share survives a crash).
    #[serde(default = "yes")]
    pub(crate) durable_ack: bool,
    /// Events held in memory while the share store and the share log both fail, before
    /// shares are refused with an error (nomp-rs).
    #[serde(default = "default_share_memory_limit")]
    pub(crate) share_memory_limit: u64,
    /// IP banning.
    #[serde(default)]
    pub(crate) banning: Option<Banning>,
    /// The pool's share store: Redis (NOMP's layout) when set, else the embedded store.
    #[serde(default)]
    pub(crate) redis: Option<RedisConfig>,
    /// Upstream mode (nomp-rs): work from larger stratum pools instead of the daemons.
    #[serde(default)]
    pub(crate) upstream: Option<UpstreamConfig>,
    /// The chain guard over the daemons (nomp-rs; on by default).
    #[serde(default)]
    pub(crate) chain_guard: ChainGuardConfig,
    /// Hand out no work while the chain guard sees a fault (nomp-rs).
    #[serde(default)]
    pub(crate) refuse_work_on_chain_fault: bool,
}

/// `logFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

impl PortalConfig {
    /// Whether the log is JSON: `logFormat`, else the older `logJson` switch.
    pub(crate) fn log_json(&self) -> bool {
        match self.log_format {
            Some(format) => format == LogFormat::Json,
            None => self.log_json,
        }
    }
}

/// `notifications`: where the events that cost money are told, and how often.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NotificationsConfig {
    /// Whether notifications are sent.
    #[serde(default = "yes")]
    pub(crate) enabled: bool,
    /// Seconds between two notifications of the same kind for one pool; those in between
    /// are counted and told with the next.
    #[serde(default = "default_notify_interval")]
    pub(crate) min_interval: u64,
    /// Tell of a worker that stops sending shares for this many minutes (off without it).
    #[serde(default)]
    pub(crate) worker_offline_minutes: Option<u64>,
    /// Only these kinds (`block_found`, `block_confirmed`, …); every kind without it.
    #[serde(default)]
    pub(crate) events: Option<Vec<String>>,
    /// Where they go.
    pub(crate) targets: Vec<NotifyTarget>,
}

/// One place notifications go; each is an HTTP POST of its own shape.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum NotifyTarget {
    /// A JSON POST of the whole notice.
    Webhook {
        /// The URL posted to.
        url: String,
    },
    /// An ntfy topic (`https://ntfy.sh/<topic>` or a self-hosted server).
    Ntfy {
        /// The topic's URL.
        url: String,
        /// An access token, when the topic needs one.
        #[serde(default)]
        token: Option<String>,
    },
    /// A Telegram chat, through a bot.
    Telegram {
        /// The bot's token.
        #[serde(rename = "botToken")]
        bot_token: String,
        /// The chat id.
        #[serde(rename = "chatId")]
        chat_id: String,
        /// The Bot API server (a self-hosted one); `https://api.telegram.org` without it.
        #[serde(rename = "apiUrl", default = "default_telegram_api")]
        api_url: String,
    },
    /// A Discord channel webhook.
    Discord {
        /// The webhook's URL.
        url: String,
    },
}

fn default_notify_interval() -> u64 {
    60
}
fn default_telegram_api() -> String {
    "https://api.telegram.org".into()
}

/// `chainGuard`: how the daemons' chains are compared and judged.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ChainGuardConfig {
    /// Whether the guard runs.
    #[serde(default = "yes")]
    pub(crate) enabled: bool,
    /// Seconds between checks.
    #[serde(default = "default_guard_interval")]
    pub(crate) interval: u64,
    /// Tips further apart in height than this are a fault at once.
    #[serde(default = "default_height_lag")]
    pub(crate) max_height_lag: u64,
    /// Seconds tips closer than that may differ (a block propagating) before it is a fault.
    #[serde(default = "default_disagree_seconds")]
    pub(crate) disagree_seconds: u64,
    /// A tip older than this many block times is stale.
    #[serde(default = "default_stale_tip_factor")]
    pub(crate) stale_tip_factor: u64,
    /// Seconds between blocks; overrides the coin file's `blockTime`. Without either,
    /// tips are never called stale.
    #[serde(default)]
    pub(crate) block_time: Option<u64>,
    /// The chain every daemon must report (`main`, `test`, `regtest`); without it they must
    /// agree with each other.
    #[serde(default)]
    pub(crate) expected_chain: Option<String>,
}

impl Default for ChainGuardConfig {
    fn default() -> Self {
        ChainGuardConfig {
            enabled: true,
            interval: default_guard_interval(),
            max_height_lag: default_height_lag(),
            disagree_seconds: default_disagree_seconds(),
            stale_tip_factor: default_stale_tip_factor(),
            block_time: None,
            expected_chain: None,
        }
    }
}

fn default_guard_interval() -> u64 {
    10
}
fn default_height_lag() -> u64 {
    2
}
fn default_disagree_seconds() -> u64 {
    120
}
fn default_stale_tip_factor() -> u64 {
    12
}

impl PoolConfig {
    /// The upstream settings when upstream mode is on.
    pub(crate) fn upstream(&self) -> Option<&UpstreamConfig> {
        self.upstream.as_ref().filter(|u| u.enabled)
    }
}

/// `upstream`: the pools this one mines through, in order of preference.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpstreamConfig {
    /// Whether upstream mode is on.
    #[serde(default = "yes")]
    pub(crate) enabled: bool,
    /// The upstream pools; the first that answers is used, the first is preferred.
    pub(crate) servers: Vec<UpstreamServerConfig>,
    /// Bytes of extranonce1 per local miner.
    #[serde(default = "default_extranonce_size")]
    pub(crate) extranonce1_size: usize,
    /// Bytes of extranonce2 local miners fill.
    #[serde(default = "default_extranonce_size")]
    pub(crate) extranonce2_size: usize,
    /// Seconds to wait for an upstream's answer.
    #[serde(default = "default_upstream_timeout")]
    pub(crate) timeout: u64,
    /// Seconds between attempts while no upstream answers.
    #[serde(default = "default_upstream_retry")]
    pub(crate) retry_delay: u64,
    /// Seconds between tries of the preferred upstreams while on a backup.
    #[serde(default = "default_upstream_probe")]
    pub(crate) probe_interval: u64,
    /// Seconds between keepalives (a `mining.authorize` the upstream must answer within as
    /// long): a hung upstream is left within twice this (nomp-rs).
    #[serde(default = "default_upstream_keepalive")]
    pub(crate) keepalive: u64,
}

fn default_upstream_keepalive() -> u64 {
    5
}

/// One upstream pool.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpstreamServerConfig {
    /// Host.
    pub(crate) host: String,
    /// Stratum port.
    pub(crate) port: u16,
    /// The worker this pool mines as there.
    pub(crate) user: String,
    /// The worker's password.
    #[serde(default = "default_upstream_password")]
    pub(crate) password: String,
}

fn default_extranonce_size() -> usize {
    2
}
fn default_upstream_timeout() -> u64 {
    10
}
fn default_upstream_retry() -> u64 {
    2
}
fn default_upstream_probe() -> u64 {
    60
}
fn default_upstream_password() -> String {
    "x".into()
}

fn default_share_memory_limit() -> u64 {
    250_000
}

fn default_refresh() -> u64 {
    1000
}
fn default_rebroadcast() -> u64 {
    55
}
fn default_connection_timeout() -> u64 {
    600
}

/// `paymentProcessing`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PaymentProcessing {
    /// Whether payouts run.
    pub(crate) enabled: bool,
    /// Seconds between payment runs.
    pub(crate) payment_interval: u64,
    /// Coins owed below this stay as balance (a decimal number).
    pub(crate) minimum_payment: serde_json::Number,
    /// The wallet daemon.
    pub(crate) daemon: DaemonConfig,
    /// `prop` (default), `pplns` or `solo` (nomp-rs).
    #[serde(default)]
    pub(crate) scheme: Option<String>,
    /// PPLNS window in share difficulty (nomp-rs; as NOMP forks).
    #[serde(default)]
    pub(crate) pplns_window: Option<f64>,
    /// PPLNS window as this multiple of the network difficulty each block met (nomp-rs; as
    /// MiningCore's `factor`). Set this or `pplnsWindow`.
    #[serde(default)]
    pub(crate) pplns_factor: Option<f64>,
    /// Seconds the payment lease lasts (nomp-rs): one front-end per coin pays, and another
    /// takes over this long after it stopped renewing. Default: twice the payment interval,
    /// at least 120.
    #[serde(default)]
    pub(crate) lease_time: Option<u64>,
}

/// One stratum port.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PortConfig {
    /// Starting difficulty.
    pub(crate) diff: f64,
    /// Variable difficulty.
    #[serde(default)]
    pub(crate) var_diff: Option<VarDiffConfig>,
    /// TLS (nomp-rs): PEM files.
    #[serde(default)]
    pub(crate) tls: Option<TlsConfig>,
}

/// `varDiff`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct VarDiffConfig {
    /// Lowest difficulty.
    pub(crate) min_diff: f64,
    /// Highest difficulty.
    pub(crate) max_diff: f64,
    /// Wanted seconds per share.
    pub(crate) target_time: f64,
    /// Seconds between retargets.
    pub(crate) retarget_time: f64,
    /// Allowed deviation, percent.
    pub(crate) variance_percent: f64,
    /// Only double or halve.
    #[serde(default, rename = "x2mode")]
    pub(crate) x2_mode: bool,
}

/// A TLS port's certificate chain and key (PEM files, relative to the config directory).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TlsConfig {
    /// Certificate chain.
    pub(crate) cert: PathBuf,
    /// Private key.
    pub(crate) key: PathBuf,
}

/// A daemon's RPC endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DaemonConfig {
    /// Host.
    pub(crate) host: String,
    /// RPC port.
    pub(crate) port: u16,
    /// RPC user.
    pub(crate) user: String,
    /// RPC password.
    pub(crate) password: String,
    /// Seconds an RPC call may take before it counts as failed (nomp-rs; 10 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timeout: Option<u64>,
    /// The daemon's ZMQ `hashblock` publisher (`tcp://host:port`, as its
    /// `-zmqpubhashblock`), a block trigger beside polling (nomp-rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) zmq_block_notify: Option<String>,
}

impl DaemonConfig {
    /// How a group of `daemons` calls them: the longest timeout any of them sets.
    pub(crate) fn group_options(daemons: &[DaemonConfig]) -> coin_daemon::GroupOptions {
        let mut options = coin_daemon::GroupOptions::default();
        if let Some(seconds) = daemons.iter().filter_map(|d| d.timeout).max() {
            options.call_timeout = std::time::Duration::from_secs(seconds.max(1));
        }
        options
    }
}

/// `p2p`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct P2pConfig {
    /// Whether to connect.
    pub(crate) enabled: bool,
    /// Host.
    pub(crate) host: String,
    /// P2P port.
    pub(crate) port: u16,
    /// Ask the daemon not to relay transactions.
    #[serde(default)]
    pub(crate) disable_transactions: bool,
}

/// `mposMode`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MposMode {
    /// Whether MPOS mode is on.
    pub(crate) enabled: bool,
    /// MySQL host.
    pub(crate) host: String,
    /// MySQL port.
    pub(crate) port: u16,
    /// MySQL user.
    pub(crate) user: String,
    /// MySQL password.
    pub(crate) password: String,
    /// The MPOS database.
    pub(crate) database: String,
    /// Check workers' passwords.
    #[serde(default)]
    pub(crate) check_password: bool,
    /// Create unknown workers of known accounts.
    #[serde(default)]
    pub(crate) auto_create_worker: bool,
    /// Multiply share difficulties written to MPOS (nomp-rs; NOMP reads the coin file's
    /// `mposDiffMultiplier`, which is read too and wins when both are set).
    #[serde(default)]
    pub(crate) difficulty_multiplier: Option<f64>,
    /// In NOMP's example, read by no NOMP version: ignored.
    #[serde(default, skip_serializing)]
    pub(crate) auto_create_anonymous_account: Option<Value>,
    /// In NOMP's example, read by no NOMP version: ignored.
    #[serde(default, skip_serializing)]
    pub(crate) salt: Option<Value>,
}

/// `banning`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Banning {
    /// Whether banning is on.
    pub(crate) enabled: bool,
    /// Ban length, seconds.
    pub(crate) time: u64,
    /// Ban at or above this percentage of invalid shares.
    pub(crate) invalid_percent: f64,
    /// Shares counted before each check.
    pub(crate) check_threshold: u32,
    /// Seconds between purges of expired bans.
    pub(crate) purge_interval: u64,
}

/// A pool config with the file it came from.
#[derive(Debug, Clone)]
pub(crate) struct PoolFile {
    /// The file.
    pub(crate) path: PathBuf,
    /// Its settings, defaults merged in.
    pub(crate) config: PoolConfig,
    /// The coin it mines.
    pub(crate) coin: CoinConfig,
    /// The coin's algorithm.
    pub(crate) algorithm: Algorithm,
}

impl PoolFile {
    /// Whether a switch of `algorithm` may move miners to this pool: one of that algorithm
    /// with its own jobs (an upstream-mode pool gives its miners other extranonce sizes).
    pub(crate) fn switchable(&self, algorithm: Algorithm) -> bool {
        self.algorithm == algorithm && self.config.upstream().is_none()
    }

    /// The pool's name: the coin file's name without `.json` (NOMP names pools by coin).
    pub(crate) fn name(&self) -> String {
        self.config.coin.trim_end_matches(".json").to_owned()
    }
}

/// Everything read from a configuration directory.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The directory.
    pub(crate) dir: PathBuf,
    /// `config.json`.
    pub(crate) portal: PortalConfig,
    /// The enabled pools (NOMP reads nothing more of a disabled pool's file).
    pub(crate) pools: Vec<PoolFile>,
    /// What NOMP would accept that nomp-rs reads otherwise, said at start-up.
    pub(crate) warnings: Vec<ConfigWarning>,
}

/// A config file whose schema `nomp config-schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SchemaFile {
    /// `config.json`.
    Config,
    /// `coins/<coin>.json`.
    Coin,
    /// `pool_configs/<pool>.json` (after `defaultPoolConfigs` are merged in: a field the
    /// defaults give may be left out of the file).
    Pool,
}

/// The JSON Schema of `file`, or of every config file keyed by its path.
pub(crate) fn schema(file: Option<SchemaFile>) -> Value {
    let one = |file| {
        let schema = match file {
            SchemaFile::Config => schemars::schema_for!(PortalConfig),
            SchemaFile::Coin => schemars::schema_for!(CoinConfig),
            SchemaFile::Pool => schemars::schema_for!(PoolConfig),
        };
        schema.to_value()
    };
    match file {
        Some(file) => one(file),
        None => serde_json::json!({
            "config.json": one(SchemaFile::Config),
            "coins/<coin>.json": one(SchemaFile::Coin),
            "pool_configs/<pool>.json": one(SchemaFile::Pool),
        }),
    }
}

/// Reads and checks `config.json`, `coins/` and `pool_configs/` in `dir`, as NOMP reads
/// them: sections and pools are on only with `"enabled": true` (NOMP reads nothing else of
/// one that is off), and only the coin files an enabled pool names are read.
pub(crate) fn load(dir: &Path) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    let portal_path = dir.join("config.json");
    let mut portal_value = read_json5(&portal_path)?;
    prune_portal(&portal_path, &mut portal_value, &mut warnings);
    let portal: PortalConfig = parse(&portal_path, portal_value)?;
    if let Some(id) = portal.instance_id
        && id >= INSTANCE_IDS
    {
        return Err(ConfigError {
            file: portal_path,
            field: "instanceId".into(),
            message: format!(
                "is {id}; instance ids are 0–{} (five bits of every extranonce1)",
                INSTANCE_IDS - 1
            ),
            fix: Some(
                "give each front-end on one Redis its own id from 0 to 31, or leave it out to take a free one"
                    .into(),
            ),
        });
    }
    if let Some(redis) = &portal.redis {
        redis.check(&portal_path, "redis")?;
    }
    if let Some(website) = portal.website.as_ref().filter(|w| w.enabled) {
        check_website(&portal_path, website)?;
        if website.stats.graph_colors.is_some() {
            warnings.push(warning(
                &portal_path,
                "website.stats.graphColors",
                "nomp-rs draws its charts in its own colours; ignored",
            ));
        }
    }
    if let Some(notifications) = portal.notifications.as_ref().filter(|n| n.enabled) {
        check_notifications(&portal_path, notifications)?;
    }
    let coins_dir = dir.join("coins");
    let mut pools = Vec::new();
    let mut coins_read = Vec::new();
    for path in json_files(&dir.join("pool_configs"))? {
        let mut value = read_json5(&path)?;
        if !section_enabled(&path, "", &value, &mut warnings) {
            continue;
        }
        if let Value::Object(pool) = &mut value {
            // NOMP merges defaults shallowly: a key the pool sets replaces the default whole.
            for (key, default) in &portal.default_pool_configs {
                pool.entry(key.clone()).or_insert_with(|| default.clone());
            }
            for section in ["mposMode", "paymentProcessing", "p2p", "banning"] {
                prune_section(&path, pool, section, &mut warnings);
            }
        }
        let config: PoolConfig = parse(&path, value)?;
        let coin_path = coins_dir.join(&config.coin);
        if !coin_path.is_file() {
            let known: Vec<String> = json_files(&coins_dir)?
                .iter()
                .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
                .collect();
            return Err(ConfigError {
                file: path,
                field: "coin".into(),
                message: format!("no coin file {:?} in coins/", config.coin),
                fix: Some(suggest(&config.coin, &known).map_or_else(
                    || {
                        format!(
                            "add coins/{} or use one of: {}",
                            config.coin,
                            known.join(", ")
                        )
                    },
                    |s| format!("did you mean \"{s}\"?"),
                )),
            });
        }
        let coin: CoinConfig = parse(&coin_path, read_json5(&coin_path)?)?;
        coins_read.push(coin_path.clone());
        let algorithm = coin.algorithm.parse::<Algorithm>().map_err(|e| {
            let known: Vec<String> = Algorithm::ALL.iter().map(|a| a.name().to_owned()).collect();
            ConfigError {
                file: coin_path.clone(),
                field: "algorithm".into(),
                message: e.to_string(),
                fix: suggest(&coin.algorithm, &known).map(|s| format!("did you mean \"{s}\"?")),
            }
        })?;
        check_coin(&coin_path, &coin, algorithm, &mut warnings)?;
        check_pool(&path, &config)?;
        if let Some(mode) = &config.mpos_mode
            && (mode.auto_create_anonymous_account.is_some() || mode.salt.is_some())
        {
            warnings.push(warning(
                &path,
                "mposMode",
                "autoCreateAnonymousAccount and salt are read by no NOMP version; ignored",
            ));
        }
        pools.push(PoolFile {
            path,
            config,
            coin,
            algorithm,
        });
    }
    // NOMP never reads a coin file no enabled pool names; one that would not load is said.
    for path in json_files(&coins_dir)? {
        if !coins_read.contains(&path)
            && let Err(error) = read_json5(&path)
        {
            warnings.push(warning(
                &path,
                "",
                &format!(
                    "{} (no enabled pool uses it, so it is not read)",
                    error.message
                ),
            ));
        }
    }
    check_ports(&pools)?;
    check_switching(&portal_path, &portal, &pools)?;
    if let Some(profit) = portal.profit_switch.as_ref().filter(|p| p.enabled) {
        check_profit_switch(&portal_path, profit)?;
    }
    Ok(Config {
        dir: dir.to_owned(),
        portal,
        pools,
        warnings,
    })
}

fn warning(file: &Path, field: &str, message: &str) -> ConfigWarning {
    ConfigWarning {
        file: file.to_owned(),
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// Whether a section (or, with `field` empty, a whole pool file) is on: NOMP reads one only
/// with `"enabled": true`. One with settings but no `enabled` at all is said to be off.
fn section_enabled(
    file: &Path,
    field: &str,
    value: &Value,
    warnings: &mut Vec<ConfigWarning>,
) -> bool {
    let Some(section) = value.as_object() else {
        return true;
    };
    match section.get("enabled") {
        Some(Value::Bool(enabled)) => *enabled,
        // A mistyped flag is parsed later, and refused with its field.
        Some(_) => true,
        None => {
            let what = if field.is_empty() {
                "the pool"
            } else {
                "the section"
            };
            warnings.push(warning(
                file,
                if field.is_empty() { "enabled" } else { field },
                &format!(
                    "has no \"enabled\": true, so {what} is off, as in NOMP (add \"enabled\": true to turn it on)"
                ),
            ));
            false
        }
    }
}

/// Removes section `key` of `object` when it is off: NOMP reads nothing else in it.
fn prune_section(
    file: &Path,
    object: &mut Map<String, Value>,
    key: &str,
    warnings: &mut Vec<ConfigWarning>,
) {
    if let Some(section) = object.get(key)
        && !section_enabled(file, key, section, warnings)
    {
        object.remove(key);
    }
}

/// `config.json`'s sections that are off are dropped; a plaintext admin password is only
/// refused while the admin center is on (otherwise it is said and ignored).
fn prune_portal(file: &Path, value: &mut Value, warnings: &mut Vec<ConfigWarning>) {
    let Value::Object(portal) = value else {
        return;
    };
    prune_section(file, portal, "website", warnings);
    prune_section(file, portal, "profitSwitch", warnings);
    if let Some(Value::Object(switching)) = portal.get_mut("switching") {
        let names: Vec<String> = switching.keys().cloned().collect();
        for name in names {
            prune_section(file, switching, &name, warnings);
        }
    }
    let admin = portal
        .get_mut("website")
        .and_then(|w| w.get_mut("adminCenter"))
        .and_then(Value::as_object_mut);
    if let Some(admin) = admin
        && admin.get("enabled") != Some(&Value::Bool(true))
        && admin.remove("password").is_some()
    {
        warnings.push(warning(
            file,
            "website.adminCenter.password",
            "a plaintext password is ignored while the admin center is off (turned on, it takes only adminPasswordHash, from `nomp hash-password`)",
        ));
    }
}

/// Coin-file settings that must fit the algorithm, and those NOMP accepts that do nothing.
fn check_coin(
    path: &Path,
    coin: &CoinConfig,
    algorithm: Algorithm,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    if coin.diff_shift.is_some() {
        warnings.push(warning(
            path,
            "diffShift",
            "no node-stratum-pool in use reads it; ignored (share difficulty follows the algorithm's multiplier)",
        ));
    }
    if let Some(table) = &coin.time_table {
        if algorithm != Algorithm::ScryptN {
            warnings.push(warning(
                path,
                "timeTable",
                &format!("only scrypt-n reads it; ignored for {algorithm}"),
            ));
        }
        time_table(path, table)?;
    }
    let jane_fields = [
        ("chainStartTime", coin.chain_start_time.is_some()),
        ("nMin", coin.n_min.is_some()),
        ("nMax", coin.n_max.is_some()),
    ];
    for (field, set) in jane_fields {
        if set && algorithm != Algorithm::ScryptJane {
            warnings.push(warning(
                path,
                field,
                &format!("only scrypt-jane reads it; ignored for {algorithm}"),
            ));
        }
    }
    scrypt_jane_factors(path, coin)?;
    if coin.normal_hashing
        && !matches!(
            algorithm,
            Algorithm::Keccak | Algorithm::Fugue | Algorithm::Groestl
        )
    {
        warnings.push(warning(
            path,
            "normalHashing",
            &format!("only keccak, fugue and groestl coins read it; ignored for {algorithm}"),
        ));
    }
    for (field, prefix) in [("mainnet", &coin.mainnet), ("testnet", &coin.testnet)] {
        let Some(prefix) = prefix else {
            continue;
        };
        for (name, byte) in [
            ("pubKeyHash", &prefix.pub_key_hash),
            ("scriptHash", &prefix.script_hash),
        ] {
            if let Some(byte) = byte
                && hex::decode(byte).map_or(true, |b| b.len() != 1)
            {
                return Err(ConfigError {
                    file: path.to_owned(),
                    field: format!("{field}.{name}"),
                    message: format!("{byte:?} is not one byte of hex"),
                    fix: Some("write the version byte as two hex digits, e.g. \"30\"".into()),
                });
            }
        }
    }
    Ok(())
}

/// The largest scrypt-jane N factor hashing accepts.
const MAX_N_FACTOR: u8 = HashOptions::MAX_N_FACTOR;

/// A coin's scrypt-jane `nMin` and `nMax` (node-stratum-pool's defaults 4 and 30).
pub(crate) fn scrypt_jane_factors(
    path: &Path,
    coin: &CoinConfig,
) -> Result<(Option<u8>, Option<u8>), ConfigError> {
    let factor = |field: &str, value: Option<u32>| match value {
        None => Ok(None),
        Some(v) if v <= u32::from(MAX_N_FACTOR) => Ok(Some(v as u8)),
        Some(v) => Err(ConfigError {
            file: path.to_owned(),
            field: field.into(),
            message: format!("N factor {v} is above {MAX_N_FACTOR}"),
            fix: Some(format!(
                "use the chain's own N factor bounds (0 to {MAX_N_FACTOR}; YACoin's are {} and {})",
                HashOptions::DEFAULT_N_MIN,
                HashOptions::DEFAULT_N_MAX
            )),
        }),
    };
    let min = factor("nMin", coin.n_min)?;
    let max = factor("nMax", coin.n_max)?;
    let (lowest, highest) = (
        min.unwrap_or(HashOptions::DEFAULT_N_MIN),
        max.unwrap_or(HashOptions::DEFAULT_N_MAX),
    );
    if lowest > highest {
        return Err(ConfigError {
            file: path.to_owned(),
            field: "nMin".into(),
            message: format!("nMin {lowest} is above nMax {highest}"),
            fix: Some(format!(
                "set nMin at most nMax (absent, they are {} and {})",
                HashOptions::DEFAULT_N_MIN,
                HashOptions::DEFAULT_N_MAX
            )),
        });
    }
    Ok((min, max))
}

/// A coin's `timeTable` as hashing takes it.
pub(crate) fn time_table(
    path: &Path,
    table: &BTreeMap<String, u64>,
) -> Result<hashing::NFactorTable, ConfigError> {
    let error = |message: String| ConfigError {
        file: path.to_owned(),
        field: "timeTable".into(),
        message,
        fix: Some("map each N (a power of two, as text) to the unix time it takes effect".into()),
    };
    let mut pairs = Vec::new();
    for (n, time) in table {
        let n: u64 = n
            .parse()
            .map_err(|_| error(format!("key {n:?} is not a number")))?;
        pairs.push((n, *time));
    }
    hashing::NFactorTable::new(pairs).map_err(|e| error(e.to_string()))
}

fn check_notifications(
    path: &Path,
    notifications: &NotificationsConfig,
) -> Result<(), ConfigError> {
    let error = |field: String, message: String, fix: &str| ConfigError {
        file: path.to_owned(),
        field,
        message,
        fix: Some(fix.into()),
    };
    if notifications.targets.is_empty() {
        return Err(error(
            "notifications.targets".into(),
            "lists no target".into(),
            "add a webhook, ntfy, telegram or discord target, or set enabled to false",
        ));
    }
    for (index, event) in notifications.events.iter().flatten().enumerate() {
        if !crate::notify::KINDS.contains(&event.as_str()) {
            return Err(error(
                format!("notifications.events.{index}"),
                format!("{event:?} is not a kind of notification"),
                &format!("use some of {}", crate::notify::KINDS.join(", ")),
            ));
        }
    }
    for (index, target) in notifications.targets.iter().enumerate() {
        let (field, url) = match target {
            NotifyTarget::Webhook { url }
            | NotifyTarget::Ntfy { url, .. }
            | NotifyTarget::Discord { url } => ("url", url),
            NotifyTarget::Telegram { api_url, .. } => ("apiUrl", api_url),
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            // The URL may hold a token: named by its field, never quoted.
            return Err(error(
                format!("notifications.targets.{index}.{field}"),
                "is not an http:// or https:// URL".into(),
                "give the full URL, like https://ntfy.sh/your-topic",
            ));
        }
    }
    Ok(())
}

fn check_website(path: &Path, website: &WebsiteConfig) -> Result<(), ConfigError> {
    let error = |field: &str, message: String, fix: &str| ConfigError {
        file: path.to_owned(),
        field: format!("website.{field}"),
        message,
        fix: Some(fix.into()),
    };
    let admin = &website.admin_center;
    if admin.password.is_some() {
        return Err(error(
            "adminCenter.password",
            "a plaintext password is not accepted".into(),
            "remove it and set adminPasswordHash to what `nomp hash-password` prints",
        ));
    }
    let hash = admin.admin_password_hash.as_deref().unwrap_or_default();
    if admin.enabled && hash.is_empty() {
        return Err(error(
            "adminCenter.adminPasswordHash",
            "is empty while the admin center is enabled".into(),
            "set it to what `nomp hash-password` prints, or disable the admin center",
        ));
    }
    if !hash.is_empty()
        && let Err(e) = portal::check_password_hash(hash)
    {
        return Err(error(
            "adminCenter.adminPasswordHash",
            e.to_string(),
            "set it to what `nomp hash-password` prints",
        ));
    }
    let stats = &website.stats;
    for (field, value) in [
        ("stats.updateInterval", stats.update_interval),
        ("stats.hashrateWindow", stats.hashrate_window),
        ("stats.historicalRetention", stats.historical_retention),
    ] {
        if value == 0 {
            return Err(error(
                field,
                "is 0".into(),
                "use a number of seconds above 0",
            ));
        }
    }
    Ok(())
}

fn check_pool(path: &Path, pool: &PoolConfig) -> Result<(), ConfigError> {
    let error = |field: &str, message: String, fix: &str| ConfigError {
        file: path.to_owned(),
        field: field.into(),
        message,
        fix: Some(fix.into()),
    };
    if let Some(redis) = &pool.redis {
        redis.check(path, "redis")?;
    }
    if pool.address.trim().is_empty() {
        return Err(error(
            "address",
            "is empty".into(),
            "set the address the coinbase pays",
        ));
    }
    match pool.upstream() {
        None if pool.daemons.is_empty() => {
            return Err(error(
                "daemons",
                "lists no daemon".into(),
                "add the coin daemon's host, port, user and password",
            ));
        }
        None => {}
        Some(upstream) => check_upstream(&error, pool, upstream)?,
    }
    for (index, daemon) in pool.daemons.iter().enumerate() {
        if let Some(zmq) = &daemon.zmq_block_notify {
            let address = zmq.strip_prefix("tcp://").unwrap_or_default();
            if address.rsplit_once(':').is_none_or(|(host, port)| {
                host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0)
            }) {
                return Err(error(
                    &format!("daemons.{index}.zmqBlockNotify"),
                    format!("{zmq:?} is not a tcp://host:port address"),
                    "give the daemon's -zmqpubhashblock address, like tcp://127.0.0.1:28332",
                ));
            }
        }
    }
    let guard = &pool.chain_guard;
    if pool.refuse_work_on_chain_fault && !guard.enabled {
        return Err(error(
            "refuseWorkOnChainFault",
            "is true while chainGuard.enabled is false: no fault could ever be seen".into(),
            "enable the chain guard, or set refuseWorkOnChainFault to false",
        ));
    }
    for (field, value) in [
        ("chainGuard.interval", guard.interval),
        ("chainGuard.staleTipFactor", guard.stale_tip_factor),
    ] {
        if value == 0 {
            return Err(error(
                field,
                "is 0".into(),
                "use a whole number of 1 or more",
            ));
        }
    }
    for port in pool.ports.keys() {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(error(
                &format!("ports.{port}"),
                "is not a port number".into(),
                "use a number from 1 to 65535 as the key",
            ));
        }
    }
    for recipient in pool.reward_recipients.keys() {
        let looks_like_key =
            recipient.len() == 40 && recipient.bytes().all(|b| b.is_ascii_alphanumeric());
        if looks_like_key && crate::run::mining_key(recipient).is_none() {
            return Err(error(
                &format!("rewardRecipients.{recipient}"),
                "40 characters but not hex: neither an address nor a mining key".into(),
                "give an address of this coin, or a mining key as 40 hex digits",
            ));
        }
    }
    let percent: f64 = pool.reward_recipients.values().sum();
    if !(0.0..=100.0).contains(&percent) {
        return Err(error(
            "rewardRecipients",
            format!("add up to {percent}%"),
            "keep the recipients' total within 0–100",
        ));
    }
    Ok(())
}

/// Upstream mode: servers and sizes usable, and nothing set that needs the pool's own
/// blocks or templates.
fn check_upstream(
    error: &dyn Fn(&str, String, &str) -> ConfigError,
    pool: &PoolConfig,
    upstream: &UpstreamConfig,
) -> Result<(), ConfigError> {
    if let Err(refused) = upstream_options(upstream).check() {
        let (field, fix) = match refused {
            stratum_core::UpstreamError::NoServers => {
                ("upstream.servers", "list at least one server")
            }
            stratum_core::UpstreamError::Extranonce1Size(_) => {
                ("upstream.extranonce1Size", "keep it within 1–4 bytes")
            }
            stratum_core::UpstreamError::Extranonce2Size(_) => (
                "upstream.extranonce2Size",
                "keep it within 2–8 bytes; under an upstream with 4 bytes of extranonce2, extranonce1Size 2 and extranonce2Size 2",
            ),
        };
        return Err(error(field, refused.to_string(), fix));
    }
    if pool.payment_processing.as_ref().is_some_and(|p| p.enabled) {
        return Err(error(
            "paymentProcessing",
            "cannot run in upstream mode: the blocks pay the upstream pool, so there are no \
             coinbases of this pool's to pay miners from"
                .into(),
            "disable paymentProcessing; shares and blocks are still recorded per miner",
        ));
    }
    if pool.p2p.as_ref().is_some_and(|p| p.enabled) {
        return Err(error(
            "p2p",
            "does nothing in upstream mode: new blocks arrive as the upstream's jobs".into(),
            "disable p2p",
        ));
    }
    if !pool.reward_recipients.is_empty() {
        return Err(error(
            "rewardRecipients",
            "cannot be paid in upstream mode: the upstream pool builds the coinbase".into(),
            "remove rewardRecipients",
        ));
    }
    Ok(())
}

/// Stratum-core's upstream options from the config.
pub(crate) fn upstream_options(upstream: &UpstreamConfig) -> stratum_core::UpstreamOptions {
    let servers = upstream
        .servers
        .iter()
        .map(|s| stratum_core::UpstreamServer {
            host: s.host.clone(),
            port: s.port,
            user: s.user.clone(),
            password: s.password.clone(),
        })
        .collect();
    let mut options = stratum_core::UpstreamOptions::new(servers);
    options.extranonce1_size = upstream.extranonce1_size;
    options.extranonce2_size = upstream.extranonce2_size;
    options.timeout = std::time::Duration::from_secs(upstream.timeout.max(1));
    options.retry_delay = std::time::Duration::from_secs(upstream.retry_delay.max(1));
    options.probe_interval = std::time::Duration::from_secs(upstream.probe_interval.max(1));
    options.keepalive = std::time::Duration::from_secs(upstream.keepalive.max(1));
    options
}

/// No port may serve two enabled pools.
fn check_switching(
    path: &Path,
    portal: &PortalConfig,
    pools: &[PoolFile],
) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<&str, String> = pools
        .iter()
        .filter(|p| p.config.enabled)
        .flat_map(|p| {
            p.config
                .ports
                .keys()
                .map(|port| (port.as_str(), p.path.display().to_string()))
        })
        .collect();
    for (name, switch) in portal.switching.iter().filter(|(_, s)| s.enabled) {
        let error = |field: &str, message: String, fix: String| ConfigError {
            file: path.to_owned(),
            field: format!("switching.{name}.{field}"),
            message,
            fix: Some(fix),
        };
        let algorithm = switch.algorithm.parse::<Algorithm>().map_err(|e| {
            let known: Vec<String> = Algorithm::ALL.iter().map(|a| a.name().to_owned()).collect();
            error(
                "algorithm",
                e.to_string(),
                suggest(&switch.algorithm, &known).map_or_else(
                    || format!("use one of: {}", known.join(", ")),
                    |s| format!("did you mean \"{s}\"?"),
                ),
            )
        })?;
        if !pools
            .iter()
            .any(|p| p.config.enabled && p.switchable(algorithm))
        {
            return Err(error(
                "algorithm",
                format!("no enabled pool mines {algorithm} from a daemon"),
                "enable a pool of that algorithm (upstream-mode pools cannot be switched to), \
                 or disable the switch"
                    .into(),
            ));
        }
        for port in switch.ports.keys() {
            if port.parse::<u16>().is_err() {
                return Err(error(
                    &format!("ports.{port}"),
                    "is not a port number".into(),
                    "use a number from 1 to 65535".into(),
                ));
            }
            if let Some(other) = seen.insert(port, format!("switch {name}")) {
                return Err(error(
                    &format!("ports.{port}"),
                    format!("port {port} is also used by {other}"),
                    "give each pool and switch its own ports".into(),
                ));
            }
        }
    }
    Ok(())
}

fn check_profit_switch(path: &Path, profit: &ProfitSwitchConfig) -> Result<(), ConfigError> {
    let error = |field: String, message: String, fix: &str| ConfigError {
        file: path.to_owned(),
        field: format!("profitSwitch.{field}"),
        message,
        fix: Some(fix.into()),
    };
    if profit.update_interval == 0 {
        return Err(error(
            "updateInterval".into(),
            "is 0".into(),
            "use a number of seconds above 0",
        ));
    }
    if !(profit.margin >= 0.0 && profit.margin.is_finite()) {
        return Err(error(
            "margin".into(),
            format!("{} is not a percentage", profit.margin),
            "use a number of percent, e.g. 5",
        ));
    }
    for (symbol, price) in &profit.prices {
        if !(*price >= 0.0 && price.is_finite()) {
            return Err(error(
                format!("prices.{symbol}"),
                format!("{price} is not a price"),
                "use a number, 0 or more",
            ));
        }
    }
    for (symbol, source) in &profit.price_sources {
        if !source.url.starts_with("http://") && !source.url.starts_with("https://") {
            return Err(error(
                format!("priceSources.{symbol}.url"),
                format!("{:?} is not an http(s) URL", source.url),
                "use http://host/path",
            ));
        }
        if source.url.starts_with("https://") {
            return Err(error(
                format!("priceSources.{symbol}.url"),
                "https is not supported by this build".into(),
                "use a local http relay",
            ));
        }
    }
    Ok(())
}

fn check_ports(pools: &[PoolFile]) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for pool in pools.iter().filter(|p| p.config.enabled) {
        for port in pool.config.ports.keys() {
            if let Some(other) = seen.insert(port, &pool.path) {
                return Err(ConfigError {
                    file: pool.path.clone(),
                    field: format!("ports.{port}"),
                    message: format!("port {port} is also used by {}", other.display()),
                    fix: Some("give each pool its own ports".into()),
                });
            }
        }
    }
    Ok(())
}

/// Where the portal of the nomp configured in `dir` answers, from `config.json`'s `website`
/// alone (read with the loader's own type): a wildcard listen address becomes loopback.
pub(crate) fn portal_address(dir: &Path) -> Result<std::net::SocketAddr, ConfigError> {
    let path = dir.join("config.json");
    let value = read_json5(&path)?;
    let problem = |field: &str, message: String, fix: &str| ConfigError {
        file: path.clone(),
        field: field.into(),
        message,
        fix: Some(fix.into()),
    };
    let website: WebsiteConfig = match value.get("website") {
        Some(website) => serde_json::from_value(website.clone())
            .map_err(|e| problem("website", e.to_string(), "fix the website section"))?,
        None => return Err(problem("website", "absent".into(), WEBSITE_FOR_READY)),
    };
    if !website.enabled {
        return Err(problem(
            "website.enabled",
            "the portal is disabled".into(),
            WEBSITE_FOR_READY,
        ));
    }
    let host: std::net::IpAddr = website.host.parse().map_err(|_| {
        problem(
            "website.host",
            format!("{:?} is not an IP address", website.host),
            "listen on an IP address (0.0.0.0 for every interface)",
        )
    })?;
    let host = match host {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        other => other,
    };
    Ok(std::net::SocketAddr::new(host, website.port))
}

const WEBSITE_FOR_READY: &str =
    "set \"website\": { \"enabled\": true, … }: /ready is served on the portal's port";

/// `cliPort` from `config.json` alone, so the CLI client finds a running nomp even while
/// a pool file it is about to reload is broken. NOMP's 17117 when absent.
pub(crate) fn cli_port(dir: &Path) -> Result<u16, ConfigError> {
    let path = dir.join("config.json");
    let value = read_json5(&path)?;
    match value.get("cliPort") {
        None => Ok(default_cli_port()),
        Some(port) => serde_json::from_value(port.clone()).map_err(|e| ConfigError {
            file: path,
            field: "cliPort".into(),
            message: e.to_string(),
            fix: Some("use a port number".into()),
        }),
    }
}

fn read_json5(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        field: String::new(),
        message: format!("cannot read: {e}"),
        fix: None,
    })?;
    json5::from_str(&text).map_err(|e| ConfigError {
        file: path.to_owned(),
        field: String::new(),
        message: format!("not valid JSON (comments allowed): {e}"),
        fix: None,
    })
}

/// Every `*.json` in `dir`, by file name order.
fn json_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ConfigError {
        file: dir.to_owned(),
        field: String::new(),
        message: format!("cannot read the directory: {e}"),
        fix: None,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Deserializes `value` into `T`, naming the field path of any mistake.
fn parse<T: DeserializeOwned>(path: &Path, value: Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let message = e.inner().to_string();
        let fix = unknown_field_fix(&message);
        ConfigError {
            file: path.to_owned(),
            field: if field == "." { String::new() } else { field },
            message,
            fix,
        }
    })
}

/// For serde's "unknown field `x`, expected one of `a`, `b`": the closest expected name.
fn unknown_field_fix(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected: Vec<String> = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    match suggest(unknown, &expected) {
        Some(name) => Some(format!("did you mean `{name}`?")),
        None => Some(
            "neither nomp-rs nor NOMP reads a field of that name: check its spelling, or remove it if it is a leftover".into(),
        ),
    }
}

/// The candidate closest to `word`, if close enough to be a likely typo.
fn suggest(word: &str, candidates: &[String]) -> Option<String> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The merged result, as `nomp check-config` prints it.
pub(crate) fn merged_json(config: &Config) -> Value {
    let pools: Map<String, Value> = config
        .pools
        .iter()
        .map(|p| {
            (
                p.path.display().to_string(),
                serde_json::to_value(&p.config).unwrap_or(Value::Null),
            )
        })
        .collect();
    serde_json::json!({
        "config": serde_json::to_value(&config.portal).unwrap_or(Value::Null),
        "pools": pools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_field_of_the_shipped_files_and_refuses_others() {
        let schema = schema(None);
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = vec![
            ("config.json", root.join("config_example.json")),
            (
                "pool_configs/<pool>.json",
                root.join("pool_configs/litecoin_example.json"),
            ),
            (
                "pool_configs/<pool>.json",
                root.join("pool_configs/upstream_example.json"),
            ),
        ];
        for coin in json_files(&root.join("coins")).unwrap() {
            files.push(("coins/<coin>.json", coin));
        }
        for (kind, path) in files {
            let file = &schema[kind];
            assert_eq!(file["additionalProperties"], false, "{kind}");
            let Value::Object(fields) = read_json5(&path).unwrap() else {
                panic!("{} is not an object", path.display())
            };
            for key in fields.keys() {
                assert!(
                    file["properties"].get(key).is_some(),
                    "{}: {key} is not in the {kind} schema",
                    path.display()
                );
            }
        }
        let pool = &schema["pool_configs/<pool>.json"]["properties"];
        for nomp_rs in ["chainGuard", "refuseWorkOnChainFault", "durableAck"] {
            assert!(pool.get(nomp_rs).is_some(), "{nomp_rs}");
        }
        let config = &schema["config.json"]["properties"];
        assert!(config.get("notifications").is_some() && config.get("logFormat").is_some());
    }

    #[test]
    fn typos_are_matched_to_the_closest_name() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let names = ["blockRefreshInterval".to_owned(), "banning".to_owned()];
        assert_eq!(
            suggest("blockRefreshIntervall", &names).as_deref(),
            Some("blockRefreshInterval")
        );
        assert_eq!(suggest("zzz", &names), None);
    }
}
