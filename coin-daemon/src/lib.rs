//! Talking to coin daemons.
//!
//! - [`RpcClient`]: JSON-RPC over HTTP to one daemon, with basic auth, a timeout per call,
//!   batches, and typed errors ([`DaemonError`]).
//! - [`DaemonGroup`]: several daemons of one coin (NOMP's `daemons` list): asks the first
//!   healthy one and fails over, sends `submitblock` to all, tracks health with backoff,
//!   and offers the typed calls a pool and its payment processor make
//!   ([`DaemonGroup::get_block_template`], [`DaemonGroup::submit_block`],
//!   [`DaemonGroup::find_block`] (every daemon's view of a block),
//!   [`DaemonGroup::build_payment`] and [`DaemonGroup::broadcast`] (a payout signed before
//!   it is sent, broadcast again harmlessly), …). Money is [`Amount`]: integer satoshis, exact decimal
//!   text on the wire.
//! - [`TemplateSource`]: polls `getblocktemplate`, is woken by block notifications, and
//!   publishes each new template on a `watch` channel.
//! - [`spawn_chain_guard`]: compares the daemons' tips, chain work and tip age every few
//!   seconds and publishes a [`ChainVerdict`] naming what is wrong ([`ChainFault`]); the
//!   judgement itself is the pure [`ChainGuard`].
//! - [`spawn_block_notify`]: a P2P peer of the daemon that turns block announcements into
//!   wake-ups of a template source.
//!
//! ```no_run
//! # async fn run() -> Result<(), coin_daemon::DaemonError> {
//! use std::sync::Arc;
//! use coin_daemon::{DaemonEndpoint, DaemonGroup, GroupOptions, TemplateOptions, TemplateSource};
//! use tokio_util::sync::CancellationToken;
//!
//! let daemon = DaemonEndpoint {
//!     host: "127.0.0.1".into(),
//!     port: 8332,
//!     user: "rpcuser".into(),
//!     password: "rpcpassword".into(),
//! };
//! let daemons = Arc::new(DaemonGroup::new(vec![daemon], GroupOptions::default())?);
//! let template = daemons.get_block_template().await?;
//! println!("building block {} on {}", template.height, template.previous_block_hash);
//!
//! let source = TemplateSource::spawn(daemons, TemplateOptions::default(), CancellationToken::new());
//! let mut updates = source.updates.clone();
//! updates.changed().await.ok();
//! # Ok(())
//! # }
//! ```

mod amount;
mod calls;
mod chain_guard;
mod error;
mod group;
mod p2p;
mod resubscribe;
mod rpc;
mod template;
mod template_source;
mod zmq;

pub use amount::Amount;
pub use calls::{
    AddressValidation, BlockInfo, BlockPresence, BlockchainInfo, BroadcastOutcome,
    ListedTransaction, MiningInfo, NetworkInfo, OutPoint, SignedTransaction, SubmitOutcome,
    TxCategory, TxDetail, Unspent, WalletTransaction,
};
pub use chain_guard::{
    ChainFault, ChainGuard, ChainGuardOptions, ChainVerdict, DaemonTip, spawn_chain_guard,
};
pub use error::DaemonError;
pub use group::{Answer, DaemonGroup, DaemonHealth, GroupOptions};
pub use p2p::{P2pOptions, spawn_block_notify};
pub use rpc::{DaemonEndpoint, RpcClient};
pub use template::{BlockTemplate, CoinbaseAux, Payee, TemplateTransaction};
pub use template_source::{
    TemplateOptions, TemplateSource, TemplateUpdate, TemplateWaker, Trigger, WakeSource,
};
pub use zmq::spawn_zmq_block_notify;
