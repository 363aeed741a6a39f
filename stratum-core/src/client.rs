//! A stratum v1 client: for CPU miners, test miners and upstream (proxy) mode.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use thiserror::Error;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};
use tracing::Instrument;

use crate::protocol::{
    Configured, MAX_LINE_LENGTH, MinerRequest, ServerMessage, SubmitRequest, Subscription,
};

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
    ) -> Result<(StratumClient, mpsc::UnboundedReceiver<ServerMessage>), ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let pending: Pending = Arc::default();
        let (notify_tx, notifications) = mpsc::unbounded_channel();
        let reader = tokio::spawn(
            read_loop(
                FramedRead::new(read, LinesCodec::new_with_max_length(MAX_LINE_LENGTH * 16)),
                pending.clone(),
                notify_tx,
            )
            .in_current_span(),
        );
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
    pub async fn request(&self, request: &MinerRequest) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        self.writer
            .lock()
            .await
            .send(request.to_line(id))
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
        let request = MinerRequest::Subscribe {
            agent: Some(agent.to_owned()),
        };
        let result = self.request(&request).await?;
        Subscription::from_result(&result)
            .ok_or_else(|| ClientError::Protocol(format!("subscribe result {result}")))
    }

    /// `mining.authorize`; whether the server accepted the worker.
    pub async fn authorize(&self, worker: &str, password: &str) -> Result<bool, ClientError> {
        let request = MinerRequest::Authorize {
            worker: worker.to_owned(),
            password: password.to_owned(),
        };
        Ok(self.request(&request).await? == Value::Bool(true))
    }

    /// `mining.configure` asking to roll the version bits of `mask` (BIP310, at least two of
    /// them); what the server granted.
    pub async fn configure_version_rolling(&self, mask: u32) -> Result<Configured, ClientError> {
        let request = MinerRequest::Configure {
            extensions: vec!["version-rolling".to_owned()],
            version_rolling_mask: mask,
            min_bit_count: Some(2),
        };
        Ok(Configured::from_result(&self.request(&request).await?))
    }

    /// `mining.submit` of `nonce` at `ntime` with `extranonce2`; `Ok` when the server
    /// accepted the share.
    pub async fn submit(
        &self,
        worker: &str,
        job_id: &str,
        extranonce2: &[u8],
        ntime: u32,
        nonce: u32,
    ) -> Result<(), ClientError> {
        let share = SubmitRequest {
            worker: worker.to_owned(),
            job_id: job_id.to_owned(),
            extranonce2: hex::encode(extranonce2),
            ntime: format!("{ntime:08x}"),
            nonce: format!("{nonce:08x}"),
            version_bits: None,
        };
        match self.request(&MinerRequest::Submit(share)).await? {
            Value::Bool(true) => Ok(()),
            other => Err(ClientError::Protocol(format!("submit result {other}"))),
        }
    }
}

async fn read_loop(
    mut lines: FramedRead<tokio::net::tcp::OwnedReadHalf, LinesCodec>,
    pending: Pending,
    notifications: mpsc::UnboundedSender<ServerMessage>,
) {
    while let Some(Ok(line)) = lines.next().await {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(method) = message.get("method").and_then(Value::as_str) {
            let params = message.get("params").cloned().unwrap_or(Value::Null);
            let _ = notifications.send(ServerMessage::from_notification(method, params));
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
