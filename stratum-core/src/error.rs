use thiserror::Error;

/// Errors of job building and pool set-up (share rejections are [`crate::Reject`]).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StratumError {
    /// A pool or recipient address this coin cannot pay.
    #[error("address \"{address}\" is not valid for this coin: {reason}")]
    InvalidAddress {
        /// The address as configured.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A template field that does not parse.
    #[error("block template field {field} is invalid: {reason}")]
    InvalidTemplate {
        /// The field (`bits`, `previousblockhash`, `transactions[3].data`, …).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reward recipients that take more than the whole reward.
    #[error("reward recipients take {percent}% of the block reward; at most 100% is possible")]
    RecipientsOverReward {
        /// Their summed percentage.
        percent: f64,
    },
    /// A coinbase script longer than consensus allows (100 bytes).
    #[error(
        "the coinbase script would be {len} bytes; at most 100 are allowed (shorten the pool signature)"
    )]
    CoinbaseScriptTooLong {
        /// Its length.
        len: usize,
    },
    /// A TLS certificate or key that cannot serve a port.
    #[error("TLS: {reason}")]
    Tls {
        /// What is wrong (which PEM block, or what rustls refused).
        reason: String,
    },
}
