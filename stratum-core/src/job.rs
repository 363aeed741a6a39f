//! Jobs: a block template turned into the work miners receive.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use coin_daemon::BlockTemplate;
use hashing::Target;
use serde_json::{Value, json};

use crate::coinbase::{CoinbaseOptions, CoinbaseParts, EXTRANONCE2_SIZE, build_coinbase};
use crate::error::StratumError;
use crate::merkle::{merkle_branch, merkle_root};
use crate::serialize::{hash_from_display, sha256d, write_varint};

/// A job's id: a per-pool counter, sent to miners as lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

impl JobId {
    /// Parses the hex id a miner sends back.
    pub fn parse(text: &str) -> Option<JobId> {
        (!text.is_empty() && text.len() <= 16)
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
            .map(JobId)
    }
}

/// What makes two submissions the same share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ShareKey {
    pub(crate) extranonce1: [u8; 4],
    pub(crate) extranonce2: [u8; EXTRANONCE2_SIZE],
    pub(crate) ntime: u32,
    pub(crate) nonce: u32,
    pub(crate) version: u32,
}

/// Work for miners, built from one block template.
#[derive(Debug)]
pub struct Job {
    /// The id miners submit against.
    pub id: JobId,
    /// The template it was built from.
    pub template: Arc<BlockTemplate>,
    /// Whether miners must drop earlier jobs (a new block).
    pub clean: bool,
    /// The network target from the template's bits.
    pub network_target: Target,
    /// Header version.
    pub version: u32,
    /// Header bits.
    pub bits: u32,
    /// Previous block hash, internal byte order.
    pub previous_hash: [u8; 32],
    coinbase: CoinbaseParts,
    branch: Vec<[u8; 32]>,
    transactions: Vec<Vec<u8>>,
    notify: Value,
    submitted: Mutex<HashSet<ShareKey>>,
}

impl Job {
    /// Builds job `id` from `template`; `now` is the unix time written into the coinbase.
    pub fn new(
        id: JobId,
        template: Arc<BlockTemplate>,
        options: &CoinbaseOptions,
        clean: bool,
        now: u32,
    ) -> Result<Job, StratumError> {
        let invalid = |field: &str, reason: String| StratumError::InvalidTemplate {
            field: field.into(),
            reason,
        };
        let bits =
            u32::from_str_radix(&template.bits, 16).map_err(|e| invalid("bits", e.to_string()))?;
        let network_target =
            Target::from_compact(bits).map_err(|e| invalid("bits", e.to_string()))?;
        let previous_hash = hash_from_display(&template.previous_block_hash)
            .ok_or_else(|| invalid("previousblockhash", "not 64 hex characters".into()))?;
        let mut tx_hashes = Vec::with_capacity(template.transactions.len());
        let mut transactions = Vec::with_capacity(template.transactions.len());
        for (i, tx) in template.transactions.iter().enumerate() {
            let data = hex::decode(&tx.data)
                .map_err(|e| invalid(&format!("transactions[{i}].data"), e.to_string()))?;
            // Merkle leaves are txids (no witness). Older daemons only send `hash`.
            let txid = match tx.txid.as_deref().or(tx.hash.as_deref()) {
                Some(text) => hash_from_display(text).ok_or_else(|| {
                    invalid(
                        &format!("transactions[{i}].txid"),
                        "not 64 hex characters".into(),
                    )
                })?,
                None => sha256d(&data),
            };
            tx_hashes.push(txid);
            transactions.push(data);
        }
        let coinbase = build_coinbase(&template, options, now)?;
        let branch = merkle_branch(&tx_hashes);
        let notify = json!([
            id.to_string(),
            hex::encode(notify_prevhash(&previous_hash)),
            hex::encode(&coinbase.coinb1),
            hex::encode(&coinbase.coinb2),
            branch.iter().map(hex::encode).collect::<Vec<_>>(),
            format!("{:08x}", template.version),
            template.bits,
            format!("{:08x}", template.cur_time),
            clean,
        ]);
        Ok(Job {
            id,
            version: template.version,
            bits,
            previous_hash,
            network_target,
            template,
            clean,
            coinbase,
            branch,
            transactions,
            notify,
            submitted: Mutex::new(HashSet::new()),
        })
    }

    /// The params of `mining.notify` for this job.
    pub fn notify_params(&self) -> &Value {
        &self.notify
    }

    /// The block height.
    pub fn height(&self) -> u64 {
        self.template.height
    }

    /// The coinbase outputs: (satoshis, script).
    pub fn coinbase_outputs(&self) -> &[(u64, Vec<u8>)] {
        &self.coinbase.outputs
    }

    /// The coinbase transaction for the given extranonces.
    pub fn coinbase(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Vec<u8> {
        [
            &self.coinbase.coinb1[..],
            extranonce1,
            extranonce2,
            &self.coinbase.coinb2[..],
        ]
        .concat()
    }

    /// The 80-byte header for a coinbase and the miner's ntime, nonce and version.
    pub fn header(&self, coinbase: &[u8], ntime: u32, nonce: u32, version: u32) -> [u8; 80] {
        let root = merkle_root(&sha256d(coinbase), &self.branch);
        header_bytes(version, &self.previous_hash, &root, ntime, self.bits, nonce)
    }

    /// The serialized block for `submitblock`.
    pub fn block(&self, header: &[u8; 80], coinbase: &[u8]) -> Vec<u8> {
        let coinbase = if self.template.default_witness_commitment.is_some() {
            with_witness_reserved_value(coinbase)
        } else {
            coinbase.to_vec()
        };
        serialize_block(header, &coinbase, &self.transactions)
    }

    /// Records a share; false if the same share was already submitted for this job.
    pub(crate) fn record(&self, key: ShareKey) -> bool {
        self.submitted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key)
    }
}

/// The block header: version ‖ previous hash ‖ merkle root ‖ time ‖ bits ‖ nonce, integers
/// little-endian and hashes in internal order.
pub fn header_bytes(
    version: u32,
    previous_hash: &[u8; 32],
    merkle_root: &[u8; 32],
    ntime: u32,
    bits: u32,
    nonce: u32,
) -> [u8; 80] {
    let mut header = [0u8; 80];
    header[..4].copy_from_slice(&version.to_le_bytes());
    header[4..36].copy_from_slice(previous_hash);
    header[36..68].copy_from_slice(merkle_root);
    header[68..72].copy_from_slice(&ntime.to_le_bytes());
    header[72..76].copy_from_slice(&bits.to_le_bytes());
    header[76..80].copy_from_slice(&nonce.to_le_bytes());
    header
}

/// A block: header ‖ transaction count ‖ coinbase ‖ the other transactions.
pub fn serialize_block(header: &[u8; 80], coinbase: &[u8], transactions: &[Vec<u8>]) -> Vec<u8> {
    let size = 80 + 9 + coinbase.len() + transactions.iter().map(Vec::len).sum::<usize>();
    let mut block = Vec::with_capacity(size);
    block.extend_from_slice(header);
    write_varint(&mut block, 1 + transactions.len() as u64);
    block.extend_from_slice(coinbase);
    for tx in transactions {
        block.extend_from_slice(tx);
    }
    block
}

/// Stratum's prevhash: the internal-order hash with the bytes of each 4-byte word swapped,
/// which reads as the display-order hash with its word order reversed (so a mainnet hash
/// ends in zeros). Miners swap each word back to get the header's bytes; the swap is its
/// own inverse, so the client decodes with the same function.
pub(crate) fn notify_prevhash(hash: &[u8; 32]) -> [u8; 32] {
    let mut out = *hash;
    for word in out.chunks_mut(4) {
        word.reverse();
    }
    out
}

/// BIP141: a coinbase in a block with a witness commitment carries one witness item, the
/// 32-byte reserved value (zeros). The txid, and so the merkle root, stay without it.
fn with_witness_reserved_value(coinbase: &[u8]) -> Vec<u8> {
    let (version, rest) = coinbase.split_at(4);
    let (body, lock_time) = rest.split_at(rest.len() - 4);
    let mut out = Vec::with_capacity(coinbase.len() + 36);
    out.extend_from_slice(version);
    out.extend_from_slice(&[0x00, 0x01]);
    out.extend_from_slice(body);
    out.extend_from_slice(&[0x01, 0x20]);
    out.extend_from_slice(&[0u8; 32]);
    out.extend_from_slice(lock_time);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_prevhash_reverses_the_word_order_of_the_display_hash() {
        // What cgminer-family miners expect: swapping each word's bytes back gives the
        // header's internal-order bytes, and the display hash's leading zeros come last.
        let display = "000000000002d01c1fccc21636b607dfd930d31d01c3a62104612a1719011250";
        let internal = hash_from_display(display).unwrap();
        let notify = notify_prevhash(&internal);
        assert_eq!(
            hex::encode(notify),
            "1901125004612a1701c3a621d930d31d36b607df1fccc2160002d01c00000000"
        );
        assert_eq!(notify_prevhash(&notify), internal);
    }

    #[test]
    fn job_ids_are_hex_and_parse_back() {
        assert_eq!(JobId(255).to_string(), "ff");
        assert_eq!(JobId::parse("ff"), Some(JobId(255)));
        assert_eq!(JobId::parse(""), None);
        assert_eq!(JobId::parse("zz"), None);
        assert_eq!(JobId::parse("11111111111111111"), None);
    }
}
