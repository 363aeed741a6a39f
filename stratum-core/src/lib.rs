//! The stratum v1 mining protocol.

mod address;
mod auth;
mod ban;
mod client;
mod coinbase;
mod connection;
mod error;
mod events;
mod job;
mod merkle;
mod pool;
pub mod protocol;
mod proxy;
mod serialize;
mod tls;
mod validate;
mod vardiff;

pub use address::{AddressFormat, output_script};
pub use auth::{AddressAuthorizer, AllowAll, Authorizer};
pub use ban::{BanList, BanOptions, ShareTally};
pub use client::{ClientError, MiningJob, Notification, StratumClient, Subscription};
pub use coinbase::{
    CoinbaseOptions, CoinbaseParts, EXTRANONCE1_SIZE, EXTRANONCE2_SIZE, RewardRecipient,
    build_coinbase,
};
pub use error::StratumError;
pub use events::{BlockEvent, PoolEvent, ShareEvent};
pub use job::{Job, JobId, header_bytes, serialize_block};
pub use merkle::{merkle_branch, merkle_root};
pub use pool::{PoolError, PoolOptions, PortOptions, RunningPool, start_pool};
pub use proxy::{ProxyError, ProxyParse, parse_proxy_header};
pub use tls::tls_config_from_pem;
pub use tokio_rustls::rustls;
pub use validate::{BlockCandidate, MinerState, Reject, Submission, ValidShare, validate_share};
pub use vardiff::{Vardiff, VardiffOptions};
