use blake2::Blake2s256;
use groestl::Groestl512;
use sha2::{Digest, Sha256};
use sha3::Keccak256;
use skein::Skein512_512;

use crate::algorithm::Algorithm;
use crate::chain;
use crate::error::HashingError;
use crate::ids::PowHash;
use crate::scrypt_n::NFactorTable;
use crate::{neoscrypt, romix, scrypt_jane, sha1coin, stages};

/// Byte offset of nTime in a block header (after version, prevhash and merkle root).
const NTIME_OFFSET: usize = 68;
/// The shortest block header any supported coin has.
const MIN_HEADER_LEN: usize = 80;

/// Coin-specific hashing parameters, as NOMP reads them from a coin file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashOptions {
    /// Scrypt N (`nValue`); 1024 when absent.
    pub scrypt_n: Option<u64>,
    /// Scrypt r (`rValue`); 1 when absent. Used by `scrypt` and `scrypt-n`.
    pub scrypt_r: Option<u32>,
    /// The `scrypt-n` schedule (`timeTable`); NOMP's default when absent.
    pub time_table: Option<NFactorTable>,
    /// NOMP's `normalHashing`: keccak, fugue and groestl coins then hash their coinbase
    /// with sha256d like everyone else (instead of one SHA-256), and keccak hashes the
    /// header twice with its time appended.
    pub normal_hashing: bool,
    /// A proof-of-stake coin (`reward: "POS"`): its scrypt blocks are named by their
    /// proof-of-work hash rather than the header's sha256d.
    pub proof_of_stake: bool,
    /// scrypt-jane's chain start (`chainStartTime`, unix seconds);
    /// [`HashOptions::DEFAULT_CHAIN_START`] when absent.
    pub chain_start_time: Option<i64>,
    /// scrypt-jane's smallest N factor (`nMin`); [`HashOptions::DEFAULT_N_MIN`] when absent.
    pub n_min: Option<u8>,
    /// scrypt-jane's largest N factor (`nMax`); [`HashOptions::DEFAULT_N_MAX`] when absent.
    pub n_max: Option<u8>,
}

impl HashOptions {
    /// scrypt-jane's chain start when a coin gives none (YACoin's, as NOMP defaults it).
    pub const DEFAULT_CHAIN_START: i64 = 1_367_991_200;
    /// scrypt-jane's smallest N factor when a coin gives none (YACoin's).
    pub const DEFAULT_N_MIN: u8 = 4;
    /// scrypt-jane's largest N factor when a coin gives none (YACoin's).
    pub const DEFAULT_N_MAX: u8 = 30;
    /// The largest scrypt-jane N factor accepted: N = 2^31, 256 GiB per hash.
    pub const MAX_N_FACTOR: u8 = 30;
}

/// Hashes block headers with one coin's proof-of-work function.
///
/// Built once per coin; [`PowHasher::hash`] is then cheap to call from many threads.
#[derive(Debug, Clone)]
pub struct PowHasher {
    algorithm: Algorithm,
    kind: Kind,
    /// The coinbase is hashed with one SHA-256, not two (node-stratum-pool's
    /// `coinbaseHasher` for keccak, fugue and groestl coins without `normalHashing`).
    single_sha_coinbase: bool,
    /// Blocks are named by the header's sha256d rather than the proof-of-work hash.
    sha256d_block_id: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    Sha256d,
    Scrypt(scrypt::Params),
    /// scrypt-jane with its N schedule: chain start, smallest and largest N factor.
    ScryptJane {
        chain_start: i64,
        min: u8,
        max: u8,
    },
    Neoscrypt,
    Sha1,
    Keccak,
    /// Keccak-256 of Keccak-256 of the header followed by its time (`normalHashing`).
    KeccakTwiceWithTime,
    Blake,
    Blake2s,
    Groestl,
    Skein,
    Fugue,
    Shavite3,
    Quark,
    /// A fixed chain of 512-bit stages.
    Chain(&'static [chain::Stage]),
    X16r,
    X16rv2,
}

impl PowHasher {
    /// Headers [`PowHasher::hash_many`] hashes in one pass for the scrypt family: a batch
    /// of this many fills it.
    pub const LANES: usize = romix::LANES;

    /// Prepares the hash function of `algorithm` with the coin's `options`, as a pool
    /// started now would (`scrypt-n` chooses its N from the clock; see
    /// [`PowHasher::new_at`]).
    ///
    /// Fails when the scrypt parameters are invalid (N not a power of two ≥ 2, r = 0).
    pub fn new(algorithm: Algorithm, options: &HashOptions) -> Result<Self, HashingError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PowHasher::new_at(algorithm, options, now)
    }

    /// Like [`PowHasher::new`] for a pool started at `now` (unix seconds): `scrypt-n`
    /// fixes its N then, from the coin's `timeTable`, as node-stratum-pool does
    /// ([`NFactorTable::nomp_log2_n`]).
    pub fn new_at(
        algorithm: Algorithm,
        options: &HashOptions,
        now: u64,
    ) -> Result<Self, HashingError> {
        let r = options.scrypt_r.unwrap_or(1);
        let kind = match algorithm {
            Algorithm::Sha256d => Kind::Sha256d,
            Algorithm::Scrypt => {
                let n = options.scrypt_n.unwrap_or(1024);
                Kind::Scrypt(scrypt_params(n, r)?)
            }
            Algorithm::ScryptN => {
                let log_n = options
                    .time_table
                    .clone()
                    .unwrap_or_else(NFactorTable::nomp_default)
                    .nomp_log2_n(now);
                Kind::Scrypt(scrypt_params(1u64 << log_n, r)?)
            }
            Algorithm::ScryptOg => {
                let n = options.scrypt_n.unwrap_or(64);
                Kind::Scrypt(scrypt_params(n, r)?)
            }
            Algorithm::ScryptJane => {
                let min = options.n_min.unwrap_or(HashOptions::DEFAULT_N_MIN);
                let max = options.n_max.unwrap_or(HashOptions::DEFAULT_N_MAX);
                if min > max || max > HashOptions::MAX_N_FACTOR {
                    return Err(HashingError::InvalidNFactors { min, max });
                }
                Kind::ScryptJane {
                    chain_start: options
                        .chain_start_time
                        .unwrap_or(HashOptions::DEFAULT_CHAIN_START),
                    min,
                    max,
                }
            }
            Algorithm::Neoscrypt => Kind::Neoscrypt,
            Algorithm::Sha1 => Kind::Sha1,
            Algorithm::Keccak if options.normal_hashing => Kind::KeccakTwiceWithTime,
            Algorithm::Keccak => Kind::Keccak,
            Algorithm::Blake => Kind::Blake,
            Algorithm::Blake2s => Kind::Blake2s,
            Algorithm::Groestl => Kind::Groestl,
            Algorithm::Skein => Kind::Skein,
            Algorithm::Fugue => Kind::Fugue,
            Algorithm::Shavite3 => Kind::Shavite3,
            Algorithm::Quark => Kind::Quark,
            Algorithm::Qubit => Kind::Chain(chain::QUBIT),
            Algorithm::Nist5 => Kind::Chain(chain::NIST5),
            Algorithm::X11 => Kind::Chain(chain::X11),
            Algorithm::C11 => Kind::Chain(chain::C11),
            Algorithm::X13 => Kind::Chain(chain::X13),
            Algorithm::X15 => Kind::Chain(chain::X15),
            Algorithm::X16r => Kind::X16r,
            Algorithm::X16rv2 => Kind::X16rv2,
        };
        let single_sha_coinbase = !options.normal_hashing
            && matches!(
                algorithm,
                Algorithm::Keccak | Algorithm::Fugue | Algorithm::Groestl
            );
        // node-stratum-pool's blockHasher: the scrypt family names its blocks by the
        // header's sha256d (but for proof-of-stake coins), and so does sha1.
        let sha256d_block_id = match algorithm {
            Algorithm::Scrypt | Algorithm::ScryptOg | Algorithm::ScryptJane => {
                !options.proof_of_stake
            }
            Algorithm::ScryptN | Algorithm::Sha1 | Algorithm::Blake2s => true,
            _ => false,
        };
        Ok(PowHasher {
            algorithm,
            kind,
            single_sha_coinbase,
            sha256d_block_id,
        })
    }

    /// The hash of a coinbase transaction as the coin's merkle tree and its txid take it
    /// (internal byte order): one SHA-256 for keccak and groestl coins unless
    /// `normalHashing`, sha256d otherwise.
    pub fn coinbase_hash(&self, transaction: &[u8]) -> [u8; 32] {
        let once = Sha256::digest(transaction);
        if self.single_sha_coinbase {
            once.into()
        } else {
            Sha256::digest(once).into()
        }
    }

    /// The id of the block with `header`, whose proof-of-work hash is `pow`: the header's
    /// sha256d for the scrypt family (but proof-of-stake scrypt and scrypt-jane coins), sha1
    /// and blake2s, the proof-of-work hash for every other algorithm (node-stratum-pool's `blockHasher`).
    pub fn block_id(&self, header: &[u8], pow: &PowHash) -> PowHash {
        if self.sha256d_block_id {
            PowHash::from_internal(Sha256::digest(Sha256::digest(header)).into())
        } else {
            *pow
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Hashes a serialized block header (80 bytes for every supported coin).
    ///
    /// Fails only for a header shorter than 80 bytes.
    pub fn hash(&self, header: &[u8]) -> Result<PowHash, HashingError> {
        if header.len() < MIN_HEADER_LEN {
            return Err(HashingError::ShortHeader { len: header.len() });
        }
        let mut out = [0u8; 32];
        match &self.kind {
            Kind::Sha256d => out.copy_from_slice(&Sha256::digest(Sha256::digest(header))),
            Kind::Scrypt(params) => run_scrypt(header, params, &mut out),
            Kind::Keccak => out.copy_from_slice(&Keccak256::digest(header)),
            Kind::KeccakTwiceWithTime => {
                // node-stratum-pool appends the header's time as big-endian hex bytes.
                let mut keccak = Keccak256::new();
                keccak.update(header);
                keccak.update(time_bytes(header_time(header)));
                out.copy_from_slice(&Keccak256::digest(keccak.finalize()));
            }
            Kind::ScryptJane {
                chain_start,
                min,
                max,
            } => {
                let time = i64::from(header_time(header));
                let factor = scrypt_jane::n_factor(time, *chain_start, *min, *max);
                out = scrypt_jane::scrypt_jane(header, factor);
            }
            Kind::Neoscrypt => out = neoscrypt::neoscrypt(header),
            Kind::Sha1 => out = sha1coin::sha1coin(header),
            Kind::Blake => out = stages::blake256(header, 8),
            Kind::Blake2s => out.copy_from_slice(&Blake2s256::digest(header)),
            Kind::Groestl => {
                let twice = Groestl512::digest(Groestl512::digest(header));
                out.copy_from_slice(&twice[..32]);
            }
            Kind::Skein => out.copy_from_slice(&Sha256::digest(Skein512_512::digest(header))),
            Kind::Fugue => out = stages::fugue256(header),
            Kind::Shavite3 => out = chain::shavite3(header),
            Kind::Quark => out = chain::quark(header),
            Kind::Chain(stages) => out = chain::run(stages, header),
            Kind::X16r => out = chain::x16r(header),
            Kind::X16rv2 => out = chain::x16rv2(header),
        }
        Ok(PowHash::from_internal(out))
    }

    /// Hashes several headers; `result[i]` is the hash of `headers[i]`, as
    /// [`PowHasher::hash`] gives it. The scrypt family (but scrypt-jane) hashes up to
    /// [`PowHasher::LANES`] headers in one SIMD pass, at well under the cost of as many
    /// single hashes (a lone header is hashed singly); every other algorithm hashes them
    /// one by one.
    ///
    /// Fails if any header is shorter than 80 bytes.
    pub fn hash_many(&self, headers: &[&[u8]]) -> Result<Vec<PowHash>, HashingError> {
        if let Some(short) = headers.iter().find(|h| h.len() < MIN_HEADER_LEN) {
            return Err(HashingError::ShortHeader { len: short.len() });
        }
        match &self.kind {
            Kind::Scrypt(params) if headers.len() > 1 => Ok(headers
                .chunks(romix::LANES)
                .flat_map(|chunk| {
                    let hashes = match chunk {
                        [one] => {
                            let mut out = [0u8; 32];
                            run_scrypt(one, params, &mut out);
                            [out; romix::LANES]
                        }
                        _ => romix::scrypt_lanes(chunk, params.log_n(), params.r()),
                    };
                    hashes.into_iter().take(chunk.len())
                })
                .map(PowHash::from_internal)
                .collect()),
            _ => headers.iter().map(|header| self.hash(header)).collect(),
        }
    }
}

/// The header's nTime.
fn header_time(header: &[u8]) -> u32 {
    u32::from_le_bytes(
        header[NTIME_OFFSET..NTIME_OFFSET + 4]
            .try_into()
            .expect("a 4-byte slice of an 80-byte header"),
    )
}

/// A time as node-stratum-pool turns it into bytes: its hex digits without leading zeros,
/// read as bytes (a trailing odd digit dropped, as Node's hex decoder does).
fn time_bytes(time: u32) -> Vec<u8> {
    let digits = format!("{time:x}");
    let even = &digits[..digits.len() / 2 * 2];
    hex::decode(even).expect("hex digits decode")
}

/// Litecoin-style scrypt of one header: the header is both password and salt, 32 bytes out.
fn run_scrypt(header: &[u8], params: &scrypt::Params, out: &mut [u8; 32]) {
    scrypt::scrypt(header, header, params, out).expect("32 bytes is a valid scrypt output length");
}

fn scrypt_params(n: u64, r: u32) -> Result<scrypt::Params, HashingError> {
    let invalid = HashingError::InvalidScryptParams { n, r };
    if n < 2 || !n.is_power_of_two() {
        return Err(invalid);
    }
    scrypt::Params::new(n.trailing_zeros() as u8, r, 1).map_err(|_| invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_header_is_an_error() {
        let hasher = PowHasher::new(Algorithm::Sha256d, &HashOptions::default()).unwrap();
        assert_eq!(
            hasher.hash(&[0u8; 79]),
            Err(HashingError::ShortHeader { len: 79 })
        );
    }

    #[test]
    fn scrypt_jane_n_factors_out_of_order_or_too_large_are_refused() {
        let jane = |n_min, n_max| {
            PowHasher::new(
                Algorithm::ScryptJane,
                &HashOptions {
                    n_min,
                    n_max,
                    ..HashOptions::default()
                },
            )
            .map(|_| ())
        };
        assert_eq!(jane(None, None), Ok(()));
        assert_eq!(
            jane(Some(12), Some(8)),
            Err(HashingError::InvalidNFactors { min: 12, max: 8 })
        );
        assert_eq!(
            jane(None, Some(31)),
            Err(HashingError::InvalidNFactors { min: 4, max: 31 })
        );
    }

    #[test]
    fn node_stratum_pool_turns_times_into_their_hex_digits() {
        assert_eq!(time_bytes(0x5a3b_1c2d), [0x5a, 0x3b, 0x1c, 0x2d]);
        assert_eq!(time_bytes(0x0a3b_1c2d), [0xa3, 0xb1, 0xc2]);
    }

    #[test]
    fn normal_hashing_keccak_hashes_twice_with_the_time() {
        let mut header = [7u8; 80];
        header[68..72].copy_from_slice(&0x5a3b_1c2du32.to_le_bytes());
        let options = HashOptions {
            normal_hashing: true,
            ..HashOptions::default()
        };
        let hasher = PowHasher::new(Algorithm::Keccak, &options).unwrap();
        let mut first = Keccak256::new();
        first.update(header);
        first.update([0x5a, 0x3b, 0x1c, 0x2d]);
        let mut expected: [u8; 32] = Keccak256::digest(first.finalize()).into();
        expected.reverse();
        assert_eq!(
            hasher.hash(&header).unwrap().to_string(),
            hex::encode(expected)
        );
        // And its coinbase is hashed with sha256d, as without normalHashing it is not.
        let tx = b"a coinbase";
        let double: [u8; 32] = Sha256::digest(Sha256::digest(tx)).into();
        assert_eq!(hasher.coinbase_hash(tx), double);
        let plain = PowHasher::new(Algorithm::Keccak, &HashOptions::default()).unwrap();
        assert_eq!(
            plain.coinbase_hash(tx),
            <[u8; 32]>::from(Sha256::digest(tx))
        );
    }

    #[test]
    fn scrypt_n_must_be_a_power_of_two() {
        let options = HashOptions {
            scrypt_n: Some(1000),
            ..HashOptions::default()
        };
        assert!(matches!(
            PowHasher::new(Algorithm::Scrypt, &options),
            Err(HashingError::InvalidScryptParams { n: 1000, r: 1 })
        ));
    }
}
