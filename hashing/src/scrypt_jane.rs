//! scrypt-jane as YACoin and its forks mine it (NOMP: `scrypt-jane`): scrypt with
//! ChaCha20/8 as the mixing function and HMAC-Keccak-512 in PBKDF2, r = p = 1, and N
//! growing with the block time.

use hmac::SimpleHmac;
use sha3::Keccak512;

use crate::cores::chacha;

/// The N factor YACoin's `GetNfactor` gives a block of time `time` on a chain started at
/// `chain_start`, within `min..=max` (N is then 2^(factor + 1)). Before the chain start it
/// is 4, as node-multi-hashing has it.
pub(crate) fn n_factor(time: i64, chain_start: i64, min: u8, max: u8) -> u8 {
    if time <= chain_start {
        return 4;
    }
    let mut s = time - chain_start;
    let mut l = 0i64;
    while (s >> 1) > 3 {
        l += 1;
        s >>= 1;
    }
    s &= 3;
    let n = ((l * 170 + s * 25 - 2320) / 100).clamp(0, 255) as u8;
    n.clamp(min, max)
}

/// scrypt's BlockMix with r = 1 over two 64-byte blocks.
fn block_mix(chunk: &mut [u32; 32]) {
    let mut x: [u32; 16] = chunk[16..].try_into().expect("16 words");
    let mut out = [0u32; 32];
    for i in 0..2 {
        for (word, input) in x.iter_mut().zip(&chunk[16 * i..16 * i + 16]) {
            *word ^= input;
        }
        chacha(&mut x, 8);
        out[16 * i..16 * i + 16].copy_from_slice(&x);
    }
    *chunk = out;
}

fn pbkdf2(password: &[u8], salt: &[u8], out: &mut [u8]) {
    pbkdf2::pbkdf2::<SimpleHmac<Keccak512>>(password, salt, 1, out)
        .expect("HMAC takes keys of any length");
}

/// scrypt-jane of `data` (password and salt both) with N = 2^(`n_factor` + 1).
pub(crate) fn scrypt_jane(data: &[u8], n_factor: u8) -> [u8; 32] {
    let n = 1usize << (u32::from(n_factor) + 1);
    let mut bytes = [0u8; 128];
    pbkdf2(data, data, &mut bytes);
    let mut x: [u32; 32] = std::array::from_fn(|i| {
        u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"))
    });
    let mut v = vec![[0u32; 32]; n];
    for slot in v.iter_mut() {
        *slot = x;
        block_mix(&mut x);
    }
    for _ in 0..n {
        let j = x[16] as usize & (n - 1);
        for (word, stored) in x.iter_mut().zip(&v[j]) {
            *word ^= stored;
        }
        block_mix(&mut x);
    }
    for (chunk, word) in bytes.chunks_exact_mut(4).zip(x) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let mut out = [0u8; 32];
    pbkdf2(data, &bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yacoin_n_factors_grow_with_time() {
        // YACoin's chain start, as node-stratum-pool's default.
        let start = 1_367_991_200;
        assert_eq!(n_factor(start, start, 4, 30), 4);
        assert_eq!(n_factor(start + 1, start, 4, 30), 4);
        // About 2^23 s (97 days) after the start: l = 21, s = 2 → (3570 + 50 − 2320)/100.
        assert_eq!(n_factor(start + (1 << 23) + (1 << 22), start, 4, 30), 13);
        assert_eq!(n_factor(i64::from(u32::MAX), start, 4, 18), 18);
    }

    #[test]
    fn matches_node_multi_hashing_at_n_factor_19() {
        // Its test vectors were made in August 2020 with YACoin's parameters: factor 19.
        let start = 1_367_991_200;
        assert_eq!(n_factor(1_597_224_278, start, 4, 30), 19);
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/multi_hashing_80.json"))
                .expect("the fixture is JSON");
        for (input, expected) in vectors["hex"]
            .as_array()
            .expect("inputs")
            .iter()
            .zip(vectors["scryptjane"].as_array().expect("outputs"))
            .take(2)
        {
            let input = hex::decode(input.as_str().expect("hex")).expect("hex");
            assert_eq!(
                hex::encode(scrypt_jane(&input, 19)),
                expected.as_str().expect("hex")
            );
        }
    }

    #[test]
    fn matches_scrypt_janes_keccak_chacha_vector() {
        // scrypt-jane's power-on self-test for Keccak-512 with ChaCha20/8: empty password
        // and salt, N factor 3 (N = 16), r = p = 1; the first 32 of its 64 bytes.
        assert_eq!(
            hex::encode(scrypt_jane(b"", 3)),
            "77cb70bfaed44c5bbcd3ec8a82438db37f1ffb7036324da6b7133777300c3cfb"
        );
    }
}
