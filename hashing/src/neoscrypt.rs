//! NeoScrypt (John Doering; Phoenixcoin, Feathercoin): FastKDF with BLAKE2s around two
//! SMix passes over 256 bytes, one with ChaCha20/20 and one with Salsa20/20, N = 128, r = 2.

use blake2::Blake2sMac256;
use blake2::digest::{KeyInit, Mac};

use crate::cores::{chacha, salsa};

/// FastKDF's ring buffer.
const BUFFER: usize = 256;
/// BLAKE2s input, key and output sizes of each FastKDF step.
const PRF_INPUT: usize = 64;
const PRF_KEY: usize = 32;
/// Blocks per SMix chunk (2r) and SMix's N.
const BLOCKS: usize = 4;
const N: usize = 128;

/// `source` repeated to fill `BUFFER` bytes, then its first `tail` bytes again.
fn ring(source: &[u8], tail: usize) -> Vec<u8> {
    let mut out: Vec<u8> = source.iter().copied().cycle().take(BUFFER).collect();
    out.extend_from_slice(&source[..tail]);
    out
}

/// FastKDF-BLAKE2s with 32 iterations: `output_len` bytes from `password` and `salt`.
fn fastkdf(password: &[u8], salt: &[u8], output_len: usize) -> Vec<u8> {
    let a = ring(password, PRF_INPUT);
    let mut b = ring(salt, PRF_KEY);
    let mut at = 0;
    for _ in 0..32 {
        let mut prf = Blake2sMac256::new_from_slice(&b[at..at + PRF_KEY])
            .expect("BLAKE2s takes a 32-byte key");
        prf.update(&a[at..at + PRF_INPUT]);
        let out = prf.finalize().into_bytes();
        at = out.iter().map(|byte| usize::from(*byte)).sum::<usize>() % BUFFER;
        for (target, byte) in b[at..at + out.len()].iter_mut().zip(out.iter()) {
            *target ^= byte;
        }
        // Keep the buffer's wrapped-around tail equal to its head.
        if at < PRF_KEY {
            let n = (PRF_KEY - at).min(out.len());
            let (head, tail) = b.split_at_mut(BUFFER);
            tail[at..at + n].copy_from_slice(&head[at..at + n]);
        } else if BUFFER - at < out.len() {
            let n = out.len() - (BUFFER - at);
            let (head, tail) = b.split_at_mut(BUFFER);
            head[..n].copy_from_slice(&tail[..n]);
        }
    }
    (0..output_len)
        .map(|i| b[(at + i) % BUFFER] ^ a[i])
        .collect()
}

type Chunk = [[u32; 16]; BLOCKS];

/// NeoScrypt's block mix: each block takes the one before (the first takes the last),
/// then the middle two swap places.
fn block_mix(x: &mut Chunk, mixer: fn(&mut [u32; 16], usize)) {
    for i in 0..BLOCKS {
        let previous = x[(i + BLOCKS - 1) % BLOCKS];
        for (word, other) in x[i].iter_mut().zip(previous) {
            *word ^= other;
        }
        mixer(&mut x[i], 20);
    }
    x.swap(1, 2);
}

/// scrypt's SMix with NeoScrypt's block mix.
fn smix(x: &mut Chunk, mixer: fn(&mut [u32; 16], usize)) {
    let mut v = vec![[[0u32; 16]; BLOCKS]; N];
    for slot in v.iter_mut() {
        *slot = *x;
        block_mix(x, mixer);
    }
    for _ in 0..N {
        let j = x[BLOCKS - 1][0] as usize & (N - 1);
        for (block, stored) in x.iter_mut().zip(&v[j]) {
            for (word, other) in block.iter_mut().zip(stored) {
                *word ^= other;
            }
        }
        block_mix(x, mixer);
    }
}

/// NeoScrypt of an 80-byte header (profile 0, the one every NeoScrypt coin mines).
pub(crate) fn neoscrypt(header: &[u8]) -> [u8; 32] {
    let password = &header[..80];
    let bytes = fastkdf(password, password, BLOCKS * 64);
    let mut x: Chunk = std::array::from_fn(|block| {
        std::array::from_fn(|word| {
            let at = 64 * block + 4 * word;
            u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
        })
    });
    let mut z = x;
    smix(&mut z, chacha);
    smix(&mut x, salsa);
    let mut mixed = Vec::with_capacity(BLOCKS * 64);
    for (block, other) in x.iter().zip(&z) {
        for (word, other) in block.iter().zip(other) {
            mixed.extend_from_slice(&(word ^ other).to_le_bytes());
        }
    }
    let out = fastkdf(password, &mixed, 32);
    out.try_into().expect("32 bytes asked for")
}
