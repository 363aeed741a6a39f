use std::time::Duration;

use thiserror::Error;

/// What can go wrong talking to a coin daemon. Every variant names the daemon
/// (`host:port`) so an operator knows which one to look at.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DaemonError {
    /// No TCP connection, or the connection broke before an answer.
    #[error("daemon {daemon} is unreachable: {reason}")]
    Unreachable {
        /// `host:port` of the daemon.
        daemon: String,
        /// What the connection attempt reported.
        reason: String,
    },
    /// The daemon took longer than the call's timeout.
    #[error("daemon {daemon} did not answer {method} within {timeout:?}")]
    Timeout {
        /// `host:port` of the daemon.
        daemon: String,
        /// The RPC method called.
        method: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// An HTTP status without a JSON-RPC answer (401: wrong RPC user or password).
    #[error("daemon {daemon} answered HTTP {status}{}", http_hint(*status))]
    Http {
        /// `host:port` of the daemon.
        daemon: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The daemon answered with a JSON-RPC error.
    #[error("daemon {daemon} refused {method}: {message} (code {code})")]
    Rpc {
        /// `host:port` of the daemon.
        daemon: String,
        /// The RPC method called.
        method: String,
        /// The JSON-RPC error code (bitcoind's: -5 invalid address, -8 invalid parameter,
        /// -22 deserialisation error, -28 warming up, -32601 method not found, …).
        code: i64,
        /// The daemon's message.
        message: String,
    },
    /// An answer that is not the JSON the call expects.
    #[error("daemon {daemon} sent an unreadable answer to {method}: {reason}")]
    Decode {
        /// `host:port` of the daemon.
        daemon: String,
        /// The RPC method called.
        method: String,
        /// What did not parse.
        reason: String,
    },
    /// A daemon group built from an empty list.
    #[error("no daemon is configured")]
    NoDaemons,
}

fn http_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => ": it refused the RPC user name or password (rpcuser/rpcpassword)",
        _ => "",
    }
}

impl DaemonError {
    /// Whether the daemon itself is unusable (down, hung, or refusing us), as opposed to
    /// having answered the call. Such errors make a daemon group try the next daemon.
    pub fn is_daemon_failure(&self) -> bool {
        matches!(
            self,
            DaemonError::Unreachable { .. }
                | DaemonError::Timeout { .. }
                | DaemonError::Http { .. }
        ) || matches!(self, DaemonError::Rpc { code: -28, .. })
    }

    /// The JSON-RPC error code, for an [`DaemonError::Rpc`] error.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            DaemonError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}
