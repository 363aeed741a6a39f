use std::collections::BTreeMap;

use hashing::BlockHash;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::amount::Amount;
use crate::error::DaemonError;
use crate::group::DaemonGroup;
use crate::template::BlockTemplate;

/// JSON-RPC "method not found": the daemon is of an older or newer kind.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// bitcoind's RPC_INVALID_ADDRESS_OR_KEY: also "block not found" and "no such transaction".
const NOT_FOUND: i64 = -5;
/// bitcoind's RPC_VERIFY_ERROR: the transaction failed checks (e.g. missing inputs).
const VERIFY_ERROR: i64 = -25;
/// bitcoind's RPC_VERIFY_REJECTED: the transaction was refused (policy or consensus).
const VERIFY_REJECTED: i64 = -26;
/// bitcoind's RPC_VERIFY_ALREADY_IN_CHAIN: the daemon already has the transaction.
const VERIFY_ALREADY_IN_CHAIN: i64 = -27;
/// bitcoind's RPC_DESERIALIZATION_ERROR: `submitblock` of bytes that are not a block.
const DESERIALIZATION_ERROR: i64 = -22;

/// What a daemon said to `submitblock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// The daemon returned null: it took the block.
    Accepted,
    /// The daemon returned a reason (`duplicate`, `inconclusive`, `bad-txnmrklroot`,
    /// `Block decode failed`, …).
    Rejected {
        /// The daemon's words.
        reason: String,
    },
}

/// The fields of `getblock <hash>` (verbose) that acceptance checks and payments use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockInfo {
    /// The block hash (display order hex).
    pub hash: String,
    /// Its height.
    pub height: u64,
    /// Confirmations; -1 when the block is not on the main chain.
    pub confirmations: i64,
    /// The txids of its transactions, coinbase first.
    #[serde(default)]
    pub tx: Vec<String>,
    /// Header time.
    pub time: u64,
    /// The parent block, absent for the genesis block.
    #[serde(rename = "previousblockhash", default)]
    pub previous_block_hash: Option<String>,
}

/// What one daemon of a group says about a block, as a block acceptance check reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockPresence {
    /// The daemon is synced and has the block on its main chain.
    MainChain,
    /// The daemon is synced and does not have the block on its main chain (unknown to it,
    /// or on a side branch).
    Absent,
    /// The daemon cannot tell now (unreachable, syncing, warming up): its answer does not
    /// count either way.
    Unknown(String),
}

/// A transaction output spent by a transaction (`{"txid", "vout"}` in RPC).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutPoint {
    /// The txid of the transaction holding the output (display hex).
    pub txid: String,
    /// The output's index.
    pub vout: u32,
}

/// A transaction built and signed by the wallet but not yet broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The whole signed transaction (hex), as `sendrawtransaction` takes it.
    pub hex: String,
    /// Its txid (display hex).
    pub txid: String,
    /// The outputs it spends: if another transaction spends one of them, this one can
    /// never confirm.
    pub inputs: Vec<OutPoint>,
    /// The fee the wallet chose.
    pub fee: Amount,
}

/// How a daemon answered `sendrawtransaction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BroadcastOutcome {
    /// The daemon took the transaction, now or before (it is in its mempool or chain).
    Accepted,
    /// The daemon refused it for good: it can never be accepted as it is (invalid, or an
    /// input is spent or unknown). Worth checking the inputs before concluding.
    Rejected {
        /// The daemon's words.
        reason: String,
    },
}

/// The fields of `getblockchaininfo` a pool uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockchainInfo {
    /// `main`, `test` or `regtest`.
    pub chain: String,
    /// Height of the best block.
    pub blocks: u64,
    /// Height of the best known header.
    pub headers: u64,
    /// The best block's hash.
    #[serde(rename = "bestblockhash")]
    pub best_block_hash: String,
    /// Network difficulty on the daemon's scale.
    pub difficulty: f64,
}

/// The fields of `getmininginfo` a pool uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MiningInfo {
    /// Height of the best block.
    pub blocks: u64,
    /// Network difficulty on the daemon's scale.
    pub difficulty: f64,
    /// The daemon's estimate of the network hashrate (H/s).
    #[serde(rename = "networkhashps", default)]
    pub network_hashps: f64,
}

/// Network facts from `getnetworkinfo`, or `getinfo` on daemons that predate it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NetworkInfo {
    /// The daemon's version number.
    pub version: u64,
    /// The P2P protocol version.
    #[serde(rename = "protocolversion")]
    pub protocol_version: u64,
    /// Peers connected.
    pub connections: u64,
}

/// The answer of `validateaddress` (or `getaddressinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AddressValidation {
    /// Whether the address is valid for this daemon's chain.
    #[serde(rename = "isvalid", default = "default_true")]
    pub is_valid: bool,
    /// The address, normalised by the daemon.
    #[serde(default)]
    pub address: Option<String>,
    /// The output script paying it (hex).
    #[serde(rename = "scriptPubKey", default)]
    pub script_pubkey: Option<String>,
    /// Whether the daemon's wallet owns it.
    #[serde(rename = "ismine", default)]
    pub is_mine: Option<bool>,
}

fn default_true() -> bool {
    true
}

/// A wallet transaction's category, as `gettransaction` and `listtransactions` give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxCategory {
    /// A mature coinbase: its reward can be paid out.
    Generate,
    /// A coinbase not yet mature.
    Immature,
    /// A coinbase whose block left the main chain.
    Orphan,
    /// An incoming payment.
    Receive,
    /// An outgoing payment.
    Send,
    /// Anything else, kept verbatim.
    Other(String),
}

impl<'de> Deserialize<'de> for TxCategory {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(match text.as_str() {
            "generate" => TxCategory::Generate,
            "immature" => TxCategory::Immature,
            "orphan" => TxCategory::Orphan,
            "receive" => TxCategory::Receive,
            "send" => TxCategory::Send,
            _ => TxCategory::Other(text),
        })
    }
}

/// One line of a wallet transaction's `details`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TxDetail {
    /// The address paid or paying, when known.
    #[serde(default)]
    pub address: Option<String>,
    /// The category.
    pub category: TxCategory,
    /// The amount (negative for sends).
    pub amount: Amount,
    /// The output index.
    #[serde(default)]
    pub vout: Option<u32>,
}

/// The answer of `gettransaction`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WalletTransaction {
    /// The txid.
    pub txid: String,
    /// Net amount for the wallet.
    pub amount: Amount,
    /// Confirmations (-1 or less when conflicted).
    pub confirmations: i64,
    /// The block holding it, once mined.
    #[serde(rename = "blockhash", default)]
    pub block_hash: Option<String>,
    /// The comment given when it was sent.
    #[serde(default)]
    pub comment: Option<String>,
    /// Per-output details.
    #[serde(default)]
    pub details: Vec<TxDetail>,
}

/// One entry of `listtransactions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedTransaction {
    /// The txid.
    pub txid: String,
    /// The category.
    pub category: TxCategory,
    /// The amount (negative for sends).
    pub amount: Amount,
    /// The address, when known.
    #[serde(default)]
    pub address: Option<String>,
    /// Confirmations.
    #[serde(default)]
    pub confirmations: i64,
    /// The comment given when it was sent.
    #[serde(default)]
    pub comment: Option<String>,
}

/// One entry of `listunspent`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Unspent {
    /// The txid of the output.
    pub txid: String,
    /// The output index.
    pub vout: u32,
    /// The address it pays.
    #[serde(default)]
    pub address: Option<String>,
    /// Its value.
    pub amount: Amount,
    /// Confirmations.
    pub confirmations: i64,
}

/// Typed calls. Reads go to the first healthy daemon; `submit_block` goes to all.
/// Wallet calls go to the first healthy daemon too, so a payment processor should use a
/// group holding just its wallet daemon (as NOMP's `paymentProcessing.daemon` is one).
impl DaemonGroup {
    /// `getblocktemplate` with NOMP's capabilities and the `segwit` rule.
    pub async fn get_block_template(&self) -> Result<BlockTemplate, DaemonError> {
        let request = json!({
            "capabilities": ["coinbasetxn", "workid", "coinbase/append"],
            "rules": ["segwit"],
        });
        self.call("getblocktemplate", &[request]).await
    }

    /// `submitblock` of a serialized block (hex) to every daemon at once; one outcome per
    /// daemon in configured order. A block the daemon cannot even decode is
    /// [`SubmitOutcome::Rejected`] with the daemon's message.
    pub async fn submit_block(&self, block_hex: &str) -> Vec<Result<SubmitOutcome, DaemonError>> {
        self.call_all::<Option<String>>("submitblock", &[block_hex])
            .await
            .into_iter()
            .map(|result| match result {
                Ok(None) => Ok(SubmitOutcome::Accepted),
                Ok(Some(reason)) => Ok(SubmitOutcome::Rejected { reason }),
                Err(DaemonError::Rpc {
                    code: DESERIALIZATION_ERROR,
                    message,
                    ..
                }) => Ok(SubmitOutcome::Rejected { reason: message }),
                Err(error) => Err(error),
            })
            .collect()
    }

    /// `getblock <hash>` (verbose).
    pub async fn get_block(&self, hash: &str) -> Result<BlockInfo, DaemonError> {
        self.call("getblock", &(hash, true)).await
    }

    /// Asks every daemon at once whether block `hash` (of `height`) is on its main chain,
    /// and whether that daemon's answer counts: only a daemon whose chain reaches the
    /// block's parent and that has no more headers than blocks (not syncing) says yes or
    /// no. One answer per daemon, in configured order.
    pub async fn find_block(&self, hash: &BlockHash, height: u64) -> Vec<BlockPresence> {
        let (blocks, chains) = futures_util::future::join(
            self.call_all::<BlockInfo>("getblock", &(hash.to_string(), true)),
            self.call_all::<Value>("getblockchaininfo", &NO_PARAMS),
        )
        .await;
        blocks
            .into_iter()
            .zip(chains)
            .map(|(block, chain)| {
                let synced = match &chain {
                    Ok(info) => {
                        let tip = info.get("blocks").and_then(Value::as_u64).unwrap_or(0);
                        let headers = info.get("headers").and_then(Value::as_u64).unwrap_or(tip);
                        if tip + 1 < height {
                            Err(format!("at height {tip}, behind the block's parent"))
                        } else if headers > tip + 1 {
                            Err(format!("syncing: {tip} blocks of {headers} headers"))
                        } else {
                            Ok(())
                        }
                    }
                    Err(error) => Err(error.to_string()),
                };
                match (block, synced) {
                    (_, Err(why)) => BlockPresence::Unknown(why),
                    (Ok(info), Ok(())) if info.confirmations >= 0 => BlockPresence::MainChain,
                    (Ok(_), Ok(())) => BlockPresence::Absent,
                    (Err(error), Ok(())) if error.rpc_code() == Some(NOT_FOUND) => {
                        BlockPresence::Absent
                    }
                    (Err(error), Ok(())) => BlockPresence::Unknown(error.to_string()),
                }
            })
            .collect()
    }

    /// `getblockhash <height>`.
    pub async fn get_block_hash(&self, height: u64) -> Result<String, DaemonError> {
        self.call("getblockhash", &[height]).await
    }

    /// `getbestblockhash`.
    pub async fn get_best_block_hash(&self) -> Result<String, DaemonError> {
        self.call("getbestblockhash", &NO_PARAMS).await
    }

    /// `getblockchaininfo`.
    pub async fn get_blockchain_info(&self) -> Result<BlockchainInfo, DaemonError> {
        self.call("getblockchaininfo", &NO_PARAMS).await
    }

    /// `getmininginfo`.
    pub async fn get_mining_info(&self) -> Result<MiningInfo, DaemonError> {
        self.call("getmininginfo", &NO_PARAMS).await
    }

    /// `getnetworkinfo`, or `getinfo` on daemons without it.
    pub async fn get_network_info(&self) -> Result<NetworkInfo, DaemonError> {
        match self.call("getnetworkinfo", &NO_PARAMS).await {
            Err(error) if error.rpc_code() == Some(METHOD_NOT_FOUND) => {
                self.call("getinfo", &NO_PARAMS).await
            }
            other => other,
        }
    }

    /// `getdifficulty`: network difficulty on the daemon's scale.
    pub async fn get_difficulty(&self) -> Result<f64, DaemonError> {
        let value: Value = self.call("getdifficulty", &NO_PARAMS).await?;
        // Proof-of-stake coins answer {"proof-of-work": …, "proof-of-stake": …}.
        value
            .as_f64()
            .or_else(|| value.get("proof-of-work").and_then(Value::as_f64))
            .ok_or_else(|| DaemonError::Decode {
                daemon: self.label(0).to_owned(),
                method: "getdifficulty".to_owned(),
                reason: format!("expected a number, got {value}"),
            })
    }

    /// `validateaddress`, or `getaddressinfo` on daemons that dropped it. An invalid
    /// address is `is_valid: false`, not an error.
    pub async fn validate_address(&self, address: &str) -> Result<AddressValidation, DaemonError> {
        match self.call("validateaddress", &[address]).await {
            Err(error) if error.rpc_code() == Some(METHOD_NOT_FOUND) => {
                match self.call("getaddressinfo", &[address]).await {
                    // getaddressinfo refuses invalid addresses with an error.
                    Err(DaemonError::Rpc { code: -5, .. }) => Ok(AddressValidation {
                        is_valid: false,
                        address: None,
                        script_pubkey: None,
                        is_mine: None,
                    }),
                    other => other,
                }
            }
            other => other,
        }
    }

    /// `gettransaction <txid>` from the wallet.
    pub async fn get_transaction(&self, txid: &str) -> Result<WalletTransaction, DaemonError> {
        self.call("gettransaction", &[txid]).await
    }

    /// `listtransactions "*" count skip`: the wallet's latest transactions.
    pub async fn list_transactions(
        &self,
        count: u32,
        skip: u32,
    ) -> Result<Vec<ListedTransaction>, DaemonError> {
        self.call("listtransactions", &json!(["*", count, skip]))
            .await
    }

    /// `getbalance`: the wallet's spendable balance.
    pub async fn get_balance(&self) -> Result<Amount, DaemonError> {
        self.call("getbalance", &NO_PARAMS).await
    }

    /// `listunspent`: the wallet's unspent outputs with at least one confirmation.
    pub async fn list_unspent(&self) -> Result<Vec<Unspent>, DaemonError> {
        self.call("listunspent", &NO_PARAMS).await
    }

    /// Builds and signs, without broadcasting, one transaction paying `amounts`:
    /// `createrawtransaction`, then `fundrawtransaction` (the wallet picks inputs, change
    /// and fee), then `signrawtransactionwithwallet`, or `signrawtransaction` on daemons
    /// that predate it (Bitcoin Core before 0.17, Bitcoin SV). The wallet records nothing:
    /// until [`DaemonGroup::broadcast`] the transaction exists only in the answer.
    pub async fn build_payment(
        &self,
        amounts: &BTreeMap<String, Amount>,
    ) -> Result<SignedTransaction, DaemonError> {
        #[derive(Deserialize)]
        struct Funded {
            hex: String,
            fee: Amount,
        }
        #[derive(Deserialize)]
        struct Signed {
            hex: String,
            complete: bool,
        }
        #[derive(Deserialize)]
        struct Decoded {
            txid: String,
            vin: Vec<OutPoint>,
        }
        let unfunded: String = self
            .call("createrawtransaction", &json!([[], amounts]))
            .await?;
        let funded: Funded = self.call("fundrawtransaction", &[&unfunded]).await?;
        let signed: Signed = match self
            .call("signrawtransactionwithwallet", &[&funded.hex])
            .await
        {
            Err(error) if error.rpc_code() == Some(METHOD_NOT_FOUND) => {
                self.call("signrawtransaction", &[&funded.hex]).await?
            }
            other => other?,
        };
        if !signed.complete {
            return Err(DaemonError::Rpc {
                daemon: self.label(0).to_owned(),
                method: "signrawtransaction".into(),
                code: 0,
                message: "the wallet could not sign every input (is it locked?)".into(),
            });
        }
        let decoded: Decoded = self.call("decoderawtransaction", &[&signed.hex]).await?;
        Ok(SignedTransaction {
            hex: signed.hex,
            txid: decoded.txid,
            inputs: decoded.vin,
            fee: funded.fee,
        })
    }

    /// Which of the calls [`DaemonGroup::build_payment`] needs the daemon lacks (empty when
    /// it has them all). Asks with arguments each call refuses, so nothing is changed.
    pub async fn missing_payment_calls(&self) -> Result<Vec<&'static str>, DaemonError> {
        let mut missing = Vec::new();
        for (method, params) in [
            ("createrawtransaction", json!(["x", {}])),
            ("fundrawtransaction", json!(["00"])),
            ("decoderawtransaction", json!(["00"])),
            ("sendrawtransaction", json!(["00"])),
            ("gettxout", json!(["00", 0])),
        ] {
            if self.lacks(method, &params).await? {
                missing.push(method);
            }
        }
        if self
            .lacks("signrawtransactionwithwallet", &json!(["00"]))
            .await?
            && self.lacks("signrawtransaction", &json!(["00"])).await?
        {
            missing.push("signrawtransactionwithwallet");
        }
        Ok(missing)
    }

    /// Whether the daemon answers `method` with "method not found".
    async fn lacks(&self, method: &str, params: &Value) -> Result<bool, DaemonError> {
        match self.call::<Value>(method, params).await {
            Err(error) if error.rpc_code() == Some(METHOD_NOT_FOUND) => Ok(true),
            Err(error) if error.is_daemon_failure() => Err(error),
            _ => Ok(false),
        }
    }

    /// `sendrawtransaction <hex>`. A transaction the daemon already has (in its mempool
    /// or chain) is [`BroadcastOutcome::Accepted`], so broadcasting the same transaction
    /// again after a lost answer is harmless.
    pub async fn broadcast(&self, hex: &str) -> Result<BroadcastOutcome, DaemonError> {
        let error = match self.call::<String>("sendrawtransaction", &[hex]).await {
            Ok(_) => return Ok(BroadcastOutcome::Accepted),
            Err(error) => error,
        };
        let DaemonError::Rpc { code, message, .. } = &error else {
            return Err(error);
        };
        let known = *code == VERIFY_ALREADY_IN_CHAIN
            || ((*code == VERIFY_REJECTED || *code == VERIFY_ERROR) && message.contains("already"));
        if known {
            Ok(BroadcastOutcome::Accepted)
        } else if *code == VERIFY_ERROR
            || (*code == VERIFY_REJECTED && !is_transient_rejection(message))
        {
            Ok(BroadcastOutcome::Rejected {
                reason: message.clone(),
            })
        } else {
            Err(error)
        }
    }

    /// Whether output `outpoint` is unspent, counting spends in the mempool (`gettxout`
    /// with mempool). False also for an output the daemon does not know at all.
    pub async fn is_unspent(&self, outpoint: &OutPoint) -> Result<bool, DaemonError> {
        let output: Value = self
            .call("gettxout", &json!([outpoint.txid, outpoint.vout, true]))
            .await?;
        Ok(!output.is_null())
    }

    /// `sendmany "" {address: amount, …} 1 "<comment>"`: pays every address in one
    /// transaction and returns its txid. The comment is stored in the wallet with the
    /// transaction (payment journals put their batch id there).
    pub async fn send_many(
        &self,
        amounts: &BTreeMap<String, Amount>,
        comment: &str,
    ) -> Result<String, DaemonError> {
        #[derive(Serialize)]
        struct SendMany<'a>(&'a str, &'a BTreeMap<String, Amount>, u32, &'a str);
        self.call("sendmany", &SendMany("", amounts, 1, comment))
            .await
    }
}

const NO_PARAMS: [(); 0] = [];

/// Refusals of `sendrawtransaction` that may pass later (a full mempool, fees below the
/// current minimum, an unconfirmed chain too long, a lock time not yet reached): the
/// transaction is still valid and must not be replaced while it could still confirm.
fn is_transient_rejection(message: &str) -> bool {
    [
        "mempool full",
        "min relay fee",
        "mempool min fee",
        "insufficient priority",
        "too-long-mempool-chain",
        "non-final",
        "non-BIP68-final",
    ]
    .iter()
    .any(|transient| message.contains(transient))
}
