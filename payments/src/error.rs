use thiserror::Error;

/// Errors of share stores, the spool and the share writer.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The store did not answer or refused the connection: worth retrying later.
    #[error("share store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with something this version cannot read.
    #[error("share store holds unexpected data at {key}: {reason}")]
    Corrupt {
        /// Where (a Redis key, a table).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A payment write named a fencing token that is no longer the payment lease's latest:
    /// another payer took the lease over since, and the write was refused.
    #[error(
        "payment write refused: it holds fence {held} of the payment lease, but fence {current} was issued since (another payer took over)"
    )]
    Fenced {
        /// The token the write named.
        held: u64,
        /// The lease's latest token.
        current: u64,
    },
    /// The share writer could not start (its share log cannot be opened), or stopped
    /// with events it could not save.
    #[error(transparent)]
    Writer(#[from] pool_events::WriterError),
}
