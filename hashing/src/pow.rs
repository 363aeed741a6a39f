use blake2::Blake2s256;
use groestl::Groestl512;
use sha2::{Digest, Sha256};
use sha3::Keccak256;
use skein::Skein512_512;

use crate::algorithm::Algorithm;
use crate::error::HashingError;
use crate::scrypt_n::NFactorTable;
use crate::target::PowHash;

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
}

/// Hashes block headers with one coin's proof-of-work function.
///
/// Built once per coin; [`PowHasher::hash`] is then cheap to call from many threads.
#[derive(Debug, Clone)]
pub struct PowHasher {
    algorithm: Algorithm,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Sha256d,
    Scrypt(scrypt::Params),
    ScryptN {
        table: NFactorTable,
        r: u32,
    },
    Keccak,
    Blake2s,
    Groestl,
    Skein,
    #[cfg(feature = "x11")]
    X11,
}

impl PowHasher {
    /// Prepares the hash function of `algorithm` with the coin's `options`.
    ///
    /// Fails when the scrypt parameters are invalid (N not a power of two ≥ 2, r = 0).
    pub fn new(algorithm: Algorithm, options: &HashOptions) -> Result<Self, HashingError> {
        let r = options.scrypt_r.unwrap_or(1);
        let kind = match algorithm {
            Algorithm::Sha256d => Kind::Sha256d,
            Algorithm::Scrypt => {
                let n = options.scrypt_n.unwrap_or(1024);
                Kind::Scrypt(scrypt_params(n, r)?)
            }
            Algorithm::ScryptN => {
                let table = options
                    .time_table
                    .clone()
                    .unwrap_or_else(NFactorTable::nomp_default);
                scrypt_params(2, r)?;
                Kind::ScryptN { table, r }
            }
            Algorithm::Keccak => Kind::Keccak,
            Algorithm::Blake2s => Kind::Blake2s,
            Algorithm::Groestl => Kind::Groestl,
            Algorithm::Skein => Kind::Skein,
            #[cfg(feature = "x11")]
            Algorithm::X11 => Kind::X11,
        };
        Ok(PowHasher { algorithm, kind })
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Hashes a serialized block header (80 bytes for every supported coin).
    ///
    /// `scrypt-n` reads the header's own nTime (bytes 68..72) to choose N.
    /// Fails only for a header shorter than 80 bytes.
    pub fn hash(&self, header: &[u8]) -> Result<PowHash, HashingError> {
        if header.len() < MIN_HEADER_LEN {
            return Err(HashingError::ShortHeader { len: header.len() });
        }
        let mut out = [0u8; 32];
        match &self.kind {
            Kind::Sha256d => out.copy_from_slice(&Sha256::digest(Sha256::digest(header))),
            Kind::Scrypt(params) => run_scrypt(header, params, &mut out),
            Kind::ScryptN { table, r } => {
                let mut ntime = [0u8; 4];
                ntime.copy_from_slice(&header[NTIME_OFFSET..NTIME_OFFSET + 4]);
                let log_n = table.log2_n_at(u64::from(u32::from_le_bytes(ntime)));
                let params = scrypt::Params::new(log_n, *r, 1)
                    .expect("table entries and r were validated when the hasher was built");
                run_scrypt(header, &params, &mut out);
            }
            Kind::Keccak => out.copy_from_slice(&Keccak256::digest(header)),
            Kind::Blake2s => out.copy_from_slice(&Blake2s256::digest(header)),
            Kind::Groestl => {
                let twice = Groestl512::digest(Groestl512::digest(header));
                out.copy_from_slice(&twice[..32]);
            }
            Kind::Skein => out.copy_from_slice(&Sha256::digest(Skein512_512::digest(header))),
            #[cfg(feature = "x11")]
            Kind::X11 => out = rs_x11_hash::get_x11_hash(header),
        }
        Ok(PowHash::from_internal(out))
    }
}

fn scrypt_params(n: u64, r: u32) -> Result<scrypt::Params, HashingError> {
    let invalid = HashingError::InvalidScryptParams { n, r };
    if n < 2 || !n.is_power_of_two() {
        return Err(invalid);
    }
    scrypt::Params::new(n.trailing_zeros() as u8, r, 1).map_err(|_| invalid)
}

/// Litecoin-style scrypt: the header is both password and salt, 32 bytes out.
fn run_scrypt(header: &[u8], params: &scrypt::Params, out: &mut [u8; 32]) {
    scrypt::scrypt(header, header, params, out).expect("32 bytes is a valid scrypt output length");
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
