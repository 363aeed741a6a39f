//! The chained algorithms: hash functions applied one after the other, each taking the
//! 64-byte digest of the one before, as node-multi-hashing runs them.

use groestl::Groestl512;
use jh::Jh512;
use sha2::{Digest, Sha512};
use sha3::Keccak512;
use shabal::Shabal512;
use skein::Skein512_512;
use tiger::Tiger;
use whirlpool::Whirlpool;

use crate::stages;

/// One 512-bit stage of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Blake,
    Bmw,
    Groestl,
    Jh,
    Keccak,
    Skein,
    Luffa,
    Cubehash,
    Shavite,
    Simd,
    Echo,
    Hamsi,
    Fugue,
    Shabal,
    Whirlpool,
    Sha512,
}

impl Stage {
    /// X16R's sixteen stages, in the order its hex digits number them.
    const X16R: [Stage; 16] = [
        Stage::Blake,
        Stage::Bmw,
        Stage::Groestl,
        Stage::Jh,
        Stage::Keccak,
        Stage::Skein,
        Stage::Luffa,
        Stage::Cubehash,
        Stage::Shavite,
        Stage::Simd,
        Stage::Echo,
        Stage::Hamsi,
        Stage::Fugue,
        Stage::Shabal,
        Stage::Whirlpool,
        Stage::Sha512,
    ];

    /// This stage's 64-byte digest of `data`.
    pub(crate) fn hash(self, data: &[u8]) -> [u8; 64] {
        fn digest<D: Digest>(data: &[u8]) -> [u8; 64] {
            let mut out = [0u8; 64];
            out.copy_from_slice(&D::digest(data));
            out
        }
        match self {
            Stage::Blake => stages::blake512(data),
            Stage::Bmw => stages::bmw512(data),
            Stage::Groestl => digest::<Groestl512>(data),
            Stage::Jh => digest::<Jh512>(data),
            Stage::Keccak => digest::<Keccak512>(data),
            Stage::Skein => digest::<Skein512_512>(data),
            Stage::Luffa => stages::luffa512(data),
            Stage::Cubehash => stages::cubehash512(data),
            Stage::Shavite => stages::shavite512(data),
            Stage::Simd => stages::simd512(data),
            Stage::Echo => stages::echo512(data),
            Stage::Hamsi => stages::hamsi512(data),
            Stage::Fugue => stages::fugue512(data),
            Stage::Shabal => digest::<Shabal512>(data),
            Stage::Whirlpool => digest::<Whirlpool>(data),
            Stage::Sha512 => digest::<Sha512>(data),
        }
    }
}

/// X11's eleven stages (Dash).
pub(crate) const X11: &[Stage] = &[
    Stage::Blake,
    Stage::Bmw,
    Stage::Groestl,
    Stage::Skein,
    Stage::Jh,
    Stage::Keccak,
    Stage::Luffa,
    Stage::Cubehash,
    Stage::Shavite,
    Stage::Simd,
    Stage::Echo,
];

/// X13: X11, then Hamsi and Fugue.
pub(crate) const X13: &[Stage] = &[
    Stage::Blake,
    Stage::Bmw,
    Stage::Groestl,
    Stage::Skein,
    Stage::Jh,
    Stage::Keccak,
    Stage::Luffa,
    Stage::Cubehash,
    Stage::Shavite,
    Stage::Simd,
    Stage::Echo,
    Stage::Hamsi,
    Stage::Fugue,
];

/// X15: X13, then Shabal and Whirlpool.
pub(crate) const X15: &[Stage] = &[
    Stage::Blake,
    Stage::Bmw,
    Stage::Groestl,
    Stage::Skein,
    Stage::Jh,
    Stage::Keccak,
    Stage::Luffa,
    Stage::Cubehash,
    Stage::Shavite,
    Stage::Simd,
    Stage::Echo,
    Stage::Hamsi,
    Stage::Fugue,
    Stage::Shabal,
    Stage::Whirlpool,
];

/// C11 (Chaincoin): X11's stages with JH and Keccak before Skein.
pub(crate) const C11: &[Stage] = &[
    Stage::Blake,
    Stage::Bmw,
    Stage::Groestl,
    Stage::Jh,
    Stage::Keccak,
    Stage::Skein,
    Stage::Luffa,
    Stage::Cubehash,
    Stage::Shavite,
    Stage::Simd,
    Stage::Echo,
];

/// NIST5: the five SHA-3 finalists but Skein's order (Talkcoin).
pub(crate) const NIST5: &[Stage] = &[
    Stage::Blake,
    Stage::Groestl,
    Stage::Jh,
    Stage::Keccak,
    Stage::Skein,
];

/// Qubit: X11's last five stages.
pub(crate) const QUBIT: &[Stage] = &[
    Stage::Luffa,
    Stage::Cubehash,
    Stage::Shavite,
    Stage::Simd,
    Stage::Echo,
];

/// The first 32 bytes of the last stage's digest: the proof-of-work hash, internal order.
fn first_half(digest: [u8; 64]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest[..32]);
    out
}

/// Runs `stages` over `data`.
pub(crate) fn run(stages: &[Stage], data: &[u8]) -> [u8; 32] {
    let mut digest = stages[0].hash(data);
    for stage in &stages[1..] {
        digest = stage.hash(&digest);
    }
    first_half(digest)
}

/// Quark: nine stages, three of them chosen by bit 3 of the digest before them.
pub(crate) fn quark(data: &[u8]) -> [u8; 32] {
    let either = |digest: &[u8; 64], set: Stage, clear: Stage| {
        if digest[0] & 8 != 0 { set } else { clear }
    };
    let mut digest = Stage::Blake.hash(data);
    digest = Stage::Bmw.hash(&digest);
    digest = either(&digest, Stage::Groestl, Stage::Skein).hash(&digest);
    digest = Stage::Groestl.hash(&digest);
    digest = Stage::Jh.hash(&digest);
    digest = either(&digest, Stage::Blake, Stage::Bmw).hash(&digest);
    digest = Stage::Keccak.hash(&digest);
    digest = Stage::Skein.hash(&digest);
    digest = either(&digest, Stage::Keccak, Stage::Jh).hash(&digest);
    first_half(digest)
}

/// X16R's order for a header: one stage per hex digit of the last 8 bytes of the previous
/// block's hash (display order), most significant first.
fn x16r_order(header: &[u8]) -> [Stage; 16] {
    let previous = &header[4..36];
    std::array::from_fn(|j| {
        let byte = previous[(15 - j) / 2];
        let digit = if j % 2 == 1 { byte & 0x0f } else { byte >> 4 };
        Stage::X16R[digit as usize]
    })
}

/// X16R (Ravencoin until 2019-10).
pub(crate) fn x16r(header: &[u8]) -> [u8; 32] {
    run(&x16r_order(header), header)
}

/// X16Rv2 (Ravencoin 2019-10 to 2020-05): X16R with a Tiger hash (zero-padded to 64
/// bytes) before its Keccak, Luffa and SHA-512 stages.
pub(crate) fn x16rv2(header: &[u8]) -> [u8; 32] {
    let mut input = header.to_vec();
    let mut digest = [0u8; 64];
    for stage in x16r_order(header) {
        if matches!(stage, Stage::Keccak | Stage::Luffa | Stage::Sha512) {
            let mut tigered = [0u8; 64];
            tigered[..24].copy_from_slice(&Tiger::digest(&input));
            digest = stage.hash(&tigered);
        } else {
            digest = stage.hash(&input);
        }
        input = digest.to_vec();
    }
    first_half(digest)
}

/// SHAvite-3 (INKcoin): SHAvite-3-512 twice.
pub(crate) fn shavite3(data: &[u8]) -> [u8; 32] {
    first_half(Stage::Shavite.hash(&Stage::Shavite.hash(data)))
}
