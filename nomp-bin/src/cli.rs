//! NOMP's CLI: `{command, params, options}` as one JSON message ended by a newline over TCP
//! to `cliPort` on the loopback interface, answered with text and the connection's close,
//! exactly as NOMP's `scripts/cli.js` and its listener do (a message ended by the sender
//! closing its side is taken too).

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
    let reply = match tokio::time::timeout(READ_TIMEOUT, read_message(&mut socket)).await {
        Err(_) => "error: no complete message in time".to_owned(),
        Ok(Err(error)) => format!("error: {error}"),
        Ok(Ok(text)) => match serde_json::from_str::<Message>(text.trim()) {
            Ok(message) => handle(&message, pools).await,
            Err(error) => format!("error: not a CLI message: {error}"),
        },
    };
    // NOMP's listener answers with the text and closes (`end(reply)`): cli.js prints what
    // arrives until then.
    socket.write_all(reply.as_bytes()).await?;
    socket.shutdown().await
}

/// One message: up to its newline (NOMP's framing: its listener parses once the data ends
/// with one), or up to the end of the stream.
async fn read_message(socket: &mut TcpStream) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = socket.read(&mut chunk).await?;
        bytes.extend_from_slice(&chunk[..read]);
        if read == 0 || bytes.ends_with(b"\n") {
            break;
        }
        if bytes.len() as u64 > MAX_MESSAGE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "message too long",
            ));
        }
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

async fn handle(message: &Message, pools: &Pools) -> String {
    let reply = match (message.command.as_str(), message.params.as_slice()) {
        ("blocknotify", [pool, hash, ..]) => pools
            .blocknotify(pool)
            .await
            .map(|()| {
                tracing::debug!(pool, hash, "blocknotify");
                format!("{pool} notified of block {hash}")
            })
            .map_err(|e| e.to_string()),
        ("blocknotify", _) => Err("usage: blocknotify <pool> <blockhash>".to_owned()),
        ("reloadpool", [pool, ..]) => pools.reload(pool).await.map_err(|e| e.to_string()),
        ("reloadpool", _) => Err("usage: reloadpool <pool>".to_owned()),
        ("coinswitch", params) => coinswitch(params, &message.options, pools).await,
        (command, _) => Err(format!(
            "unrecognized command {command:?} (known: blocknotify, reloadpool, coinswitch)"
        )),
    };
    reply.unwrap_or_else(|error| format!("error: {error}"))
}

/// NOMP's `coinswitch <coin> [switch]`, or with `-algorithm=<algo>` instead of a switch
/// every enabled switch of that algorithm. Also `<switch> <coin>`, the order earlier
/// versions of nomp-rs took, told apart by which of the two names a switch.
async fn coinswitch(
    params: &[String],
    options: &HashMap<String, Value>,
    pools: &Pools,
) -> Result<String, String> {
    let usage =
        "usage: coinswitch <coin> [switch] (or -algorithm=<algorithm> for every switch of it)";
    let algorithm = options.get("algorithm").and_then(Value::as_str);
    match (params, algorithm) {
        ([first, second, ..], _) => {
            let (coin, switch) = if pools.is_switch(first).await && !pools.is_switch(second).await {
                (second, first)
            } else {
                (first, second)
            };
            pools
                .coin_switch(switch, coin)
                .await
                .map_err(|e| e.to_string())
        }
        ([coin], Some(algorithm)) => pools
            .coin_switch_algorithm(algorithm, coin)
            .await
            .map_err(|e| e.to_string()),
        ([_], None) => Err(format!(
            "name the switch or give -algorithm=<algorithm> ({usage})"
        )),
        ([], _) => Err(usage.to_owned()),
    }
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
    let mut text = serde_json::to_string(message).map_err(|e| e.to_string())?;
    text.push('\n');
    socket
        .write_all(text.as_bytes())
        .await
        .map_err(unreachable)?;
    let mut reply = String::new();
    tokio::time::timeout(READ_TIMEOUT, socket.read_to_string(&mut reply))
        .await
        .map_err(|_| format!("no reply from the CLI listener on {addr}"))?
        .map_err(unreachable)?;
    Ok(reply.trim_end().to_owned())
}
