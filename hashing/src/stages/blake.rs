//! BLAKE, the SHA-3 finalist (Aumasson, Henzen, Meier, Phan): BLAKE-512 as the X11 family
//! chains it, and BLAKE-256 with a chosen number of rounds (Blakecoin mines the 8-round one).

/// The digits of π after the point, as 64-bit words: BLAKE-512's constants; BLAKE-256 takes
/// the first eight split into 32-bit halves.
const PI: [u64; 16] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
    0x4528_21e6_38d0_1377,
    0xbe54_66cf_34e9_0c6c,
    0xc0ac_29b7_c97c_50dd,
    0x3f84_d5b5_b547_0917,
    0x9216_d5d9_8979_fb1b,
    0xd131_0ba6_98df_b5ac,
    0x2ffd_72db_d01a_dfb7,
    0xb8e1_afed_6a26_7e96,
    0xba7c_9045_f12c_7f99,
    0x24a1_9947_b391_6cf7,
    0x0801_f2e2_858e_fc16,
    0x6369_20d8_7157_4e69,
];

/// The message-word permutations, one per round (round r uses `SIGMA[r % 10]`).
const SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

/// The columns, then the diagonals, of the 4×4 state each round mixes.
const LANES: [[usize; 4]; 8] = [
    [0, 4, 8, 12],
    [1, 5, 9, 13],
    [2, 6, 10, 14],
    [3, 7, 11, 15],
    [0, 5, 10, 15],
    [1, 6, 11, 12],
    [2, 7, 8, 13],
    [3, 4, 9, 14],
];

/// One BLAKE width: its word, rotations, constants and counter layout.
macro_rules! blake {
    ($name:ident, $word:ty, $block:expr, $rot:expr, $consts:expr, $iv:expr, $out:expr) => {
        /// Hashes `data` with this BLAKE width and `rounds` rounds (no salt).
        pub(crate) fn $name(data: &[u8], rounds: usize) -> [u8; $out] {
            const WORD: usize = std::mem::size_of::<$word>();
            const CONSTS: [$word; 16] = $consts;
            let mut h: [$word; 8] = $iv;
            let bits = (data.len() as u128) * 8;
            // The message, a 1 bit, zeros, a 1 bit, then its length in bits (big-endian,
            // two words), filling whole blocks.
            let blocks = (data.len() + 1 + 2 * WORD).div_ceil($block);
            let mut padded = vec![0u8; blocks * $block];
            padded[..data.len()].copy_from_slice(data);
            padded[data.len()] = 0x80;
            let end = padded.len() - 2 * WORD;
            padded[end - 1] |= 0x01;
            let length = bits.to_be_bytes();
            padded[end..].copy_from_slice(&length[16 - 2 * WORD..]);
            for (index, block) in padded.chunks_exact($block).enumerate() {
                // The counter: message bits up to this block's end; 0 for a block of
                // padding only.
                let start = (index * $block) as u128 * 8;
                let counter = if start >= bits && bits > 0 {
                    0
                } else {
                    bits.min(start + $block as u128 * 8)
                };
                let (t0, t1) = (counter as $word, (counter >> (8 * WORD)) as $word);
                let m: [$word; 16] = std::array::from_fn(|i| {
                    <$word>::from_be_bytes(
                        block[i * WORD..(i + 1) * WORD]
                            .try_into()
                            .expect("a word's bytes"),
                    )
                });
                let mut v = [0 as $word; 16];
                v[..8].copy_from_slice(&h);
                v[8..12].copy_from_slice(&CONSTS[..4]);
                v[12] = t0 ^ CONSTS[4];
                v[13] = t0 ^ CONSTS[5];
                v[14] = t1 ^ CONSTS[6];
                v[15] = t1 ^ CONSTS[7];
                for round in 0..rounds {
                    let s = &SIGMA[round % 10];
                    for (lane, [a, b, c, d]) in LANES.iter().enumerate() {
                        let (x, y) = (s[2 * lane], s[2 * lane + 1]);
                        v[*a] = v[*a].wrapping_add(v[*b]).wrapping_add(m[x] ^ CONSTS[y]);
                        v[*d] = (v[*d] ^ v[*a]).rotate_right($rot[0]);
                        v[*c] = v[*c].wrapping_add(v[*d]);
                        v[*b] = (v[*b] ^ v[*c]).rotate_right($rot[1]);
                        v[*a] = v[*a].wrapping_add(v[*b]).wrapping_add(m[y] ^ CONSTS[x]);
                        v[*d] = (v[*d] ^ v[*a]).rotate_right($rot[2]);
                        v[*c] = v[*c].wrapping_add(v[*d]);
                        v[*b] = (v[*b] ^ v[*c]).rotate_right($rot[3]);
                    }
                }
                for i in 0..8 {
                    h[i] ^= v[i] ^ v[i + 8];
                }
            }
            let mut out = [0u8; $out];
            for (chunk, word) in out.chunks_exact_mut(WORD).zip(h) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            out
        }
    };
}

blake!(
    blake512_rounds,
    u64,
    128,
    [32, 25, 16, 11],
    PI,
    [
        0x6a09_e667_f3bc_c908,
        0xbb67_ae85_84ca_a73b,
        0x3c6e_f372_fe94_f82b,
        0xa54f_f53a_5f1d_36f1,
        0x510e_527f_ade6_82d1,
        0x9b05_688c_2b3e_6c1f,
        0x1f83_d9ab_fb41_bd6b,
        0x5be0_cd19_137e_2179,
    ],
    64
);

blake!(
    blake256,
    u32,
    64,
    [16, 12, 8, 7],
    {
        let mut words = [0u32; 16];
        let mut i = 0;
        while i < 8 {
            words[2 * i] = (PI[i] >> 32) as u32;
            words[2 * i + 1] = PI[i] as u32;
            i += 1;
        }
        words
    },
    [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ],
    32
);

/// BLAKE-512 (16 rounds).
pub(crate) fn blake512(data: &[u8]) -> [u8; 64] {
    blake512_rounds(data, 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_submissions_one_byte_vectors() {
        // BLAKE's final submission, appendix: the hash of one zero byte.
        assert_eq!(
            hex::encode(blake256(&[0], 14)),
            "0ce8d4ef4dd7cd8d62dfded9d4edb0a774ae6a41929a74da23109e8f11139c87"
        );
        assert_eq!(
            hex::encode(blake512(&[0])),
            "97961587f6d970faba6d2478045de6d1fabd09b61ae50932054d52bc29d31be4\
             ff9102b9f69e2bbdb83be13d4b9c06091e5fa0b48bd081b634058be0ec49beb3"
        );
        // And of 72 (BLAKE-256) and 144 (BLAKE-512) zero bytes: two blocks, the second
        // with message bits, and with a 1 bit right before the length.
        assert_eq!(
            hex::encode(blake256(&[0; 72], 14)),
            "d419bad32d504fb7d44d460c42c5593fe544fa4c135dec31e21bd9abdcc22d41"
        );
        assert_eq!(
            hex::encode(blake512(&[0; 144])),
            "313717d608e9cf758dcb1eb0f0c3cf9fc150b2d500fb33f51c52afc99d358a2f\
             1374b8a38bba7974e7f6ef79cab16f22ce1e649d6e01ad9589c213045d545dde"
        );
    }
}
