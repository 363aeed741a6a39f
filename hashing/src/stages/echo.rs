//! ECHO-512 (Benadjila et al.; SHA-3 round 2): AES rounds on a 4×4 state of 128-bit words.

use super::aes::{aes_round, aes_round_with_key};

type Word = [u8; 16];

/// Multiplication by x in AES's GF(2^8).
fn xtime(byte: u8) -> u8 {
    (byte << 1) ^ if byte & 0x80 != 0 { 0x1b } else { 0 }
}

/// The compression function: chaining value `v` (eight words), one 128-byte block, and
/// the bit counter the AES keys start from.
fn compress(v: &mut [Word; 8], block: &[u8], counter: u128) {
    let mut w = [[0u8; 16]; 16];
    w[..8].copy_from_slice(v);
    for (word, bytes) in w[8..].iter_mut().zip(block.chunks_exact(16)) {
        word.copy_from_slice(bytes);
    }
    let mut key = counter;
    for _ in 0..10 {
        // BIG.SubWords: two AES rounds per word, the first keyed by the counter.
        for word in w.iter_mut() {
            aes_round_with_key(word, &key.to_le_bytes());
            aes_round(word);
            key = key.wrapping_add(1);
        }
        // BIG.ShiftRows: row r of the 4×4 word matrix (words r, r+4, r+8, r+12) turns by r.
        for row in 1..4 {
            let words = [w[row], w[row + 4], w[row + 8], w[row + 12]];
            for column in 0..4 {
                w[row + 4 * column] = words[(column + row) % 4];
            }
        }
        // BIG.MixColumns: AES's MixColumns, byte by byte, down each column of words.
        for column in w.chunks_exact_mut(4) {
            let [w0, w1, w2, w3] = column else {
                unreachable!("chunks of four words")
            };
            for byte in 0..16 {
                let [a, b, c, d] = [w0[byte], w1[byte], w2[byte], w3[byte]];
                let (ab, bc, cd) = (a ^ b, b ^ c, c ^ d);
                let (abx, bcx, cdx) = (xtime(ab), xtime(bc), xtime(cd));
                w0[byte] = abx ^ bc ^ d;
                w1[byte] = bcx ^ a ^ cd;
                w2[byte] = cdx ^ ab ^ d;
                w3[byte] = abx ^ bcx ^ cdx ^ ab ^ c;
            }
        }
    }
    for (i, word) in v.iter_mut().enumerate() {
        for byte in 0..16 {
            word[byte] ^= block[16 * i + byte] ^ w[i][byte] ^ w[i + 8][byte];
        }
    }
}

/// ECHO-512 of `data`.
pub(crate) fn echo512(data: &[u8]) -> [u8; 64] {
    let mut v = [(512u128).to_le_bytes(); 8];
    let full = data.len() / 128;
    for (index, block) in data.chunks_exact(128).enumerate() {
        compress(&mut v, block, (index as u128 + 1) * 1024);
    }
    let rest = &data[full * 128..];
    let bits = (data.len() as u128) * 8;
    let mut block = [0u8; 128];
    block[..rest.len()].copy_from_slice(rest);
    block[rest.len()] = 0x80;
    // A last block with no message bits in it is hashed with a zero counter.
    let mut counter = if rest.is_empty() { 0 } else { bits };
    if rest.len() + 1 > 110 {
        compress(&mut v, &block, counter);
        block = [0u8; 128];
        counter = 0;
    }
    block[110..112].copy_from_slice(&512u16.to_le_bytes());
    block[112..].copy_from_slice(&bits.to_le_bytes());
    compress(&mut v, &block, counter);
    let mut out = [0u8; 64];
    for (bytes, word) in out.chunks_exact_mut(16).zip(&v) {
        bytes.copy_from_slice(word);
    }
    out
}
