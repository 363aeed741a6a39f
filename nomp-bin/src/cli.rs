//! NOMP's CLI: `{command, params, options}` as one JSON message over TCP to `cliPort` on
//! the loopback interface, answered with one line of text.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::run::Pools;

/// The longest CLI message read.
const MAX_MESSAGE: u64 = 64 * 1024;
/// How long a CLI peer may take to send its message.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A CLI message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Message {
    /// `blocknotify`, …
    pub(crate) command: String,
    /// The command's arguments.
    #[serde(default)]
    pub(crate) params: Vec<String>,
    /// Options (unused by the commands so far).
    #[serde(default)]
    pub(crate) options: HashMap<String, Value>,
}

/// Serves CLI messages on `addr` until `cancel`: `blocknotify <pool> <hash>` wakes that
/// pool's template source, `reloadpool <pool>` restarts it with its configuration read
/// again. Returns once bound.
pub(crate) async fn listen(
    addr: SocketAddr,
    pools: Arc<Pools>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "CLI listening");
    tokio::spawn(async move {
        loop {
            let (socket, _) = tokio::select! {
                () = cancel.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::warn!(%error, "CLI accept failed");
                        continue;
                    }
                },
            };
            let pools = pools.clone();
            tokio::spawn(async move {
                if let Err(error) = serve(socket, &pools).await {
                    tracing::debug!(%error, "CLI connection failed");
                }
            });
        }
    });
    Ok(())
}

async fn serve(mut socket: TcpStream, pools: &Pools) -> std::io::Result<()> {
    let mut text = String::new();
    let mut limited = (&mut socket).take(MAX_MESSAGE);
    let reply = match tokio::time::timeout(READ_TIMEOUT, limited.read_to_string(&mut text)).await {
        Err(_) => "error: no complete message in time".to_owned(),
        Ok(Err(error)) => format!("error: {error}"),
        Ok(Ok(_)) => match serde_json::from_str::<Message>(text.trim()) {
            Ok(message) => handle(&message, pools).await,
            Err(error) => format!("error: not a CLI message: {error}"),
        },
    };
    socket.write_all(reply.as_bytes()).await?;
    socket.write_all(b"\n").await?;
    socket.shutdown().await
}

async fn handle(message: &Message, pools: &Pools) -> String {
    let reply = match (message.command.as_str(), message.params.as_slice()) {
        ("blocknotify", [pool, hash, ..]) => pools.blocknotify(pool).await.map(|()| {
            tracing::debug!(pool, hash, "blocknotify");
            format!("{pool} notified of block {hash}")
        }),
        ("blocknotify", _) => Err("usage: blocknotify <pool> <blockhash>".to_owned()),
        ("reloadpool", [pool, ..]) => pools.reload(pool).await,
        ("reloadpool", _) => Err("usage: reloadpool <pool>".to_owned()),
        ("coinswitch", [switch, coin, ..]) => pools.coin_switch(switch, coin).await,
        ("coinswitch", _) => Err("usage: coinswitch <switch> <coin>".to_owned()),
        (command, _) => Err(format!(
            "unknown command {command:?} (known: blocknotify, reloadpool, coinswitch)"
        )),
    };
    reply.unwrap_or_else(|error| format!("error: {error}"))
}

/// Sends `message` to the listener at `addr` and returns its reply.
pub(crate) async fn send(addr: SocketAddr, message: &Message) -> Result<String, String> {
    let unreachable = |e: std::io::Error| {
        format!(
            "cannot reach the nomp CLI listener on {addr} ({e}); is nomp running, and is cliPort in config.json {}?",
            addr.port()
        )
    };
    let mut socket = tokio::time::timeout(READ_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| unreachable(std::io::ErrorKind::TimedOut.into()))?
        .map_err(unreachable)?;
    let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
    socket
        .write_all(text.as_bytes())
        .await
        .map_err(unreachable)?;
    socket.shutdown().await.map_err(unreachable)?;
    let mut reply = String::new();
    tokio::time::timeout(READ_TIMEOUT, socket.read_to_string(&mut reply))
        .await
        .map_err(|_| format!("no reply from the CLI listener on {addr}"))?
        .map_err(unreachable)?;
    Ok(reply.trim_end().to_owned())
}
