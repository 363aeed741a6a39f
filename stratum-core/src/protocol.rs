//! Stratum v1 messages: JSON objects, one per line.

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
}
