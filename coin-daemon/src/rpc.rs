use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::DaemonError;

/// Where a daemon's JSON-RPC listens and how to log in (NOMP's `daemons` entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonEndpoint {
    /// Host name or IP address.
    pub host: String,
    /// The RPC port.
    pub port: u16,
    /// `rpcuser`.
    pub user: String,
    /// `rpcpassword`.
    pub password: String,
}

impl DaemonEndpoint {
    /// `host:port`, the name used in logs and errors (never the credentials).
    pub fn label(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A JSON-RPC 1.0 client for one daemon: HTTP POST with basic auth and a timeout per call.
#[derive(Debug)]
pub struct RpcClient {
    endpoint: DaemonEndpoint,
    label: String,
    url: String,
    http: reqwest::Client,
    timeout: Duration,
    next_id: AtomicU64,
}

#[derive(Serialize)]
struct Request<'a, P: Serialize> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: &'a P,
}

impl RpcClient {
    /// A client for `endpoint` whose calls each give up after `timeout`.
    pub fn new(endpoint: DaemonEndpoint, timeout: Duration) -> RpcClient {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client without TLS always builds");
        RpcClient {
            label: endpoint.label(),
            url: format!("http://{}:{}/", endpoint.host, endpoint.port),
            endpoint,
            http,
            timeout,
            next_id: AtomicU64::new(1),
        }
    }

    /// The daemon's endpoint.
    pub fn endpoint(&self) -> &DaemonEndpoint {
        &self.endpoint
    }

    /// `host:port` of the daemon.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Calls `method` with positional `params` (any value serialising to a JSON array) and
    /// decodes the result into `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &impl Serialize,
    ) -> Result<T, DaemonError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::to_vec(&Request {
            jsonrpc: "1.0",
            id,
            method,
            params,
        })
        .map_err(|e| self.decode_error(method, e))?;
        let reply = self.post(method, body).await?;
        let envelope: Value = reply?;
        self.result_of(method, envelope)
    }

    /// Sends several calls in one HTTP request (a JSON-RPC batch). The outer error is for
    /// the request as a whole; each call then has its own result, in the order given.
    pub async fn batch(
        &self,
        calls: &[(&str, Value)],
    ) -> Result<Vec<Result<Value, DaemonError>>, DaemonError> {
        let first_id = self
            .next_id
            .fetch_add(calls.len() as u64, Ordering::Relaxed);
        let requests: Vec<_> = calls
            .iter()
            .enumerate()
            .map(|(i, (method, params))| Request {
                jsonrpc: "1.0",
                id: first_id + i as u64,
                method,
                params,
            })
            .collect();
        let body = serde_json::to_vec(&requests).map_err(|e| self.decode_error("batch", e))?;
        let replies = match self.post("batch", body).await?? {
            Value::Array(replies) => replies,
            other => {
                return Err(self.decode_error("batch", format!("expected an array, got {other}")));
            }
        };
        let mut results: Vec<Option<Result<Value, DaemonError>>> = vec![None; calls.len()];
        for reply in replies {
            let slot = reply
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|id| id.checked_sub(first_id))
                .and_then(|i| usize::try_from(i).ok())
                .filter(|i| *i < calls.len());
            if let Some(i) = slot {
                results[i] = Some(self.result_of(calls[i].0, reply));
            }
        }
        Ok(results
            .into_iter()
            .enumerate()
            .map(|(i, result)| {
                result
                    .unwrap_or_else(|| Err(self.decode_error(calls[i].0, "no reply in the batch")))
            })
            .collect())
    }

    /// POSTs a body; the outer result is transport failure, the inner one an unreadable
    /// body. bitcoind answers RPC errors with HTTP 500 or 404 and a JSON body, so the body
    /// is read whatever the status.
    async fn post(
        &self,
        method: &str,
        body: Vec<u8>,
    ) -> Result<Result<Value, DaemonError>, DaemonError> {
        let request = self
            .http
            .post(&self.url)
            .basic_auth(&self.endpoint.user, Some(&self.endpoint.password))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.timeout);
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(method, &e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(method, &e))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => Ok(Ok(value)),
            Err(_) if !status.is_success() => Err(DaemonError::Http {
                daemon: self.label.clone(),
                status: status.as_u16(),
            }),
            Err(e) => Ok(Err(self.decode_error(method, e))),
        }
    }

    fn result_of<T: DeserializeOwned>(
        &self,
        method: &str,
        mut envelope: Value,
    ) -> Result<T, DaemonError> {
        let error = envelope
            .get_mut("error")
            .map(Value::take)
            .unwrap_or(Value::Null);
        if !error.is_null() {
            return Err(DaemonError::Rpc {
                daemon: self.label.clone(),
                method: method.to_owned(),
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| error.to_string(), str::to_owned),
            });
        }
        let result = envelope
            .get_mut("result")
            .map(Value::take)
            .unwrap_or(Value::Null);
        serde_json::from_value(result).map_err(|e| self.decode_error(method, e))
    }

    fn transport_error(&self, method: &str, error: &reqwest::Error) -> DaemonError {
        if error.is_timeout() {
            DaemonError::Timeout {
                daemon: self.label.clone(),
                method: method.to_owned(),
                timeout: self.timeout,
            }
        } else {
            DaemonError::Unreachable {
                daemon: self.label.clone(),
                reason: error_chain(error),
            }
        }
    }

    fn decode_error(&self, method: &str, reason: impl ToString) -> DaemonError {
        DaemonError::Decode {
            daemon: self.label.clone(),
            method: method.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// The error and its causes on one line ("error sending request: … connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
