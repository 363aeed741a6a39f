//! Stratum v1 messages: JSON objects, one per line.

use hashing::{BlockHash, CompactTarget, Difficulty, PowHasher};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::header::{header_bytes, notify_prevhash};
use crate::merkle::merkle_root;

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
    /// `mining.subscribe [user agent?]`.
    Subscribe {
        /// The miner's software, if it names it.
        agent: Option<String>,
    },
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
        /// The fewest rolled bits the miner can work with, if it says.
        min_bit_count: Option<u32>,
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
            "mining.subscribe" => MinerRequest::Subscribe {
                agent: text(0).map(str::to_owned),
            },
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
                min_bit_count: request
                    .params
                    .get(1)
                    .and_then(|options| options.get("version-rolling.min-bit-count"))
                    .and_then(Value::as_u64)
                    .and_then(|count| u32::try_from(count).ok()),
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

impl MinerRequest {
    /// The method name.
    pub fn method(&self) -> &str {
        match self {
            MinerRequest::Subscribe { .. } => "mining.subscribe",
            MinerRequest::Authorize { .. } => "mining.authorize",
            MinerRequest::Submit(_) | MinerRequest::MalformedSubmit => "mining.submit",
            MinerRequest::Configure { .. } => "mining.configure",
            MinerRequest::SuggestDifficulty(_) => "mining.suggest_difficulty",
            MinerRequest::ExtranonceSubscribe => "mining.extranonce.subscribe",
            MinerRequest::GetTransactions => "mining.get_transactions",
            MinerRequest::Unknown { method } => method,
        }
    }

    /// The positional parameters, as a client sends them (none for a malformed submit, an
    /// unknown method or an unreadable suggested difficulty).
    pub fn params(&self) -> Value {
        match self {
            MinerRequest::Subscribe { agent: Some(agent) } => json!([agent]),
            MinerRequest::Authorize { worker, password } => json!([worker, password]),
            MinerRequest::Submit(submit) => {
                let mut params = vec![
                    json!(submit.worker),
                    json!(submit.job_id),
                    json!(submit.extranonce2),
                    json!(submit.ntime),
                    json!(submit.nonce),
                ];
                if let Some(bits) = &submit.version_bits {
                    params.push(json!(bits));
                }
                Value::Array(params)
            }
            MinerRequest::Configure {
                extensions,
                version_rolling_mask,
                min_bit_count,
            } => {
                let mut options = serde_json::Map::new();
                if extensions.iter().any(|e| e == "version-rolling") {
                    options.insert(
                        "version-rolling.mask".into(),
                        json!(format!("{version_rolling_mask:08x}")),
                    );
                    if let Some(count) = min_bit_count {
                        options.insert("version-rolling.min-bit-count".into(), json!(count));
                    }
                }
                json!([extensions, options])
            }
            MinerRequest::SuggestDifficulty(Some(difficulty)) => json!([difficulty.get()]),
            _ => json!([]),
        }
    }

    /// The request line with id `id` (without its newline).
    pub fn to_line(&self, id: u64) -> String {
        json!({ "id": id, "method": self.method(), "params": self.params() }).to_string()
    }
}

/// A job as `mining.notify` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiningJob {
    /// The job id to submit against.
    pub job_id: String,
    /// The block it builds on.
    pub previous_hash: BlockHash,
    /// Coinbase before the extranonce.
    pub coinb1: Vec<u8>,
    /// Coinbase after the extranonce.
    pub coinb2: Vec<u8>,
    /// The coinbase's merkle branch.
    pub branch: Vec<[u8; 32]>,
    /// Header version.
    pub version: u32,
    /// Header bits.
    pub bits: CompactTarget,
    /// Header time.
    pub ntime: u32,
    /// Whether earlier jobs are void.
    pub clean: bool,
}

impl MiningJob {
    /// The `mining.notify` params of this job.
    pub fn to_params(&self) -> Value {
        json!([
            self.job_id,
            hex::encode(notify_prevhash(self.previous_hash.as_internal())),
            hex::encode(&self.coinb1),
            hex::encode(&self.coinb2),
            self.branch.iter().map(hex::encode).collect::<Vec<_>>(),
            format!("{:08x}", self.version),
            self.bits.to_string(),
            format!("{:08x}", self.ntime),
            self.clean,
        ])
    }

    /// Parses `mining.notify` params.
    pub fn from_params(params: &Value) -> Option<MiningJob> {
        let p = params.as_array()?;
        let bytes = |i: usize| hex::decode(p.get(i)?.as_str()?).ok();
        let word = |i: usize| u32::from_str_radix(p.get(i)?.as_str()?, 16).ok();
        let notify_prev: [u8; 32] = bytes(1)?.try_into().ok()?;
        let previous_hash = BlockHash::from_internal(notify_prevhash(&notify_prev));
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
            bits: p.get(6)?.as_str()?.parse().ok()?,
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
            self.previous_hash.as_internal(),
            &root,
            ntime,
            self.bits.bits(),
            nonce,
        )
    }
}

/// The answer to `mining.subscribe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The connection's extranonce1.
    pub extranonce1: Vec<u8>,
    /// Bytes of extranonce2 the miner chooses.
    pub extranonce2_size: usize,
}

impl Subscription {
    /// The `mining.subscribe` result: the subscriptions (named by the extranonce1, as
    /// node-stratum-pool does), extranonce1 and the extranonce2 size.
    pub fn to_result(&self) -> Value {
        let id = hex::encode(&self.extranonce1);
        json!([
            [["mining.set_difficulty", id], ["mining.notify", id]],
            id,
            self.extranonce2_size,
        ])
    }

    /// Reads a `mining.subscribe` result.
    pub fn from_result(result: &Value) -> Option<Subscription> {
        Some(Subscription {
            extranonce1: hex::decode(result.get(1)?.as_str()?).ok()?,
            extranonce2_size: usize::try_from(result.get(2)?.as_u64()?).ok()?,
        })
    }
}

/// The `mining.configure` result (BIP310): the version bits granted, and the extensions
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Configured {
    /// `version-rolling` granted with this mask, or `None` when refused or not asked.
    pub version_rolling: Option<u32>,
    /// The other extensions asked for, each refused.
    pub refused: Vec<String>,
}

impl Configured {
    /// The result object.
    pub fn to_result(&self) -> Value {
        let mut result = serde_json::Map::new();
        if let Some(mask) = self.version_rolling {
            result.insert("version-rolling".into(), json!(true));
            result.insert("version-rolling.mask".into(), json!(format!("{mask:08x}")));
        }
        for extension in &self.refused {
            result.insert(extension.clone(), json!(false));
        }
        Value::Object(result)
    }

    /// Reads a result object; anything unreadable grants nothing.
    pub fn from_result(result: &Value) -> Configured {
        let version_rolling = (result.get("version-rolling") == Some(&Value::Bool(true)))
            .then(|| {
                result
                    .get("version-rolling.mask")
                    .and_then(Value::as_str)
                    .and_then(|mask| u32::from_str_radix(mask, 16).ok())
            })
            .flatten();
        let refused = result
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, granted)| **granted == Value::Bool(false))
            .map(|(name, _)| name.clone())
            .collect();
        Configured {
            version_rolling,
            refused,
        }
    }
}

/// A message the server sends unasked.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `mining.notify`: a job.
    Notify(MiningJob),
    /// `mining.set_difficulty`.
    SetDifficulty(f64),
    /// `mining.set_extranonce [extranonce1, extranonce2 size]`.
    SetExtranonce {
        /// The new extranonce1.
        extranonce1: Vec<u8>,
        /// Bytes of extranonce2 the miner fills from now on.
        extranonce2_size: usize,
    },
    /// `client.show_message`.
    ShowMessage(String),
    /// `client.reconnect [host, port, wait]`, or `[]` for this same server.
    Reconnect {
        /// Where to, if elsewhere.
        to: Option<(String, u16)>,
        /// Seconds to wait first.
        wait_secs: u64,
    },
    /// Any other method, or a known one whose parameters do not read, as a client
    /// receives it.
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
            ServerMessage::SetExtranonce { .. } => "mining.set_extranonce",
            ServerMessage::ShowMessage(_) => "client.show_message",
            ServerMessage::Reconnect { .. } => "client.reconnect",
            ServerMessage::Other { method, .. } => method,
        }
    }

    /// The line to send (without its newline).
    pub fn to_line(&self) -> String {
        let params = match self {
            ServerMessage::Notify(job) => job.to_params(),
            ServerMessage::Other { params, .. } => params.clone(),
            ServerMessage::SetDifficulty(difficulty) => json!([difficulty]),
            ServerMessage::SetExtranonce {
                extranonce1,
                extranonce2_size,
            } => json!([hex::encode(extranonce1), extranonce2_size]),
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
        let read = match method {
            "mining.notify" => MiningJob::from_params(&params).map(ServerMessage::Notify),
            "mining.set_difficulty" => params
                .get(0)
                .and_then(Value::as_f64)
                .map(ServerMessage::SetDifficulty),
            "mining.set_extranonce" => (|| {
                Some(ServerMessage::SetExtranonce {
                    extranonce1: hex::decode(params.get(0)?.as_str()?).ok()?,
                    extranonce2_size: usize::try_from(params.get(1)?.as_u64()?).ok()?,
                })
            })(),
            "client.show_message" => params
                .get(0)
                .and_then(Value::as_str)
                .map(|text| ServerMessage::ShowMessage(text.to_owned())),
            "client.reconnect" => match params.as_array().map(Vec::as_slice) {
                None | Some([]) => Some(ServerMessage::Reconnect {
                    to: None,
                    wait_secs: 0,
                }),
                Some([host, port, rest @ ..]) => (|| {
                    Some(ServerMessage::Reconnect {
                        to: Some((
                            host.as_str()?.to_owned(),
                            u16::try_from(port.as_u64()?).ok()?,
                        )),
                        wait_secs: rest.first().and_then(Value::as_u64).unwrap_or(0),
                    })
                })(),
                // A reconnect that names no usable place: to this same server.
                Some(_) => Some(ServerMessage::Reconnect {
                    to: None,
                    wait_secs: 0,
                }),
            },
            _ => None,
        };
        read.unwrap_or_else(|| ServerMessage::Other {
            method: method.to_owned(),
            params,
        })
    }
}

/// An answer as node-stratum-pool writes it: `id`, `result`, `error`, in that order.
/// Serialised from borrowed fields: a share's answer costs one allocation, its line.
#[derive(Serialize)]
struct Answer<'a, R, E> {
    id: &'a Value,
    result: R,
    error: E,
}

fn answer_line<R: Serialize, E: Serialize>(answer: &Answer<'_, R, E>) -> String {
    serde_json::to_string(answer).expect("an answer of JSON values serialises")
}

/// A successful answer.
pub fn result_line(id: &Value, result: Value) -> String {
    answer_line(&Answer {
        id,
        result,
        error: (),
    })
}

/// An error answer: `[code, message, null]`.
pub fn error_line(id: &Value, code: i64, message: &str) -> String {
    answer_line(&Answer {
        id,
        result: (),
        error: (code, message, ()),
    })
}

/// A server notification (`mining.notify`, `mining.set_difficulty`, `client.show_message`, …).
pub fn notification_line(method: &str, params: Value) -> String {
    json!({ "id": null, "method": method, "params": params }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_written_as_node_stratum_pool_writes_them() {
        assert_eq!(
            result_line(&json!(4), json!(true)),
            r#"{"id":4,"result":true,"error":null}"#
        );
        assert_eq!(
            error_line(&json!("a"), 23, "low difficulty \"share\""),
            r#"{"id":"a","result":null,"error":[23,"low difficulty \"share\"",null]}"#
        );
    }

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
                version_rolling_mask: u32::MAX,
                min_bit_count: None,
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

    fn job() -> MiningJob {
        MiningJob {
            job_id: "1f".into(),
            previous_hash: BlockHash::from_internal([7; 32]),
            coinb1: vec![1, 2],
            coinb2: vec![3],
            branch: vec![[9; 32]],
            version: 0x2000_0000,
            bits: CompactTarget::new(0x1d00_ffff),
            ntime: 0x5f5e_1000,
            clean: true,
        }
    }

    #[test]
    fn server_messages_round_trip_through_their_lines() {
        for message in [
            ServerMessage::SetDifficulty(0.5),
            ServerMessage::ShowMessage("maintenance at noon".into()),
            ServerMessage::Notify(job()),
            ServerMessage::SetExtranonce {
                extranonce1: vec![0xab, 0xcd],
                extranonce2_size: 4,
            },
            ServerMessage::Reconnect {
                to: Some(("pool.example".into(), 3333)),
                wait_secs: 5,
            },
            ServerMessage::Reconnect {
                to: None,
                wait_secs: 0,
            },
            ServerMessage::Other {
                method: "client.get_version".into(),
                params: json!([]),
            },
        ] {
            let line: Value = serde_json::from_str(&message.to_line()).unwrap();
            assert_eq!(line["id"], Value::Null);
            let read = ServerMessage::from_notification(
                line["method"].as_str().unwrap(),
                line["params"].clone(),
            );
            assert_eq!(read, message);
        }
        let line = ServerMessage::Notify(job()).to_line();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value["params"][1],
            hex::encode([7u8; 32]),
            "prevhash in stratum's word order"
        );
        assert_eq!(value["params"][6], "1d00ffff");
        // A known method whose params do not read is passed on as it came.
        assert_eq!(
            ServerMessage::from_notification("mining.notify", json!(["1"])),
            ServerMessage::Other {
                method: "mining.notify".into(),
                params: json!(["1"])
            }
        );
    }

    #[test]
    fn client_requests_read_back_as_the_server_reads_them() {
        for request in [
            MinerRequest::Subscribe {
                agent: Some("cpuminer/2.5".into()),
            },
            MinerRequest::Subscribe { agent: None },
            MinerRequest::Authorize {
                worker: "addr.rig".into(),
                password: "x".into(),
            },
            MinerRequest::Submit(SubmitRequest {
                worker: "addr.rig".into(),
                job_id: "1f".into(),
                extranonce2: "00000001".into(),
                ntime: "5f5e1000".into(),
                nonce: "0000abcd".into(),
                version_bits: Some("00002000".into()),
            }),
            MinerRequest::Configure {
                extensions: vec!["version-rolling".into()],
                version_rolling_mask: 0x1fff_e000,
                min_bit_count: Some(2),
            },
            MinerRequest::SuggestDifficulty(Difficulty::new(64.0).ok()),
            MinerRequest::ExtranonceSubscribe,
            MinerRequest::GetTransactions,
        ] {
            let line = request.to_line(7);
            let parsed: Request = serde_json::from_str(&line).unwrap();
            assert_eq!(parsed.id, json!(7));
            assert_eq!(MinerRequest::from_request(&parsed), request, "{line}");
        }
    }

    #[test]
    fn subscribe_and_configure_results_read_back() {
        let subscription = Subscription {
            extranonce1: vec![0, 0, 0, 7],
            extranonce2_size: 4,
        };
        let result = subscription.to_result();
        assert_eq!(result[1], "00000007");
        assert_eq!(Subscription::from_result(&result), Some(subscription));
        assert_eq!(Subscription::from_result(&json!([[], 7, 4])), None);
        let configured = Configured {
            version_rolling: Some(0x1fff_e000),
            refused: vec!["minimum-difficulty".into()],
        };
        assert_eq!(Configured::from_result(&configured.to_result()), configured);
        assert_eq!(
            Configured::from_result(&json!({"version-rolling": false})).version_rolling,
            None
        );
    }
}
