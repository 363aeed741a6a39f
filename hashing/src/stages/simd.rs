//! SIMD-512 (Leurent, Bouillaguet, Fouque; SHA-3 round 2 tweak): a number-theoretic
//! transform of each block expands it into the words of a 4×8 Feistel.

/// The starting chaining value.
const IV: [u32; 32] = [
    0x0ba1_6b95,
    0x72f9_99ad,
    0x9fec_c2ae,
    0xba32_64fc,
    0x5e89_4929,
    0x8e9f_30e5,
    0x2f1d_aa37,
    0xf0f2_c558,
    0xac50_6643,
    0xa906_35a5,
    0xe25b_878b,
    0xaab7_878f,
    0x8881_7f7a,
    0x0a02_892b,
    0x559a_7550,
    0x598f_657e,
    0x7eef_60a1,
    0x6b70_e3e8,
    0x9c17_14d1,
    0xb958_e2a8,
    0xab02_675e,
    0xed1c_014f,
    0xcd8d_65bb,
    0xfdb7_a257,
    0x0925_4899,
    0xd699_c7bc,
    0x9019_b6dc,
    0x2b90_22e4,
    0x8fa1_4956,
    0x21bf_9bd3,
    0xb94d_0943,
    0x6ffd_dc22,
];

/// The transform's prime and root of unity: 41 has order 256 modulo 257.
const P: u32 = 257;
const ROOT: u32 = 41;

/// Which 16 transform outputs feed each step's eight words, step by step.
const STEP_SOURCES: [usize; 32] = [
    4, 6, 0, 2, 7, 5, 3, 1, 15, 11, 12, 8, 9, 13, 10, 14, 17, 18, 23, 20, 22, 21, 16, 19, 30, 24,
    25, 31, 27, 29, 28, 26,
];

/// Per round: the offsets of the two transform outputs a word is made of, and their
/// multiplier (185 for the first two rounds' code, 233 for the last two's).
const ROUND_CODES: [(isize, isize, i32); 4] = [
    (0, 1, 185),
    (0, 1, 185),
    (-256, -128, 233),
    (-383, -255, 233),
];

/// Per round: the rotations of its steps.
const ROTATIONS: [[u32; 4]; 4] = [
    [3, 23, 17, 27],
    [28, 19, 22, 7],
    [29, 9, 15, 5],
    [4, 13, 10, 25],
];

/// The lane permutations of the steps (lane n takes lane n ⊕ k), round r's step s using
/// entry r + s.
const PERMUTATIONS: [usize; 11] = [1, 6, 2, 3, 5, 7, 4, 1, 6, 2, 3];

/// ROOT^k modulo P for k in 0..256 (ROOT has order 256, so any exponent is taken mod 256).
const POWERS: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut k = 0;
    let mut value = 1;
    while k < 256 {
        table[k] = value;
        value = value * ROOT % P;
        k += 1;
    }
    table
};

/// `x` modulo P, for `x` below 2P.
fn reduce(x: u32) -> u32 {
    if x >= P { x - P } else { x }
}

fn power(exponent: usize) -> u32 {
    POWERS[exponent % 256]
}

/// The transform of the 128 block bytes (zero-extended to 256), plus the tweak term
/// X^255 (and X^253 in the last block), each output as its residue in -128..=128.
fn transform(block: &[u8], last: bool) -> [i32; 256] {
    let mut a = [0u32; 256];
    for (j, byte) in block.iter().enumerate() {
        a[(j as u8).reverse_bits() as usize] = u32::from(*byte);
    }
    let mut len = 2;
    while len <= 256 {
        let stride = 256 / len;
        for start in (0..256).step_by(len) {
            for k in 0..len / 2 {
                let u = a[start + k];
                let v = a[start + k + len / 2] * POWERS[k * stride] % P;
                a[start + k] = reduce(u + v);
                a[start + k + len / 2] = reduce(u + P - v);
            }
        }
        len *= 2;
    }
    std::array::from_fn(|i| {
        let mut value = a[i] + power(255 * i);
        if last {
            value += power(253 * i);
        }
        let value = (value % P) as i32;
        if value <= 128 {
            value
        } else {
            value - P as i32
        }
    })
}

/// Two transform outputs times `multiplier`, their low 16 bits side by side.
fn inner(low: i32, high: i32, multiplier: i32) -> u32 {
    ((low.wrapping_mul(multiplier) as u32) & 0xffff)
        .wrapping_add((high.wrapping_mul(multiplier) as u32) << 16)
}

fn if_(x: u32, y: u32, z: u32) -> u32 {
    ((y ^ z) & x) ^ z
}

fn maj(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | ((x | y) & z)
}

/// One step on the state (A, B, C, D as four lanes of eight words) with message words
/// `w`, Boolean function `f`, rotations `r` and `s` and lane permutation `k`.
fn step(
    state: &mut [u32; 32],
    w: &[u32],
    f: impl Fn(u32, u32, u32) -> u32,
    r: u32,
    s: u32,
    k: usize,
) {
    let rotated: [u32; 8] = std::array::from_fn(|n| state[n].rotate_left(r));
    for n in 0..8 {
        let (a, b, c, d) = (state[n], state[8 + n], state[16 + n], state[24 + n]);
        let t = d.wrapping_add(w[n]).wrapping_add(f(a, b, c));
        state[n] = t.rotate_left(s).wrapping_add(rotated[k ^ n]);
        state[24 + n] = c;
        state[16 + n] = b;
        state[8 + n] = rotated[n];
    }
}

/// The compression function on one 128-byte block.
fn compress(h: &mut [u32; 32], block: &[u8], last: bool) {
    let q = transform(block, last);
    let mut state: [u32; 32] = std::array::from_fn(|i| {
        h[i] ^ u32::from_le_bytes(block[4 * i..4 * i + 4].try_into().expect("4 bytes"))
    });
    for (round, (&(o1, o2, multiplier), rotations)) in
        ROUND_CODES.iter().zip(&ROTATIONS).enumerate()
    {
        for s in 0..8 {
            let base = (STEP_SOURCES[8 * round + s] << 4) as isize;
            let w: [u32; 8] = std::array::from_fn(|j| {
                let at = |offset: isize| q[(base + 2 * j as isize + offset) as usize];
                inner(at(o1), at(o2), multiplier)
            });
            let (r, t) = (rotations[s % 4], rotations[(s + 1) % 4]);
            if s < 4 {
                step(&mut state, &w, if_, r, t, PERMUTATIONS[round + s]);
            } else {
                step(&mut state, &w, maj, r, t, PERMUTATIONS[round + s]);
            }
        }
    }
    // The feed-forward: four more steps with the old chaining value as message.
    let old = *h;
    for (i, k) in [5, 7, 4, 1].into_iter().enumerate() {
        let (r, s) = (ROTATIONS[3][i], ROTATIONS[3][(i + 1) % 4]);
        step(&mut state, &old[8 * i..8 * i + 8], if_, r, s, k);
    }
    *h = state;
}

/// SIMD-512 of `data`.
pub(crate) fn simd512(data: &[u8]) -> [u8; 64] {
    let mut h = IV;
    for block in data.chunks(128) {
        let mut padded = [0u8; 128];
        padded[..block.len()].copy_from_slice(block);
        compress(&mut h, &padded, false);
    }
    let mut length = [0u8; 128];
    length[..8].copy_from_slice(&((data.len() as u64) * 8).to_le_bytes());
    compress(&mut h, &length, true);
    let mut out = [0u8; 64];
    for (bytes, word) in out.chunks_exact_mut(4).zip(&h[..16]) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_transform_is_the_transform() {
        let block: Vec<u8> = (0..128u32).map(|i| (i * 37 + 11) as u8).collect();
        let fast = transform(&block, false);
        for (i, value) in fast.iter().enumerate() {
            let mut sum = power(255 * i);
            for (j, byte) in block.iter().enumerate() {
                sum = (sum + u32::from(*byte) * power(i * j)) % P;
            }
            assert_eq!(value.rem_euclid(P as i32) as u32, sum, "output {i}");
            assert!((-128..=128).contains(value));
        }
    }
}
