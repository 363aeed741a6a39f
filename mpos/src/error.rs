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
    /// The share sink's share log could not be opened, or it stopped with shares it
    /// could not save.
    #[error(transparent)]
    Writer(#[from] pool_events::WriterError),
}
