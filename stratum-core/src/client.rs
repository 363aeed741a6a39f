//! A stratum v1 client: for CPU miners, test miners and upstream (proxy) mode.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use thiserror::Error;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};

use crate::header::{header_bytes, notify_prevhash};
use crate::merkle::merkle_root;
use crate::protocol::{MAX_LINE_LENGTH, ServerMessage};
use hashing::PowHasher;

/// What can go wrong for a client.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ClientError {
    /// The connection failed or broke.
    #[error("connection error: {0}")]
    Io(String),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// No answer within the request timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered with a stratum error.
    #[error("stratum error {code}: {message}")]
    Stratum {
        /// The error code (20–25).
        code: i64,
        /// The server's message.
        message: String,
    },
    /// An answer that does not have the expected shape.
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

/// A job as `mining.notify` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiningJob {
    /// The job id to submit against.
    pub job_id: String,
    /// The previous block hash, internal byte order.
    pub previous_hash: [u8; 32],
    /// Coinbase before the extranonce.
    pub coinb1: Vec<u8>,
    /// Coinbase after the extranonce.
    pub coinb2: Vec<u8>,
    /// The coinbase's merkle branch.
    pub branch: Vec<[u8; 32]>,
    /// Header version.
    pub version: u32,
    /// Header bits.
    pub bits: u32,
    /// Header time.
    pub ntime: u32,
    /// Whether earlier jobs are void.
    pub clean: bool,
}

impl MiningJob {
    /// Parses `mining.notify` params.
    pub fn from_params(params: &Value) -> Option<MiningJob> {
        let p = params.as_array()?;
        let bytes = |i: usize| hex::decode(p.get(i)?.as_str()?).ok();
        let word = |i: usize| u32::from_str_radix(p.get(i)?.as_str()?, 16).ok();
        let notify_prev: [u8; 32] = bytes(1)?.try_into().ok()?;
        let previous_hash = notify_prevhash(&notify_prev);
        let branch = p
            .get(4)?
            .as_array()?
            .iter()
            .map(|h| hex::decode(h.as_str()?).ok()?.try_into().ok())
            .collect::<Option<Vec<[u8; 32]>>>()?;
        Some(MiningJob {
            job_id: p.first()?.as_str()?.to_owned(),
            previous_hash,
            coinb1: bytes(2)?,
            coinb2: bytes(3)?,
            branch,
            version: word(5)?,
            bits: word(6)?,
            ntime: word(7)?,
            clean: p.get(8)?.as_bool()?,
        })
    }

    /// The header for the given extranonces, time and nonce, the coinbase hashed into the
    /// merkle root as `hasher`'s coin does.
    pub fn header(
        &self,
        hasher: &PowHasher,
        extranonce1: &[u8],
        extranonce2: &[u8],
        ntime: u32,
        nonce: u32,
    ) -> [u8; 80] {
        let coinbase = [&self.coinb1[..], extranonce1, extranonce2, &self.coinb2[..]].concat();
        let root = merkle_root(&hasher.coinbase_hash(&coinbase), &self.branch);
        header_bytes(
            self.version,
            &self.previous_hash,
            &root,
            ntime,
            self.bits,
            nonce,
        )
    }
}

/// A server-initiated message.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// `mining.notify`.
    Notify(MiningJob),
    /// `mining.set_difficulty`.
    SetDifficulty(f64),
    /// Anything else (`client.show_message`, `client.reconnect`, …).
    Other {
        /// The method.
        method: String,
        /// Its params.
        params: Value,
    },
}

/// The answer to `mining.subscribe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The connection's extranonce1.
    pub extranonce1: Vec<u8>,
    /// Bytes of extranonce2 the miner chooses.
    pub extranonce2_size: usize,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, ClientError>>>>>;

/// A connection to a stratum server. Requests may be made concurrently; notifications
/// arrive on the receiver returned by [`StratumClient::connect`].
#[derive(Debug)]
pub struct StratumClient {
    writer: tokio::sync::Mutex<FramedWrite<OwnedWriteHalf, LinesCodec>>,
    pending: Pending,
    next_id: AtomicU64,
    timeout: Duration,
    reader: JoinHandle<()>,
}

impl Drop for StratumClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl StratumClient {
    /// Connects to `addr` (a socket address, or a `(host, port)` pair to resolve); each
    /// request then waits at most `timeout` for its answer.
    pub async fn connect(
        addr: impl ToSocketAddrs,
        timeout: Duration,
    ) -> Result<(StratumClient, mpsc::UnboundedReceiver<Notification>), ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let pending: Pending = Arc::default();
        let (notify_tx, notifications) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(
            FramedRead::new(read, LinesCodec::new_with_max_length(MAX_LINE_LENGTH * 16)),
            pending.clone(),
            notify_tx,
        ));
        let client = StratumClient {
            writer: tokio::sync::Mutex::new(FramedWrite::new(write, LinesCodec::new())),
            pending,
            next_id: AtomicU64::new(1),
            timeout,
            reader,
        };
        Ok((client, notifications))
    }

    /// Sends a request and waits for its result.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        let line = json!({ "id": id, "method": method, "params": params }).to_string();
        self.writer
            .lock()
            .await
            .send(line)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                Err(ClientError::Timeout(self.timeout))
            }
        }
    }

    /// `mining.subscribe`.
    pub async fn subscribe(&self, agent: &str) -> Result<Subscription, ClientError> {
        let result = self.request("mining.subscribe", json!([agent])).await?;
        let shape = || ClientError::Protocol(format!("subscribe result {result}"));
        let extranonce1 = hex::decode(result.get(1).and_then(Value::as_str).ok_or_else(shape)?)
            .map_err(|_| shape())?;
        let extranonce2_size = result.get(2).and_then(Value::as_u64).ok_or_else(shape)? as usize;
        Ok(Subscription {
            extranonce1,
            extranonce2_size,
        })
    }

    /// `mining.authorize`; whether the server accepted the worker.
    pub async fn authorize(&self, worker: &str, password: &str) -> Result<bool, ClientError> {
        Ok(self
            .request("mining.authorize", json!([worker, password]))
            .await?
            == json!(true))
    }

    /// `mining.submit`; `Ok` when the server accepted the share.
    pub async fn submit(
        &self,
        worker: &str,
        job_id: &str,
        extranonce2: &[u8],
        ntime: u32,
        nonce: u32,
    ) -> Result<(), ClientError> {
        let params = json!([
            worker,
            job_id,
            hex::encode(extranonce2),
            format!("{ntime:08x}"),
            format!("{nonce:08x}")
        ]);
        match self.request("mining.submit", params).await? {
            Value::Bool(true) => Ok(()),
            other => Err(ClientError::Protocol(format!("submit result {other}"))),
        }
    }
}

async fn read_loop(
    mut lines: FramedRead<tokio::net::tcp::OwnedReadHalf, LinesCodec>,
    pending: Pending,
    notifications: mpsc::UnboundedSender<Notification>,
) {
    while let Some(Ok(line)) = lines.next().await {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(method) = message.get("method").and_then(Value::as_str) {
            let params = message.get("params").cloned().unwrap_or(Value::Null);
            let notification = match ServerMessage::from_notification(method, params.clone()) {
                ServerMessage::Notify(job) => {
                    MiningJob::from_params(&job).map(Notification::Notify)
                }
                ServerMessage::SetDifficulty(difficulty) => {
                    Some(Notification::SetDifficulty(difficulty))
                }
                _ => None,
            }
            .unwrap_or_else(|| Notification::Other {
                method: method.to_owned(),
                params,
            });
            let _ = notifications.send(notification);
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let Some(waiter) = pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
        else {
            continue;
        };
        let result = match message.get("error") {
            Some(error) if !error.is_null() => Err(ClientError::Stratum {
                code: error.get(0).and_then(Value::as_i64).unwrap_or(20),
                message: error
                    .get(1)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }),
            _ => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
        };
        let _ = waiter.send(result);
    }
    // Whoever still waits learns the connection is gone.
    pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
}
