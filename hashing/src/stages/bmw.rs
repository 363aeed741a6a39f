//! Blue Midnight Wish, BMW-512 (Gligoroski et al., SHA-3 round-2 tweak), as the X11 family
//! chains it.

/// The terms of each W word: indexes into M ⊕ H, each added (`true`) or subtracted.
const W_TERMS: [[(usize, bool); 5]; 16] = [
    [(5, true), (7, false), (10, true), (13, true), (14, true)],
    [(6, true), (8, false), (11, true), (14, true), (15, false)],
    [(0, true), (7, true), (9, true), (12, false), (15, true)],
    [(0, true), (1, false), (8, true), (10, false), (13, true)],
    [(1, true), (2, true), (9, true), (11, false), (14, false)],
    [(3, true), (2, false), (10, true), (12, false), (15, true)],
    [(4, true), (0, false), (3, false), (11, false), (13, true)],
    [(1, true), (4, false), (5, false), (12, false), (14, false)],
    [(2, true), (5, false), (6, false), (13, true), (15, false)],
    [(0, true), (3, false), (6, true), (7, false), (14, true)],
    [(8, true), (1, false), (4, false), (7, false), (15, true)],
    [(8, true), (0, false), (2, false), (5, false), (9, true)],
    [(1, true), (3, true), (6, false), (9, false), (10, true)],
    [(2, true), (4, true), (7, true), (10, true), (11, true)],
    [(3, true), (5, false), (8, true), (11, false), (12, false)],
    [(12, true), (4, false), (6, false), (9, false), (13, true)],
];

/// s0 … s5: the spec's shift-and-rotate mixers.
fn s(which: usize, x: u64) -> u64 {
    match which {
        0 => (x >> 1) ^ (x << 3) ^ x.rotate_left(4) ^ x.rotate_left(37),
        1 => (x >> 1) ^ (x << 2) ^ x.rotate_left(13) ^ x.rotate_left(43),
        2 => (x >> 2) ^ (x << 1) ^ x.rotate_left(19) ^ x.rotate_left(53),
        3 => (x >> 2) ^ (x << 2) ^ x.rotate_left(28) ^ x.rotate_left(59),
        4 => (x >> 1) ^ x,
        _ => (x >> 2) ^ x,
    }
}

/// The message term of expanded word 16 + j.
fn add_element(m: &[u64; 16], h: &[u64; 16], j: usize) -> u64 {
    let rotated = |k: usize| m[k % 16].rotate_left((k % 16) as u32 + 1);
    let constant = ((j + 16) as u64).wrapping_mul(0x0555_5555_5555_5555);
    (rotated(j)
        .wrapping_add(rotated(j + 3))
        .wrapping_sub(rotated(j + 10))
        .wrapping_add(constant))
        ^ h[(j + 7) % 16]
}

/// The compression function: chaining value `h`, message block `m`.
fn compress(m: &[u64; 16], h: &[u64; 16]) -> [u64; 16] {
    let mut q = [0u64; 32];
    for (j, terms) in W_TERMS.iter().enumerate() {
        let w = terms.iter().fold(0u64, |acc, &(i, add)| {
            let term = m[i] ^ h[i];
            if add {
                acc.wrapping_add(term)
            } else {
                acc.wrapping_sub(term)
            }
        });
        q[j] = s(j % 5, w).wrapping_add(h[(j + 1) % 16]);
    }
    for j in 16..32 {
        let sum = if j < 18 {
            (0..16).fold(0u64, |acc, k| {
                acc.wrapping_add(s((k + 1) % 4, q[j - 16 + k]))
            })
        } else {
            let rotations = [5, 11, 27, 32, 37, 43, 53];
            let mut acc = 0u64;
            for (k, rotation) in rotations.iter().enumerate() {
                acc = acc
                    .wrapping_add(q[j - 16 + 2 * k])
                    .wrapping_add(q[j - 15 + 2 * k].rotate_left(*rotation));
            }
            acc.wrapping_add(s(4, q[j - 2]))
                .wrapping_add(s(5, q[j - 1]))
        };
        q[j] = sum.wrapping_add(add_element(m, h, j - 16));
    }
    let xl = q[16..24].iter().fold(0, |acc, x| acc ^ x);
    let xh = xl ^ q[24..32].iter().fold(0, |acc, x| acc ^ x);
    let mut out = [0u64; 16];
    // (xh shifted, q[16 + i] shifted) for the first eight words: positive is left.
    let shifts: [(i32, i32); 8] = [
        (5, -5),
        (-7, 8),
        (-5, 5),
        (-1, 5),
        (-3, 0),
        (6, -6),
        (-4, 6),
        (-11, 2),
    ];
    let shift = |x: u64, by: i32| if by >= 0 { x << by } else { x >> -by };
    for (i, (by_xh, by_q)) in shifts.iter().enumerate() {
        out[i] = (shift(xh, *by_xh) ^ shift(q[16 + i], *by_q) ^ m[i])
            .wrapping_add(xl ^ q[24 + i] ^ q[i]);
    }
    let xl_shifts = [8, -6, 6, 4, -3, -4, -7, -2];
    let partners = [23, 16, 17, 18, 19, 20, 21, 22];
    for i in 8..16 {
        out[i] = out[(i - 4) % 8]
            .rotate_left(i as u32 + 1)
            .wrapping_add(xh ^ q[16 + i] ^ m[i])
            .wrapping_add(shift(xl, xl_shifts[i - 8]) ^ q[partners[i - 8]] ^ q[i]);
    }
    out
}

fn words(block: &[u8]) -> [u64; 16] {
    std::array::from_fn(|i| {
        u64::from_le_bytes(block[8 * i..8 * i + 8].try_into().expect("8 bytes"))
    })
}

/// BMW-512 of `data`.
pub(crate) fn bmw512(data: &[u8]) -> [u8; 64] {
    let mut h: [u64; 16] =
        std::array::from_fn(|i| 0x8081_8283_8485_8687u64 + 0x0808_0808_0808_0808 * i as u64);
    // The message, 0x80, zeros, and its length in bits (little-endian) in the last 8 bytes.
    let blocks = (data.len() + 1 + 8).div_ceil(128);
    let mut padded = vec![0u8; blocks * 128];
    padded[..data.len()].copy_from_slice(data);
    padded[data.len()] = 0x80;
    let end = padded.len();
    padded[end - 8..].copy_from_slice(&((data.len() as u64) * 8).to_le_bytes());
    for block in padded.chunks_exact(128) {
        h = compress(&words(block), &h);
    }
    // A last compression of the chaining value under a fixed key.
    let key: [u64; 16] = std::array::from_fn(|i| 0xaaaa_aaaa_aaaa_aaa0 + i as u64);
    let last = compress(&h, &key);
    let mut out = [0u8; 64];
    for (bytes, word) in out.chunks_exact_mut(8).zip(&last[8..]) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}
