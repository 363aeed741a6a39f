//! SHAvite-3-512 (Biham, Dunkelman; SHA-3 round 2, as specified, not the round-2 reference
//! code's byte order): a Feistel of AES rounds keyed by an expanded message and counter.

use super::aes::aes_round;

/// The starting chaining value.
const IV: [u32; 16] = [
    0x72fc_cdd8,
    0x79ca_4727,
    0x128a_077b,
    0x40d5_5aec,
    0xd190_1a06,
    0x430a_e307,
    0xb29f_5cd1,
    0xdf07_fbfc,
    0x8e45_d73d,
    0x681a_b538,
    0xbde8_6578,
    0xdd57_7e47,
    0xe275_eade,
    0x502d_9fcd,
    0xb935_7178,
    0x022a_4b9a,
];

/// Where the counter words enter the expanded key, and in which order (the last one
/// complemented).
const COUNTER_AT: [(usize, [usize; 4]); 4] = [
    (32, [0, 1, 2, 3]),
    (164, [3, 2, 1, 0]),
    (316, [2, 3, 0, 1]),
    (440, [1, 0, 3, 2]),
];

/// One AES round without a key on four little-endian words.
fn round(x: &mut [u32; 4]) {
    let mut block = [0u8; 16];
    for (bytes, word) in block.chunks_exact_mut(4).zip(x.iter()) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    aes_round(&mut block);
    for (word, bytes) in x.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
    }
}

/// The compression function on one 128-byte block with the bit counter `count`.
fn compress(h: &mut [u32; 16], block: &[u8], count: [u32; 4]) {
    let mut rk = [0u32; 448];
    for (word, bytes) in rk.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
    }
    let mut u = 32;
    loop {
        for _ in 0..8 {
            let mut x = [rk[u - 31], rk[u - 30], rk[u - 29], rk[u - 32]];
            round(&mut x);
            for i in 0..4 {
                rk[u + i] = x[i] ^ rk[u - 4 + i];
            }
            if let Some((_, order)) = COUNTER_AT.iter().find(|(at, _)| *at == u) {
                for (i, which) in order.iter().enumerate() {
                    rk[u + i] ^= if i == 3 {
                        !count[*which]
                    } else {
                        count[*which]
                    };
                }
            }
            u += 4;
        }
        if u == 448 {
            break;
        }
        for _ in 0..8 {
            for i in 0..4 {
                rk[u + i] = rk[u - 32 + i] ^ rk[u - 7 + i];
            }
            u += 4;
        }
    }
    let mut p: [[u32; 4]; 4] =
        std::array::from_fn(|g| [h[4 * g], h[4 * g + 1], h[4 * g + 2], h[4 * g + 3]]);
    let mut keys = rk.chunks_exact(4);
    for _ in 0..14 {
        for (left, right) in [(0, 1), (2, 3)] {
            let mut x = p[right];
            for _ in 0..4 {
                let key = keys.next().expect("448 key words for 14 rounds");
                for i in 0..4 {
                    x[i] ^= key[i];
                }
                round(&mut x);
            }
            for i in 0..4 {
                p[left][i] ^= x[i];
            }
        }
        p.rotate_right(1);
    }
    for (i, word) in h.iter_mut().enumerate() {
        *word ^= p[i / 4][i % 4];
    }
}

/// A 128-bit bit count as four little-endian words.
fn count_words(bits: u128) -> [u32; 4] {
    std::array::from_fn(|i| (bits >> (32 * i)) as u32)
}

/// SHAvite-3-512 of `data`.
pub(crate) fn shavite512(data: &[u8]) -> [u8; 64] {
    let mut h = IV;
    let full = data.len() / 128;
    for (index, block) in data.chunks_exact(128).enumerate() {
        compress(&mut h, block, count_words((index as u128 + 1) * 1024));
    }
    let rest = &data[full * 128..];
    let bits = (data.len() as u128) * 8;
    let mut block = [0u8; 128];
    block[..rest.len()].copy_from_slice(rest);
    block[rest.len()] = 0x80;
    // A last block with no message bits in it is hashed with a zero counter.
    let mut last_count = if rest.is_empty() { 0 } else { bits };
    if rest.len() >= 110 {
        compress(&mut h, &block, count_words(bits));
        block = [0u8; 128];
        last_count = 0;
    }
    block[110..126].copy_from_slice(&bits.to_le_bytes());
    block[126..].copy_from_slice(&512u16.to_le_bytes());
    compress(&mut h, &block, count_words(last_count));
    let mut out = [0u8; 64];
    for (bytes, word) in out.chunks_exact_mut(4).zip(h) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}
