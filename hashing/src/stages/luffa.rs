//! Luffa-512 (De Cannière, Sato, Watanabe; SHA-3 round 2): five 256-bit sub-permutations.

/// The starting chaining values V0 … V4.
const INIT: [[u32; 8]; 5] = [
    [
        0x6d25_1e69,
        0x44b0_51e0,
        0x4eaa_6fb4,
        0xdbf7_8465,
        0x6e29_2011,
        0x9015_2df4,
        0xee05_8139,
        0xdef6_10bb,
    ],
    [
        0xc3b4_4b95,
        0xd9d2_f256,
        0x70ee_e9a0,
        0xde09_9fa3,
        0x5d9b_0557,
        0x8fc9_44b3,
        0xcf1c_cf0e,
        0x746c_d581,
    ],
    [
        0xf7ef_c89d,
        0x5dba_5781,
        0x0401_6ce5,
        0xad65_9c05,
        0x0306_194f,
        0x666d_1836,
        0x24aa_230a,
        0x8b26_4ae7,
    ],
    [
        0x8580_75d5,
        0x36d7_9cce,
        0xe571_f7d7,
        0x204b_1f67,
        0x3587_0c6a,
        0x57e9_e923,
        0x14bc_b808,
        0x7cde_72ce,
    ],
    [
        0x6c68_e9be,
        0x5ec4_1e22,
        0xc825_b7c7,
        0xaffb_4363,
        0xf5df_3999,
        0x0fc6_88f1,
        0xb072_24cc,
        0x03e8_6cea,
    ],
];

/// Step constants of each sub-permutation: those added to word 0, then to word 4.
const STEP_CONSTANTS: [[[u32; 8]; 2]; 5] = [
    [
        [
            0x3039_94a6,
            0xc0e6_5299,
            0x6cc3_3a12,
            0xdc56_983e,
            0x1e00_108f,
            0x7800_423d,
            0x8f5b_7882,
            0x96e1_db12,
        ],
        [
            0xe033_7818,
            0x441b_a90d,
            0x7f34_d442,
            0x9389_217f,
            0xe5a8_bce6,
            0x5274_baf4,
            0x2688_9ba7,
            0x9a22_6e9d,
        ],
    ],
    [
        [
            0xb6de_10ed,
            0x70f4_7aae,
            0x0707_a3d4,
            0x1c1e_8f51,
            0x707a_3d45,
            0xaeb2_8562,
            0xbaca_1589,
            0x40a4_6f3e,
        ],
        [
            0x0168_5f3d,
            0x05a1_7cf4,
            0xbd09_caca,
            0xf427_2b28,
            0x144a_e5cc,
            0xfaa7_ae2b,
            0x2e48_f1c1,
            0xb923_c704,
        ],
    ],
    [
        [
            0xfc20_d9d2,
            0x3455_2e25,
            0x7ad8_818f,
            0x8438_764a,
            0xbb6d_e032,
            0xedb7_80c8,
            0xd984_7356,
            0xa2c7_8434,
        ],
        [
            0xe25e_72c1,
            0xe623_bb72,
            0x5c58_a4a4,
            0x1e38_e2e7,
            0x78e3_8b9d,
            0x2758_6719,
            0x36ed_a57f,
            0x703a_ace7,
        ],
    ],
    [
        [
            0xb213_afa5,
            0xc84e_be95,
            0x4e60_8a22,
            0x56d8_58fe,
            0x343b_138f,
            0xd0ec_4e3d,
            0x2ceb_4882,
            0xb3ad_2208,
        ],
        [
            0xe028_c9bf,
            0x4475_6f91,
            0x7e8f_ce32,
            0x9565_48be,
            0xfe19_1be2,
            0x3cb2_26e5,
            0x5944_a28e,
            0xa1c4_c355,
        ],
    ],
    [
        [
            0xf0d2_e9e3,
            0xac11_d7fa,
            0x1bcb_66f2,
            0x6f2d_9bc9,
            0x7860_2649,
            0x8eda_e952,
            0x3b6b_a548,
            0xedae_9520,
        ],
        [
            0x5090_d577,
            0x2d19_25ab,
            0xb464_96ac,
            0xd192_5ab0,
            0x2913_1ab6,
            0x0fc0_53c3,
            0x3f01_4f0c,
            0xfc05_3c31,
        ],
    ],
];

type Word8 = [u32; 8];

/// Multiplication by x in the ring the message injection works in.
fn times_two(s: &Word8) -> Word8 {
    let top = s[7];
    [
        top,
        s[0] ^ top,
        s[1],
        s[2] ^ top,
        s[3] ^ top,
        s[4],
        s[5],
        s[6],
    ]
}

fn xor(a: &Word8, b: &Word8) -> Word8 {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// The message injection of Luffa-512 (w = 5).
fn inject(v: &mut [Word8; 5], block: &[u8]) {
    let mut a = v.iter().fold([0u32; 8], |acc, x| xor(&acc, x));
    a = times_two(&a);
    for word in v.iter_mut() {
        *word = xor(word, &a);
    }
    let b = xor(&times_two(&v[0]), &v[1]);
    v[1] = xor(&times_two(&v[1]), &v[2]);
    v[2] = xor(&times_two(&v[2]), &v[3]);
    v[3] = xor(&times_two(&v[3]), &v[4]);
    v[4] = xor(&times_two(&v[4]), &v[0]);
    v[0] = xor(&times_two(&b), &v[4]);
    v[4] = xor(&times_two(&v[4]), &v[3]);
    v[3] = xor(&times_two(&v[3]), &v[2]);
    v[2] = xor(&times_two(&v[2]), &v[1]);
    v[1] = xor(&times_two(&v[1]), &b);
    let mut m: Word8 = std::array::from_fn(|i| {
        u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().expect("4 bytes"))
    });
    for word in v.iter_mut() {
        *word = xor(word, &m);
        m = times_two(&m);
    }
}

/// The 4-bit S-box, bitsliced over four words.
fn sub_crumb(a: &mut Word8, [i0, i1, i2, i3]: [usize; 4]) {
    let tmp = a[i0];
    a[i0] |= a[i1];
    a[i2] ^= a[i3];
    a[i1] = !a[i1];
    a[i0] ^= a[i3];
    a[i3] &= tmp;
    a[i1] ^= a[i3];
    a[i3] ^= a[i2];
    a[i2] &= a[i0];
    a[i0] = !a[i0];
    a[i2] ^= a[i1];
    a[i1] |= a[i3];
    let tmp = tmp ^ a[i1];
    a[i3] ^= a[i2];
    a[i2] &= a[i1];
    a[i1] ^= a[i0];
    a[i0] = tmp;
}

fn mix_word(a: &mut Word8, u: usize, v: usize) {
    a[v] ^= a[u];
    a[u] = a[u].rotate_left(2) ^ a[v];
    a[v] = a[v].rotate_left(14) ^ a[u];
    a[u] = a[u].rotate_left(10) ^ a[v];
    a[v] = a[v].rotate_left(1);
}

/// The tweak, then eight steps of each sub-permutation.
fn permute(v: &mut [Word8; 5]) {
    for (j, word) in v.iter_mut().enumerate().skip(1) {
        for x in &mut word[4..] {
            *x = x.rotate_left(j as u32);
        }
    }
    for (word, constants) in v.iter_mut().zip(&STEP_CONSTANTS) {
        for (&even, &odd) in constants[0].iter().zip(&constants[1]) {
            sub_crumb(word, [0, 1, 2, 3]);
            sub_crumb(word, [5, 6, 7, 4]);
            for k in 0..4 {
                mix_word(word, k, k + 4);
            }
            word[0] ^= even;
            word[4] ^= odd;
        }
    }
}

/// Luffa-512 of `data`.
pub(crate) fn luffa512(data: &[u8]) -> [u8; 64] {
    let mut v = INIT;
    let mut padded = data.to_vec();
    padded.push(0x80);
    padded.resize(padded.len().div_ceil(32) * 32, 0);
    for block in padded.chunks_exact(32) {
        inject(&mut v, block);
        permute(&mut v);
    }
    // Two blank rounds, each giving out half of the digest.
    let mut out = [0u8; 64];
    for half in out.chunks_exact_mut(32) {
        inject(&mut v, &[0u8; 32]);
        permute(&mut v);
        let sum = v.iter().fold([0u32; 8], |acc, x| xor(&acc, x));
        for (bytes, word) in half.chunks_exact_mut(4).zip(sum) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
    }
    out
}
