//! Sha1coin's proof of work (NOMP: `sha1`): the SHA-1 of the header written as 27 base64
//! characters, then SHA-1 over each 12-character window of that text (the first 11
//! characters repeated after it), XORed together.

use sha1::{Digest, Sha1};

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The 20 bytes as base64 without padding: 26 full characters and one for the last bits.
fn encode(digest: &[u8; 20]) -> [u8; 27] {
    let mut out = [0u8; 27];
    let mut bits = 0u32;
    let mut held = 0;
    let mut at = 0;
    for byte in digest {
        bits = (bits << 8) | u32::from(*byte);
        held += 8;
        while held >= 6 {
            held -= 6;
            out[at] = BASE64[((bits >> held) & 63) as usize];
            at += 1;
        }
    }
    // The last two bits, as the top of a final character.
    out[at] = BASE64[((bits << (6 - held)) & 63) as usize];
    out
}

/// The proof-of-work hash of `header` (internal order: 12 zero bytes, then the 20-byte
/// XOR of the window hashes).
pub(crate) fn sha1coin(header: &[u8]) -> [u8; 32] {
    let first: [u8; 20] = Sha1::digest(header).into();
    let text = encode(&first);
    // 26 characters, then the first 11 again: 26 windows of 12.
    let mut extended = [0u8; 37];
    extended[..26].copy_from_slice(&text[..26]);
    extended[26..].copy_from_slice(&text[..11]);
    let mut xor = [0u8; 20];
    for window in extended.windows(12).take(26) {
        let digest = Sha1::digest(window);
        for (acc, byte) in xor.iter_mut().zip(digest) {
            *acc ^= byte;
        }
    }
    let mut out = [0u8; 32];
    out[12..].copy_from_slice(&xor);
    out
}
