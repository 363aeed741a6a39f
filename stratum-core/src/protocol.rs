//! Stratum v1 messages: JSON objects, one per line.

use hashing::Difficulty;
use serde::Deserialize;
use serde_json::{Value, json};

/// Lines longer than this end the connection (node-stratum-pool's flood limit).
pub const MAX_LINE_LENGTH: usize = 10 * 1024;

/// Stratum error codes (node-stratum-pool's).
pub mod codes {
    /// Any other error.
    pub const OTHER: i64 = 20;
    /// The job id is unknown or expired.
    pub const JOB_NOT_FOUND: i64 = 21;
    /// The share was already submitted.
    pub const DUPLICATE_SHARE: i64 = 22;
    /// The share does not meet the difficulty.
    pub const LOW_DIFFICULTY: i64 = 23;
    /// The worker did not authorise.
    pub const UNAUTHORIZED: i64 = 24;
    /// The connection did not subscribe.
    pub const NOT_SUBSCRIBED: i64 = 25;
}

/// A request from a miner.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Request {
    /// The id to answer with (any JSON; null for notifications).
    #[serde(default)]
    pub id: Value,
    /// The method, e.g. `mining.submit`.
    pub method: String,
    /// Positional parameters; anything but an array reads as none.
    #[serde(default, deserialize_with = "params")]
    pub params: Vec<Value>,
}

fn params<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Value>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items,
        _ => Vec::new(),
    })
}

/// What a miner asks for, read from a [`Request`] once, at the boundary: the server
/// handles these, never raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum MinerRequest {
    /// `mining.subscribe`.
    Subscribe,
    /// `mining.authorize [worker, password]` (missing fields read as empty).
    Authorize {
        /// The worker name (`address.rig`).
        worker: String,
        /// The password.
        password: String,
    },
    /// `mining.submit [worker, job id, extranonce2, ntime, nonce, version bits?]`.
    Submit(SubmitRequest),
    /// `mining.submit` without its five string fields.
    MalformedSubmit,
    /// `mining.configure [extensions, options]` (BIP310).
    Configure {
        /// The extensions asked for.
        extensions: Vec<String>,
        /// The version-rolling mask asked for (all bits when none or unreadable).
        version_rolling_mask: u32,
    },
    /// `mining.suggest_difficulty [difficulty]`; `None` when it is not a positive number.
    SuggestDifficulty(Option<Difficulty>),
    /// `mining.extranonce.subscribe`.
    ExtranonceSubscribe,
    /// `mining.get_transactions`.
    GetTransactions,
    /// Any other method.
    Unknown {
        /// The method named.
        method: String,
    },
}

/// The fields of `mining.submit`, as the miner sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitRequest {
    /// The worker the share is for.
    pub worker: String,
    /// The job id (hex).
    pub job_id: String,
    /// extranonce2 (hex).
    pub extranonce2: String,
    /// ntime (8 hex characters).
    pub ntime: String,
    /// nonce (8 hex characters).
    pub nonce: String,
    /// Rolled version bits (BIP310), if sent.
    pub version_bits: Option<String>,
}

impl MinerRequest {
    /// Reads a parsed request's method and parameters.
    pub fn from_request(request: &Request) -> MinerRequest {
        let text = |index: usize| request.params.get(index).and_then(Value::as_str);
        match request.method.as_str() {
            "mining.subscribe" => MinerRequest::Subscribe,
            "mining.authorize" => MinerRequest::Authorize {
                worker: text(0).unwrap_or_default().to_owned(),
                password: text(1).unwrap_or_default().to_owned(),
            },
            "mining.submit" => match (text(0), text(1), text(2), text(3), text(4)) {
                (Some(worker), Some(job_id), Some(extranonce2), Some(ntime), Some(nonce)) => {
                    MinerRequest::Submit(SubmitRequest {
                        worker: worker.to_owned(),
                        job_id: job_id.to_owned(),
                        extranonce2: extranonce2.to_owned(),
                        ntime: ntime.to_owned(),
                        nonce: nonce.to_owned(),
                        version_bits: text(5).map(str::to_owned),
                    })
                }
                _ => MinerRequest::MalformedSubmit,
            },
            "mining.configure" => MinerRequest::Configure {
                extensions: request
                    .params
                    .first()
                    .and_then(Value::as_array)
                    .map_or_else(Vec::new, |list| {
                        list.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    }),
                version_rolling_mask: request
                    .params
                    .get(1)
                    .and_then(|options| options.get("version-rolling.mask"))
                    .and_then(Value::as_str)
                    .and_then(|mask| u32::from_str_radix(mask, 16).ok())
                    .unwrap_or(u32::MAX),
            },
            "mining.suggest_difficulty" => MinerRequest::SuggestDifficulty(
                request
                    .params
                    .first()
                    .and_then(Value::as_f64)
                    .and_then(|d| Difficulty::new(d).ok()),
            ),
            "mining.extranonce.subscribe" => MinerRequest::ExtranonceSubscribe,
            "mining.get_transactions" => MinerRequest::GetTransactions,
            method => MinerRequest::Unknown {
                method: method.to_owned(),
            },
        }
    }
}

/// A message the server sends unasked.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `mining.notify` with a job's parameters.
    Notify(Value),
    /// `mining.set_difficulty`.
    SetDifficulty(f64),
    /// `client.show_message`.
    ShowMessage(String),
    /// `client.reconnect [host, port, wait]`, or `[]` for this same server.
    Reconnect {
        /// Where to, if elsewhere.
        to: Option<(String, u16)>,
        /// Seconds to wait first.
        wait_secs: u64,
    },
    /// Any other method, as a client reads it.
    Other {
        /// The method.
        method: String,
        /// Its parameters.
        params: Value,
    },
}

impl ServerMessage {
    /// The method name.
    pub fn method(&self) -> &str {
        match self {
            ServerMessage::Notify(_) => "mining.notify",
            ServerMessage::SetDifficulty(_) => "mining.set_difficulty",
            ServerMessage::ShowMessage(_) => "client.show_message",
            ServerMessage::Reconnect { .. } => "client.reconnect",
            ServerMessage::Other { method, .. } => method,
        }
    }

    /// The line to send (without its newline).
    pub fn to_line(&self) -> String {
        let params = match self {
            ServerMessage::Notify(params) | ServerMessage::Other { params, .. } => params.clone(),
            ServerMessage::SetDifficulty(difficulty) => json!([difficulty]),
            ServerMessage::ShowMessage(text) => json!([text]),
            ServerMessage::Reconnect { to: None, .. } => json!([]),
            ServerMessage::Reconnect {
                to: Some((host, port)),
                wait_secs,
            } => json!([host, port, wait_secs]),
        };
        notification_line(self.method(), params)
    }

    /// Reads a notification's method and parameters, as a client receives them.
    pub fn from_notification(method: &str, params: Value) -> ServerMessage {
        match method {
            "mining.notify" => return ServerMessage::Notify(params),
            "mining.set_difficulty" => {
                if let Some(difficulty) = params.get(0).and_then(Value::as_f64) {
                    return ServerMessage::SetDifficulty(difficulty);
                }
            }
            "client.show_message" => {
                if let Some(text) = params.get(0).and_then(Value::as_str) {
                    return ServerMessage::ShowMessage(text.to_owned());
                }
            }
            _ => {}
        }
        ServerMessage::Other {
            method: method.to_owned(),
            params,
        }
    }
}

/// A successful answer.
pub fn result_line(id: &Value, result: Value) -> String {
    json!({ "id": id, "result": result, "error": null }).to_string()
}

/// An error answer: `[code, message, null]`.
pub fn error_line(id: &Value, code: i64, message: &str) -> String {
    json!({ "id": id, "result": null, "error": [code, message, null] }).to_string()
}

/// A server notification (`mining.notify`, `mining.set_difficulty`, `client.show_message`, …).
pub fn notification_line(method: &str, params: Value) -> String {
    json!({ "id": null, "method": method, "params": params }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_any_id_and_loose_params() {
        let r: Request =
            serde_json::from_str(r#"{"id":"a","method":"mining.subscribe","params":["cgminer"]}"#)
                .unwrap();
        assert_eq!(
            (r.id, r.method.as_str(), r.params.len()),
            (json!("a"), "mining.subscribe", 1)
        );
        let r: Request =
            serde_json::from_str(r#"{"id":1,"method":"mining.extranonce.subscribe"}"#).unwrap();
        assert!(r.params.is_empty());
        let r: Request = serde_json::from_str(r#"{"id":2,"method":"x","params":{"a":1}}"#).unwrap();
        assert!(r.params.is_empty());
        assert!(serde_json::from_str::<Request>(r#"{"id":1}"#).is_err());
    }

    #[test]
    fn errors_are_code_message_null_triples() {
        let line = error_line(&json!(7), codes::UNAUTHORIZED, "unauthorized worker");
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["error"], json!([24, "unauthorized worker", null]));
        assert_eq!(value["result"], Value::Null);
        assert_eq!(value["id"], 7);
    }

    fn read(line: &str) -> MinerRequest {
        MinerRequest::from_request(&serde_json::from_str(line).unwrap())
    }

    #[test]
    fn requests_are_read_into_typed_requests() {
        assert_eq!(
            read(r#"{"id":1,"method":"mining.authorize","params":["a.rig"]}"#),
            MinerRequest::Authorize {
                worker: "a.rig".into(),
                password: String::new()
            }
        );
        let MinerRequest::Submit(submit) = read(
            r#"{"id":2,"method":"mining.submit","params":["w","1f","00000001","5f5e1000","0000abcd","1fffe000"]}"#,
        ) else {
            panic!("a submit")
        };
        assert_eq!(
            (submit.job_id.as_str(), submit.version_bits.as_deref()),
            ("1f", Some("1fffe000"))
        );
        assert_eq!(
            read(r#"{"id":3,"method":"mining.submit","params":["w","1f",1,"a","b"]}"#),
            MinerRequest::MalformedSubmit
        );
        assert_eq!(
            read(
                r#"{"id":4,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff"}]}"#
            ),
            MinerRequest::Configure {
                extensions: vec!["version-rolling".into()],
                version_rolling_mask: u32::MAX
            }
        );
        assert_eq!(
            read(r#"{"id":5,"method":"mining.suggest_difficulty","params":[-1]}"#),
            MinerRequest::SuggestDifficulty(None)
        );
        assert_eq!(
            read(r#"{"id":6,"method":"mining.bogus"}"#),
            MinerRequest::Unknown {
                method: "mining.bogus".into()
            }
        );
    }

    #[test]
    fn server_messages_round_trip_through_their_lines() {
        for message in [
            ServerMessage::SetDifficulty(0.5),
            ServerMessage::ShowMessage("maintenance at noon".into()),
            ServerMessage::Notify(json!(["1", "ab", true])),
        ] {
            let line: Value = serde_json::from_str(&message.to_line()).unwrap();
            assert_eq!(line["id"], Value::Null);
            let read = ServerMessage::from_notification(
                line["method"].as_str().unwrap(),
                line["params"].clone(),
            );
            assert_eq!(read, message);
        }
        let line = ServerMessage::Reconnect {
            to: Some(("pool.example".into(), 3333)),
            wait_secs: 5,
        }
        .to_line();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["params"], json!(["pool.example", 3333, 5]));
    }
}
