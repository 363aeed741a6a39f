use hashing::{BlockHash, CompactTarget};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A `getblocktemplate` result with every field a job needs (BIP22/BIP23, plus the payee
/// fields of masternode and superblock coins). The parent and the bits are typed, read
/// from the hex the daemon sends; other hashes stay hex in display order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockTemplate {
    /// Block version, to go into the header as is.
    pub version: u32,
    /// The block to build on.
    #[serde(rename = "previousblockhash", with = "as_text")]
    pub previous_block_hash: BlockHash,
    /// Transactions to include after the coinbase, in order.
    #[serde(default)]
    pub transactions: Vec<TemplateTransaction>,
    /// The total the coinbase may pay: subsidy plus fees, in satoshis.
    #[serde(rename = "coinbasevalue")]
    pub coinbase_value: u64,
    /// Compact target for the header.
    #[serde(with = "as_text")]
    pub bits: CompactTarget,
    /// The network target (64 hex characters).
    pub target: String,
    /// The height of the block being built.
    pub height: u64,
    /// The time to put in the header (unix seconds).
    #[serde(rename = "curtime")]
    pub cur_time: u32,
    /// The earliest valid header time.
    #[serde(rename = "mintime", default)]
    pub min_time: Option<u32>,
    /// Data the coinbase script must carry.
    #[serde(rename = "coinbaseaux", default)]
    pub coinbase_aux: CoinbaseAux,
    /// The segwit commitment output script (hex), when the block has witness data.
    #[serde(default)]
    pub default_witness_commitment: Option<String>,
    /// Rules the daemon applied (`segwit`, `csv`, …).
    #[serde(default)]
    pub rules: Vec<String>,
    /// Long-poll id, when the daemon supports long polling.
    #[serde(rename = "longpollid", default)]
    pub long_poll_id: Option<String>,
    /// Masternode payments the coinbase must make (Dash-style; an object or a list).
    #[serde(default, deserialize_with = "payees")]
    pub masternode: Vec<Payee>,
    /// Whether masternode payments are active.
    #[serde(default)]
    pub masternode_payments_started: bool,
    /// Whether masternode payments are enforced.
    #[serde(default)]
    pub masternode_payments_enforced: bool,
    /// Superblock (governance) payments the coinbase must make.
    #[serde(default, deserialize_with = "payees")]
    pub superblock: Vec<Payee>,
    /// Single-payee coins: the address to pay.
    #[serde(default)]
    pub payee: Option<String>,
    /// Single-payee coins: the amount to pay, in satoshis.
    #[serde(default)]
    pub payee_amount: Option<u64>,
}

/// One template transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateTransaction {
    /// The serialized transaction (hex), as it goes into the block.
    pub data: String,
    /// Its txid (display order hex); absent from some older daemons.
    #[serde(default)]
    pub txid: Option<String>,
    /// Its witness hash (display order hex); equals the txid without witness data.
    #[serde(default)]
    pub hash: Option<String>,
    /// The fee it pays, in satoshis.
    #[serde(default)]
    pub fee: Option<i64>,
}

/// The template's `coinbaseaux` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinbaseAux {
    /// Hex bytes to put in the coinbase script after the height.
    #[serde(default)]
    pub flags: String,
}

/// A payment the coinbase must make (masternode, superblock or treasury).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payee {
    /// The address to pay, when the daemon gives one.
    #[serde(default)]
    pub payee: Option<String>,
    /// The output script (hex), when the daemon gives one.
    #[serde(default)]
    pub script: Option<String>,
    /// The amount in satoshis.
    pub amount: u64,
}

/// Reads a payee field that daemons send as one object, a list of objects, or nothing.
/// Values written and read as their display text (`"207fffff"`, a hash's hex).
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(super) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn payees<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Payee>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(Value::Object(map)) if map.is_empty() => return Ok(Vec::new()),
        Some(object @ Value::Object(_)) => vec![object],
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected payee object or list, got {other}"
            )));
        }
    };
    items
        .into_iter()
        .map(|item| serde_json::from_value(item).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regtest_template_decodes() {
        // As the Bitcoin SV regtest node returns it.
        let json = r#"{"capabilities":["proposal"],"version":536870912,
            "previousblockhash":"55590bb01db7615daec987aab745ca1468f375e6844cc451b2563902850c2368",
            "transactions":[],"coinbaseaux":{"flags":""},"coinbasevalue":5000000000,
            "longpollid":"55590bb01db7615daec987aab745ca1468f375e6844cc451b2563902850c2368105",
            "target":"7fffff0000000000000000000000000000000000000000000000000000000000",
            "mintime":1795569538,"mutable":["time","transactions","prevblock"],
            "noncerange":"00000000ffffffff","sizelimit":128000000,"curtime":1795569538,
            "bits":"207fffff","height":102}"#;
        let template: BlockTemplate = serde_json::from_str(json).unwrap();
        assert_eq!(template.height, 102);
        assert_eq!(template.coinbase_value, 5_000_000_000);
        assert_eq!(template.bits, CompactTarget::new(0x207f_ffff));
        assert_eq!(
            template.previous_block_hash.to_string(),
            "55590bb01db7615daec987aab745ca1468f375e6844cc451b2563902850c2368"
        );
        assert!(template.masternode.is_empty() && template.payee.is_none());
        let bad = json.replace("\"207fffff\"", "\"207fff\"");
        let error = serde_json::from_str::<BlockTemplate>(&bad).unwrap_err();
        assert!(error.to_string().contains("compact bits"), "{error}");
    }

    #[test]
    fn masternode_payee_object_and_list_both_decode() {
        let one = r#"{"version":1,"previousblockhash":"000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f","coinbasevalue":10,"bits":"1d00ffff",
            "target":"00","height":1,"curtime":1,
            "masternode":{"payee":"XyZ","script":"76a914","amount":5},
            "superblock":[{"payee":"Ab","script":"a914","amount":1},{"payee":"Cd","script":"a915","amount":2}]}"#;
        let template: BlockTemplate = serde_json::from_str(one).unwrap();
        assert_eq!(template.masternode.len(), 1);
        assert_eq!(template.masternode[0].amount, 5);
        assert_eq!(template.superblock.iter().map(|p| p.amount).sum::<u64>(), 3);
    }
}
