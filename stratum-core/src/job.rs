//! Jobs: a block template turned into the work miners receive.

use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

use coin_daemon::BlockTemplate;
use hashing::{BlockHash, CompactTarget, Difficulty, PowHasher, Target};

use crate::coinbase::{CoinbaseOptions, CoinbaseParts, EXTRANONCE2_SIZE, build_coinbase};
use crate::error::StratumError;
use crate::extranonce::Extranonce;
use crate::header::{header_bytes, serialize_block};
use crate::merkle::{merkle_branch, merkle_root};
use crate::protocol::{MiningJob, ServerMessage};
use crate::seen::SeenShares;
use crate::serialize::{hash_from_display, sha256d};

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

/// What makes two submissions the same share: extranonces, time, nonce and version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShareKey {
    pub(crate) extranonce1: Extranonce,
    pub(crate) extranonce2: Extranonce,
    pub(crate) ntime: u32,
    pub(crate) nonce: u32,
    pub(crate) version: u32,
}

/// Work for miners, built from one block template or (upstream mode) from an upstream
/// pool's job.
#[derive(Debug)]
pub struct Job {
    /// The id miners submit against.
    pub id: JobId,
    /// Whether miners must drop earlier jobs (a new block).
    pub clean: bool,
    /// The network target from the template's bits.
    pub network_target: Target,
    /// Header version.
    pub version: u32,
    /// Header bits.
    pub bits: CompactTarget,
    /// Previous block hash, internal byte order.
    pub previous_hash: BlockHash,
    height: u64,
    /// The earliest ntime a share may have: the template's (or upstream job's) time.
    pub(crate) min_ntime: u32,
    /// Bytes of extranonce2 miners fill in.
    pub(crate) extranonce2_size: usize,
    coinbase: CoinbaseParts,
    branch: Vec<[u8; 32]>,
    /// What a block of this job needs besides header and coinbase; `None` for upstream work,
    /// whose blocks the upstream pool assembles.
    body: Option<BlockBody>,
    /// Where shares of upstream work go on to.
    pub(crate) upstream: Option<UpstreamWork>,
    /// The `mining.notify` line, serialised once for every miner.
    notify_line: String,
    /// The shares submitted for it, to refuse repeats.
    submitted: Mutex<SeenShares>,
    /// A clean job: when the pool set out to fetch it after learning of the new block, the
    /// start of the new-block → notify fan-out.
    block_seen_at: Option<Instant>,
}

impl Job {
    /// Builds job `id` from `template`; `now` is the unix time written into the coinbase.
    pub fn new(
        id: JobId,
        template: &BlockTemplate,
        options: &CoinbaseOptions,
        clean: bool,
        now: u32,
    ) -> Result<Job, StratumError> {
        let invalid = |field: &str, reason: String| StratumError::InvalidTemplate {
            field: field.into(),
            reason,
        };
        let bits = template.bits;
        let network_target = bits.target().map_err(|e| invalid("bits", e.to_string()))?;
        let previous_hash = template.previous_block_hash;
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
        let coinbase = build_coinbase(template, options, now)?;
        let branch = merkle_branch(&tx_hashes);
        Ok(Job {
            id,
            version: template.version,
            bits,
            previous_hash,
            network_target,
            height: template.height,
            min_ntime: template.cur_time,
            extranonce2_size: EXTRANONCE2_SIZE,
            clean,
            coinbase,
            branch,
            body: Some(BlockBody {
                transactions,
                witness: template.default_witness_commitment.is_some(),
            }),
            upstream: None,
            notify_line: String::new(),
            submitted: Mutex::default(),
            block_seen_at: None,
        }
        .with_notify_line())
    }

    /// Job `id` from an upstream pool's `work` (upstream mode). Miners get a coinbase whose
    /// first part ends with the upstream's extranonce1 and `upstream.padding` zero bytes, so
    /// that their extranonce1 ‖ extranonce2 (`extranonce2_size` bytes) fills the rest of
    /// the upstream's extranonce2. The height is read from the coinbase (BIP34), 0 if absent.
    pub(crate) fn from_upstream(
        id: JobId,
        work: &MiningJob,
        upstream: UpstreamWork,
        extranonce2_size: usize,
        clean: bool,
    ) -> Result<Job, StratumError> {
        let network_target = work
            .bits
            .target()
            .map_err(|e| StratumError::InvalidTemplate {
                field: "upstream mining.notify bits".into(),
                reason: e.to_string(),
            })?;
        let coinb1 = [
            &work.coinb1[..],
            &upstream.extranonce1,
            &vec![0u8; upstream.padding],
        ]
        .concat();
        Ok(Job {
            id,
            clean,
            network_target,
            version: work.version,
            bits: work.bits,
            previous_hash: work.previous_hash,
            height: coinbase_height(&work.coinb1).unwrap_or(0),
            min_ntime: work.ntime,
            extranonce2_size,
            coinbase: CoinbaseParts {
                coinb1,
                coinb2: work.coinb2.clone(),
                outputs: Vec::new(),
            },
            branch: work.branch.clone(),
            body: None,
            upstream: Some(upstream),
            notify_line: String::new(),
            submitted: Mutex::default(),
            // The upstream's notify is how the pool learns of the block.
            block_seen_at: clean.then(Instant::now),
        }
        .with_notify_line())
    }

    /// The job as `mining.notify` announces it.
    pub fn notify(&self) -> MiningJob {
        MiningJob {
            job_id: self.id.to_string(),
            previous_hash: self.previous_hash,
            coinb1: self.coinbase.coinb1.clone(),
            coinb2: self.coinbase.coinb2.clone(),
            branch: self.branch.clone(),
            version: self.version,
            bits: self.bits,
            ntime: self.min_ntime,
            clean: self.clean,
        }
    }

    /// Marks a clean job with when the pool learned of its block (see
    /// [`Job::block_seen_at`]).
    pub fn seen_at(mut self, at: Instant) -> Job {
        if self.clean {
            self.block_seen_at = Some(at);
        }
        self
    }

    /// For a clean job marked with [`Job::seen_at`]: when the pool learned of its block.
    pub fn block_seen_at(&self) -> Option<Instant> {
        self.block_seen_at
    }

    /// The `mining.notify` line of this job (without its newline).
    pub fn notify_line(&self) -> &str {
        &self.notify_line
    }

    fn with_notify_line(mut self) -> Job {
        self.notify_line = ServerMessage::Notify(self.notify()).to_line();
        self
    }

    /// The block height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Whether the job came from an upstream pool (upstream mode).
    pub fn is_upstream(&self) -> bool {
        self.upstream.is_some()
    }

    /// The coinbase outputs: (satoshis, script); empty for upstream work.
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

    /// The 80-byte header for a coinbase and the miner's ntime, nonce and version, the
    /// coinbase hashed into the merkle root as `hasher`'s coin does.
    pub fn header(
        &self,
        hasher: &PowHasher,
        coinbase: &[u8],
        ntime: u32,
        nonce: u32,
        version: u32,
    ) -> [u8; 80] {
        let root = merkle_root(&hasher.coinbase_hash(coinbase), &self.branch);
        header_bytes(
            version,
            self.previous_hash.as_internal(),
            &root,
            ntime,
            self.bits.bits(),
            nonce,
        )
    }

    /// The serialized block for `submitblock`; `None` for upstream work.
    pub fn block(&self, header: &[u8; 80], coinbase: &[u8]) -> Option<Vec<u8>> {
        let body = self.body.as_ref()?;
        let coinbase = if body.witness {
            with_witness_reserved_value(coinbase)
        } else {
            coinbase.to_vec()
        };
        Some(serialize_block(header, &coinbase, &body.transactions))
    }

    /// Records a share; false if the same share was already submitted for this job. A
    /// recorded share costs at most 15 bytes (a keyed 63-bit fingerprint; two shares of one
    /// job collide with probability about n / 2⁶³ after n shares).
    pub fn record_share(&self, key: ShareKey) -> bool {
        let mut seen = self.submitted.lock().unwrap_or_else(|p| p.into_inner());
        let fingerprint = seen.fingerprint(&key);
        seen.insert(fingerprint)
    }

    /// Shares recorded for this job, and the bytes that takes.
    pub fn recorded_shares(&self) -> (usize, usize) {
        let seen = self.submitted.lock().unwrap_or_else(|p| p.into_inner());
        (seen.len(), seen.bytes())
    }
}

/// A block's transactions after the coinbase, and whether its coinbase carries BIP141's
/// witness reserved value.
#[derive(Debug)]
struct BlockBody {
    transactions: Vec<Vec<u8>>,
    witness: bool,
}

/// The height a coinbase's script starts with (BIP34), read from the part of the
/// transaction before the extranonce: version, input count 1, the null outpoint, the
/// script length, then the height push. Proof-of-stake coinbases carry a 4-byte time after
/// the version; both layouts are tried.
fn coinbase_height(coinb1: &[u8]) -> Option<u64> {
    [4usize, 8].into_iter().find_map(|start| {
        let input = coinb1.get(start..)?;
        if input.first() != Some(&1) || input.get(1..33)? != [0u8; 32] {
            return None;
        }
        // 1 (count) + 36 (outpoint) + 1 (script length; a coinbase script is < 0xfd).
        let script = input.get(38..)?;
        match *script.first()? {
            0x00 => Some(0),
            op @ 0x51..=0x60 => Some(u64::from(op - 0x50)),
            len @ 1..=8 => {
                let bytes = script.get(1..=usize::from(len))?;
                Some(
                    bytes
                        .iter()
                        .rev()
                        .fold(0, |acc, b| acc << 8 | u64::from(*b)),
                )
            }
            _ => None,
        }
    })
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

/// What a local job keeps of the upstream job it came from.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamWork {
    /// The upstream's job id.
    pub(crate) job_id: String,
    /// The connection it came on.
    pub(crate) session: u64,
    /// The upstream's extranonce1 for that connection.
    pub(crate) extranonce1: Vec<u8>,
    /// Zero bytes between it and the local extranonces.
    pub(crate) padding: usize,
    /// The upstream's difficulty for this job's shares.
    pub(crate) difficulty: Difficulty,
    /// The version bits the upstream lets this connection roll.
    pub(crate) version_mask: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_height_is_read_back_from_the_coinbase_start() {
        for height in [0, 1, 16, 17, 127, 128, 255, 256, 227_836, 8_388_608] {
            let mut script = Vec::new();
            crate::serialize::write_script_number(&mut script, height);
            script.extend_from_slice(b"flags");
            for pos_time in [None, Some(1_700_000_000u32)] {
                let mut coinb1 = 1u32.to_le_bytes().to_vec();
                if let Some(time) = pos_time {
                    coinb1.extend_from_slice(&time.to_le_bytes());
                }
                coinb1.push(1);
                coinb1.extend_from_slice(&[0u8; 32]);
                coinb1.extend_from_slice(&u32::MAX.to_le_bytes());
                coinb1.push((script.len() + 8) as u8);
                coinb1.extend_from_slice(&script);
                assert_eq!(coinbase_height(&coinb1), Some(height), "{pos_time:?}");
            }
        }
        assert_eq!(coinbase_height(&[1, 0, 0, 0, 2]), None);
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
