//! What a pool is started with, and why it may not start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coin_daemon::{ChainGuardOptions, P2pOptions, TemplateOptions};
use hashing::{Algorithm, Difficulty, HashOptions, HashingError};
use thiserror::Error;
use tokio_rustls::rustls;

use crate::ban::BanOptions;
use crate::coinbase::CoinbaseOptions;
use crate::ids::IdAllocator;
use crate::upstream::UpstreamError;
use crate::vardiff::VardiffOptions;

/// One stratum port.
#[derive(Debug, Clone)]
pub struct PortOptions {
    /// Where to listen (port 0 picks a free one).
    pub bind: SocketAddr,
    /// The starting difficulty.
    pub difficulty: Difficulty,
    /// Variable difficulty, if enabled on this port.
    pub vardiff: Option<VardiffOptions>,
    /// Serve stratum over TLS with this configuration (see [`crate::tls_config_from_pem`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Everything a pool needs besides its daemons (or upstream pools).
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// The coin's proof-of-work algorithm.
    pub algorithm: Algorithm,
    /// Its hashing parameters (scrypt N, time table).
    pub hash_options: HashOptions,
    /// What the coinbase pays (unused in upstream mode: the upstream builds the coinbase).
    pub coinbase: CoinbaseOptions,
    /// The stratum ports.
    pub ports: Vec<PortOptions>,
    /// Template polling.
    pub template: TemplateOptions,
    /// Disconnect a miner that has not submitted for this long (`connectionTimeout`).
    pub connection_timeout: Duration,
    /// IP banning, if enabled.
    pub banning: Option<BanOptions>,
    /// Where its extranonce1 values and job ids come from: pools that share miners (a
    /// switching port) must share one, and its instance id keeps front-ends sharing a
    /// store apart.
    pub ids: Arc<IdAllocator>,
    /// Header version bits miners may roll (BIP310); 0 disables version rolling. In
    /// upstream mode, only those the upstream also grants.
    pub version_mask: u32,
    /// Capacity of the event channel.
    pub event_capacity: usize,
    /// Events held in memory for a consumer that cannot make them durable (its store and
    /// spool both failing) before new shares are refused with an error naming the cause.
    /// Block candidates are never refused.
    pub event_memory_limit: u64,
    /// Acknowledge a valid share only once the event consumer has made it durable
    /// (`durableAck`): the miner's `true` then means the share survives a crash. Costs the
    /// consumer's group commit (a few milliseconds) per answer.
    pub durable_ack: bool,
    /// A P2P peer for instant block notifications, if configured.
    pub p2p: Option<P2pOptions>,
    /// ZMQ `hashblock` publishers (`tcp://host:port`) of the pool's daemons, each a block
    /// trigger beside polling, blocknotify and P2P.
    pub zmq_block_notify: Vec<String>,
    /// Every connection starts with a PROXY protocol header (v1 or v2) naming the miner's
    /// real address (`tcpProxyProtocol`); bans and events then use that address.
    pub proxy_protocol: bool,
    /// The chain guard over the pool's daemons (daemon mode); `None` turns it off.
    pub chain_guard: Option<ChainGuardOptions>,
    /// While the chain guard sees a fault, hand out no work (`refuseWorkOnChainFault`):
    /// the current job is withdrawn, so shares for it are refused, until the fault clears.
    pub refuse_work_on_chain_fault: bool,
}

impl PortOptions {
    /// A plain TCP port at a fixed starting `difficulty`, without vardiff or TLS.
    pub fn new(bind: SocketAddr, difficulty: Difficulty) -> Self {
        PortOptions {
            bind,
            difficulty,
            vardiff: None,
            tls: None,
        }
    }
}

impl PoolOptions {
    /// Options with NOMP's defaults for everything but the coin and the ports: templates
    /// polled every second and refreshed after 55 s, zombies dropped after 600 s, no
    /// banning, version rolling within BIP320's `0x1fffe000`, no P2P peer, no PROXY header;
    /// shares acknowledged when handed to the consumer, refused once 250 000 events wait
    /// in memory; the chain guard on with its defaults, reporting faults but not refusing
    /// work.
    pub fn new(algorithm: Algorithm, coinbase: CoinbaseOptions, ports: Vec<PortOptions>) -> Self {
        PoolOptions {
            algorithm,
            hash_options: HashOptions::default(),
            coinbase,
            ports,
            template: TemplateOptions::default(),
            connection_timeout: Duration::from_secs(600),
            banning: None,
            ids: Arc::default(),
            version_mask: 0x1fff_e000,
            event_capacity: 4096,
            event_memory_limit: 250_000,
            durable_ack: false,
            p2p: None,
            zmq_block_notify: Vec::new(),
            proxy_protocol: false,
            chain_guard: Some(ChainGuardOptions::default()),
            refuse_work_on_chain_fault: false,
        }
    }
}

/// Why a pool could not start.
#[derive(Debug, Error)]
pub enum PoolError {
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The hashing parameters are invalid.
    #[error("hashing: {0}")]
    Hashing(#[from] HashingError),
    /// The upstream options are unusable.
    #[error("upstream: {0}")]
    Upstream(#[from] UpstreamError),
    /// A switch was given an upstream-mode pool: its miners have other extranonce sizes
    /// than the switch's miners subscribed with.
    #[error("{pool} mines through an upstream pool; a switch cannot move miners to it")]
    UpstreamInSwitch {
        /// The pool refused.
        pool: String,
    },
    /// A switch was given pools that hand out ids from different allocators: moved miners
    /// could collide with the new pool's own.
    #[error(
        "{pool} does not share the switch's id allocator (give every pool the same PoolOptions::ids)"
    )]
    SeparateIds {
        /// The pool refused.
        pool: String,
    },
}
