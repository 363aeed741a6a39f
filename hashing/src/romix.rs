//! Litecoin-style scrypt (Salsa20/8 ROMix, p = 1; the header is password and salt) of four
//! headers at once.
//!
//! The four states sit side by side, word by word: each state word is a four-lane SIMD
//! word (`wide::u32x4`, SSE2 on every x86-64 CPU), so each step of Salsa20/8 works on all
//! four headers at once. A scratchpad entry holds each header's state words in order,
//! header after header, so the four entries a step reads are four runs of whole vectors,
//! turned into the word-by-word layout by 4×4 transposes. The scratchpad is kept per
//! thread and reused, not allocated per pass (512 KiB at N = 1024).

use std::cell::RefCell;

use hmac::Hmac;
use sha2::Sha256;
use wide::u32x4;

/// Headers hashed in one pass by [`scrypt_lanes`].
pub(crate) const LANES: usize = 4;

/// One 64-byte Salsa20 block of every header in a pass.
type Block = [u32x4; 16];

thread_local! {
    /// This thread's ROMix scratchpad, kept between passes.
    static SCRATCH: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// scrypt of up to [`LANES`] headers with N = 2^`log_n` and block size `r`, in one pass;
/// `out[i]` is the hash of `headers[i]`. Fewer headers than lanes leave the spare lanes
/// repeating the first header.
pub(crate) fn scrypt_lanes(headers: &[&[u8]], log_n: u8, r: u32) -> [[u8; 32]; LANES] {
    assert!(
        !headers.is_empty() && headers.len() <= LANES,
        "1 to {LANES} headers per pass"
    );
    let header = |lane: usize| headers.get(lane).copied().unwrap_or(headers[0]);
    let blocks = 2 * r as usize;
    let mut state: Vec<Block> = vec![[u32x4::default(); 16]; blocks];
    let mut bytes = vec![0u8; 64 * blocks];
    for lane in 0..LANES {
        pbkdf2(header(lane), header(lane), &mut bytes);
        let words = state.as_flattened_mut();
        for (word, bytes) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            word.as_mut_array()[lane] = u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
        }
    }
    SCRATCH.with_borrow_mut(|scratch| romix(&mut state, 1usize << log_n, scratch));
    let mut out = [[0u8; 32]; LANES];
    for (lane, out) in out.iter_mut().enumerate() {
        for (bytes, word) in bytes.chunks_exact_mut(4).zip(state.as_flattened()) {
            bytes.copy_from_slice(&word.as_array()[lane].to_le_bytes());
        }
        pbkdf2(header(lane), &bytes, out);
    }
    out
}

fn pbkdf2(password: &[u8], salt: &[u8], out: &mut [u8]) {
    pbkdf2::pbkdf2::<Hmac<Sha256>>(password, salt, 1, out).expect("HMAC takes keys of any length");
}

/// ROMix over `n` steps: fill the scratchpad with successive BlockMix states, then mix in
/// the entries each header's state points at.
fn romix(state: &mut Vec<Block>, n: usize, scratch: &mut Vec<Block>) {
    let words = state.len() * 16;
    scratch.resize(n * state.len(), [u32x4::default(); 16]);
    let scratch = scratch.as_flattened_mut();
    // BlockMix writes into `next`, which then becomes the state: swapped, not copied.
    let mut next = state.clone();
    for entry in scratch.chunks_exact_mut(words) {
        store(state.as_flattened(), entry);
        block_mix(state, &mut next);
        std::mem::swap(state, &mut next);
    }
    for _ in 0..n {
        mix_in(state.as_flattened_mut(), scratch, n);
        block_mix(state, &mut next);
        std::mem::swap(state, &mut next);
    }
}

/// Writes the state (its words, flattened) into a scratchpad entry, header after header.
fn store(state: &[u32x4], entry: &mut [u32x4]) {
    let quarter = state.len() / 4;
    for (group, words) in state.chunks_exact(4).enumerate() {
        let lanes = u32x4::transpose([words[0], words[1], words[2], words[3]]);
        for (lane, run) in lanes.into_iter().enumerate() {
            entry[lane * quarter + group] = run;
        }
    }
}

/// XORs into the state the entry of the `n`-entry scratchpad that each header's state
/// points at (its last block's first word, modulo `n`).
fn mix_in(state: &mut [u32x4], scratch: &[u32x4], n: usize) {
    let len = state.len();
    let quarter = len / 4;
    let pointer = state[len - 16].to_array();
    let base: [usize; LANES] =
        std::array::from_fn(|lane| (pointer[lane] as usize & (n - 1)) * len + lane * quarter);
    for (group, words) in state.chunks_exact_mut(4).enumerate() {
        let stored = u32x4::transpose(std::array::from_fn(|lane| scratch[base[lane] + group]));
        for (word, stored) in words.iter_mut().zip(stored) {
            *word ^= stored;
        }
    }
}

/// scrypt's BlockMix: chain Salsa20/8 through the blocks, even-numbered results first.
fn block_mix(input: &[Block], out: &mut [Block]) {
    let half = input.len() / 2;
    let mut x = input[input.len() - 1];
    for (index, block) in input.iter().enumerate() {
        for (word, input) in x.iter_mut().zip(block) {
            *word ^= *input;
        }
        salsa8(&mut x);
        out[index / 2 + (index % 2) * half] = x;
    }
}

#[inline(always)]
fn rotate(word: u32x4, by: u32) -> u32x4 {
    (word << by) | (word >> (32 - by))
}

#[inline(always)]
fn quarter(x: &mut Block, a: usize, b: usize, c: usize, d: usize) {
    x[b] ^= rotate(x[a] + x[d], 7);
    x[c] ^= rotate(x[b] + x[a], 9);
    x[d] ^= rotate(x[c] + x[b], 13);
    x[a] ^= rotate(x[d] + x[c], 18);
}

/// The Salsa20/8 core on every header of the pass.
#[inline(always)]
fn salsa8(block: &mut Block) {
    let mut x = *block;
    for _ in 0..4 {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 5, 9, 13, 1);
        quarter(&mut x, 10, 14, 2, 6);
        quarter(&mut x, 15, 3, 7, 11);
        quarter(&mut x, 0, 1, 2, 3);
        quarter(&mut x, 5, 6, 7, 4);
        quarter(&mut x, 10, 11, 8, 9);
        quarter(&mut x, 15, 12, 13, 14);
    }
    for (word, mixed) in block.iter_mut().zip(x) {
        *word += mixed;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reference(header: &[u8], log_n: u8, r: u32) -> [u8; 32] {
        let params = ::scrypt::Params::new(log_n, r, 1).expect("valid parameters");
        let mut out = [0u8; 32];
        ::scrypt::scrypt(header, header, &params, &mut out).expect("32 bytes out");
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn every_lane_matches_the_scrypt_crate(
            headers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 80), 1..=LANES),
            log_n in 1u8..11,
            r in 1u32..3,
        ) {
            let slices: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
            let out = scrypt_lanes(&slices, log_n, r);
            for (header, out) in headers.iter().zip(out) {
                prop_assert_eq!(out, reference(header, log_n, r));
            }
        }
    }
}
