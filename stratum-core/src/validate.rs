//! Share validation: a pure function of a job, a submission and the miner's state.

use hashing::{BlockHash, Difficulty, PowHash, PowHasher, Txid};
use pool_events::Reject;

use crate::extranonce::Extranonce;
use crate::job::{Job, JobId, ShareKey};

/// How far past the submit time a share's ntime may be (node-stratum-pool: 2 hours).
const MAX_NTIME_AHEAD: u32 = 7200;

/// The fields of `mining.submit`, as the miner sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submission<'a> {
    /// The job id (hex).
    pub job_id: &'a str,
    /// extranonce2 (hex, two characters per byte of the job's extranonce2 size).
    pub extranonce2: &'a str,
    /// ntime (8 hex characters, big-endian value).
    pub ntime: &'a str,
    /// nonce (8 hex characters, big-endian value).
    pub nonce: &'a str,
    /// Rolled version bits (BIP310), when the miner negotiated version rolling.
    pub version_bits: Option<&'a str>,
}

/// What the pool knows about the submitting connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinerState {
    /// The connection's extranonce1.
    pub extranonce1: Extranonce,
    /// The current difficulty.
    pub difficulty: Difficulty,
    /// The difficulty before the last retarget, with the first job sent after it: shares
    /// of earlier jobs may still meet only the previous difficulty.
    pub previous_difficulty: Option<(Difficulty, JobId)>,
    /// Version bits the miner may roll (0 without BIP310 version rolling).
    pub version_mask: u32,
    /// Unix time of the submission.
    pub now: u32,
}

/// A share that met the miner's difficulty.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidShare {
    /// The difficulty credited: the miner's, or the previous one for a late share.
    pub difficulty: Difficulty,
    /// The difficulty the hash actually reached.
    pub share_difficulty: Difficulty,
    /// Present when the hash also meets the network target.
    pub block: Option<BlockCandidate>,
    /// Upstream mode: the share also meets the upstream pool's difficulty (or is a block),
    /// so it goes on to the upstream. Always false for work from a daemon.
    pub forward: bool,
}

/// A share that is a block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockCandidate {
    /// The block id: the proof-of-work hash, or the header's sha256d for the scrypt family
    /// and blake2s.
    pub hash: BlockHash,
    /// The coinbase txid.
    pub coinbase_txid: Txid,
    /// The serialized block (hex) for `submitblock`; `None` for upstream work, whose block
    /// the upstream pool assembles from the forwarded share.
    pub block_hex: Option<String>,
    /// Its height.
    pub height: u64,
    /// The block it builds on: one block per parent is submitted at a time.
    pub previous_hash: BlockHash,
    /// The network difficulty it met, in share units (a PPLNS window may be a multiple).
    pub network_difficulty: Difficulty,
}

/// Checks a submission against its job in node-stratum-pool's order (job, extranonce2,
/// ntime, nonce, duplicates, then the hash). `job` is `None` when the id is unknown.
/// `first_seen` answers whether a share is new, and remembers it: the server passes the
/// job's own record ([`Job::record_share`]); the check itself keeps no state.
///
/// A hash meets a difficulty exactly when it is at or below that difficulty's target (no
/// 1 % tolerance as node-stratum-pool has: both sides compute the same integer target).
pub fn validate_share(
    job: Option<&Job>,
    submission: &Submission<'_>,
    miner: &MinerState,
    hasher: &PowHasher,
    first_seen: impl FnOnce(ShareKey) -> bool,
) -> Result<ValidShare, Reject> {
    let job = job.ok_or(Reject::JobNotFound)?;
    let prepared = prepare_share(job, submission, miner, hasher, first_seen)?;
    let hash = hasher.hash(&prepared.header).expect("headers are 80 bytes");
    finish_share(job, miner, hasher, &prepared, &hash)
}

/// A share checked up to its hash: the header to hash, and what [`finish_share`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedShare {
    /// The block header the share's proof of work is the hash of.
    pub header: [u8; 80],
    coinbase: Vec<u8>,
}

/// The checks of [`validate_share`] before the hash, and the share's header: so a pool can
/// hash the headers of several shares together ([`PowHasher::hash_many`]) and finish each
/// with [`finish_share`]. The same verdicts as [`validate_share`], in the same order.
pub fn prepare_share(
    job: &Job,
    submission: &Submission<'_>,
    miner: &MinerState,
    hasher: &PowHasher,
    first_seen: impl FnOnce(ShareKey) -> bool,
) -> Result<PreparedShare, Reject> {
    let extranonce2 = Extranonce::from_hex(submission.extranonce2, job.extranonce2_size)
        .ok_or(Reject::Extranonce2Size)?;
    let ntime = parse_u32(submission.ntime).ok_or(Reject::NtimeSize)?;
    if ntime < job.min_ntime || ntime > miner.now.saturating_add(MAX_NTIME_AHEAD) {
        return Err(Reject::NtimeOutOfRange);
    }
    let nonce = parse_u32(submission.nonce).ok_or(Reject::NonceSize)?;
    let version = match submission.version_bits {
        None => job.version,
        Some(bits) => {
            let bits = parse_u32(bits).ok_or(Reject::VersionBits)?;
            // Upstream work: only the bits the upstream granted, or it would refuse the share.
            let allowed =
                miner.version_mask & job.upstream.as_ref().map_or(u32::MAX, |u| u.version_mask);
            if bits & !allowed != 0 {
                return Err(Reject::VersionBits);
            }
            (job.version & !miner.version_mask) | bits
        }
    };
    let key = ShareKey {
        extranonce1: miner.extranonce1,
        extranonce2,
        ntime,
        nonce,
        version,
    };
    if !first_seen(key) {
        return Err(Reject::Duplicate);
    }
    let coinbase = job.coinbase(miner.extranonce1.as_bytes(), extranonce2.as_bytes());
    let header = job.header(hasher, &coinbase, ntime, nonce, version);
    Ok(PreparedShare { header, coinbase })
}

/// The checks of [`validate_share`] after the hash: `hash` is `hasher`'s hash of the
/// prepared share's header, checked against the miner's difficulty and the network's.
pub fn finish_share(
    job: &Job,
    miner: &MinerState,
    hasher: &PowHasher,
    prepared: &PreparedShare,
    hash: &PowHash,
) -> Result<ValidShare, Reject> {
    let PreparedShare { header, coinbase } = prepared;
    let algorithm = hasher.algorithm();
    let share_difficulty = Difficulty::of_hash(hash, algorithm);

    let block = job.network_target.is_met_by(hash).then(|| BlockCandidate {
        hash: BlockHash::from_internal(*hasher.block_id(header, hash).as_internal()),
        coinbase_txid: Txid::from_internal(hasher.coinbase_hash(coinbase)),
        block_hex: job.block(header, coinbase).map(hex::encode),
        height: job.height(),
        previous_hash: job.previous_hash,
        network_difficulty: job.network_target.difficulty(algorithm),
    });
    let difficulty = if block.is_some() || miner.difficulty.target(algorithm).is_met_by(hash) {
        miner.difficulty
    } else {
        match miner.previous_difficulty {
            Some((previous, first_new_job))
                if job.id < first_new_job && previous.target(algorithm).is_met_by(hash) =>
            {
                previous
            }
            _ => {
                return Err(Reject::LowDifficulty {
                    share_difficulty: share_difficulty.get(),
                });
            }
        }
    };
    let forward = job.upstream.as_ref().is_some_and(|upstream| {
        block.is_some() || upstream.difficulty.target(algorithm).is_met_by(hash)
    });
    Ok(ValidShare {
        difficulty,
        share_difficulty,
        block,
        forward,
    })
}

/// An 8-hex-character big-endian u32.
fn parse_u32(text: &str) -> Option<u32> {
    (text.len() == 8 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(text, 16).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntime_and_nonce_must_be_eight_hex_digits() {
        assert_eq!(parse_u32("0000000a"), Some(10));
        assert_eq!(parse_u32("a"), None);
        assert_eq!(parse_u32("+000000a"), None);
    }
}
