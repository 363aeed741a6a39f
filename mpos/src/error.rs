use thiserror::Error;

/// Errors of MPOS mode.
#[derive(Debug, Error)]
pub enum MposError {
    /// The MySQL URL does not parse.
    #[error("MPOS database URL {url:?}: {reason}")]
    Url {
        /// The URL as given (with any password).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database refused a statement.
    #[error("MPOS database: {0}")]
    Database(#[from] mysql_async::Error),
    /// The share sink's spool could not be opened or written.
    #[error(transparent)]
    Spool(#[from] stratum_core::SpoolError),
}
