//! The portal's errors.

use std::net::SocketAddr;

use thiserror::Error;

/// Why the portal could not start.
#[derive(Debug, Error)]
pub enum PortalError {
    /// The web port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The admin password hash is not a usable argon2 hash.
    #[error(
        "the admin password hash is not an argon2 PHC string ({0}); make one with `nomp hash-password`"
    )]
    AdminHash(String),
}
