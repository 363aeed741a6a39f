//! Fugue-256 and Fugue-512 (Halevi, Hall, Jutla; SHA-3 round 2): a rotating state of
//! 32-bit columns mixed by AES's S-box and Fugue's super-mix.

/// AES's S-box, computed: the inverse in GF(2^8) (0 for 0), then the affine map.
const SBOX: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut x = 0;
    while x < 256 {
        // x^254 is x's inverse.
        let (mut result, mut base, mut exponent) = (1u8, x as u8, 254u32);
        while exponent > 0 {
            if exponent & 1 == 1 {
                result = gf_mul(result, base);
            }
            base = gf_mul(base, base);
            exponent >>= 1;
        }
        let b = if x == 0 { 0 } else { result };
        table[x] =
            b ^ b.rotate_left(1) ^ b.rotate_left(2) ^ b.rotate_left(3) ^ b.rotate_left(4) ^ 0x63;
        x += 1;
    }
    table
};

/// Multiplication in AES's GF(2^8).
const fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0;
    while b != 0 {
        if b & 1 == 1 {
            product ^= a;
        }
        let high = a & 0x80;
        a <<= 1;
        if high != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    product
}

/// S-box output s spread as the super-mix's first column takes it: (s, s, 7·s, 4·s).
const MIX: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut x = 0;
    while x < 256 {
        let s = SBOX[x];
        table[x] = u32::from_be_bytes([s, s, gf_mul(s, 7), gf_mul(s, 4)]);
        x += 1;
    }
    table
};

fn mix(k: usize, byte: u32) -> u32 {
    MIX[(byte & 0xff) as usize].rotate_right(8 * k as u32)
}

/// SMIX on the first four columns of `s`.
fn smix(s: &mut [u32]) {
    let x = [s[0], s[1], s[2], s[3]];
    let byte = |word: u32, k: usize| word >> (24 - 8 * k);
    let c: [u32; 4] = std::array::from_fn(|j| (0..4).fold(0, |acc, k| acc ^ mix(k, byte(x[j], k))));
    let r: [u32; 4] = std::array::from_fn(|k| {
        (0..4)
            .filter(|&j| j != k)
            .fold(0, |acc, j| acc ^ mix(k, byte(x[j], k)))
    });
    let (hi, b1, b2, lo) = (
        0xff00_0000u32,
        0x00ff_0000u32,
        0x0000_ff00u32,
        0x0000_00ffu32,
    );
    s[0] =
        ((c[0] ^ r[0]) & hi) | ((c[1] ^ r[1]) & b1) | ((c[2] ^ r[2]) & b2) | ((c[3] ^ r[3]) & lo);
    s[1] = ((c[1] ^ (r[0] << 8)) & hi)
        | ((c[2] ^ (r[1] << 8)) & b1)
        | ((c[3] ^ (r[2] << 8)) & b2)
        | ((c[0] ^ (r[3] >> 24)) & lo);
    s[2] = ((c[2] ^ (r[0] << 16)) & hi)
        | ((c[3] ^ (r[1] << 16)) & b1)
        | ((c[0] ^ (r[2] >> 16)) & b2)
        | ((c[1] ^ (r[3] >> 16)) & lo);
    s[3] = ((c[3] ^ (r[0] << 24)) & hi)
        | ((c[0] ^ (r[1] >> 8)) & b1)
        | ((c[1] ^ (r[2] >> 8)) & b2)
        | ((c[2] ^ (r[3] >> 8)) & lo);
}

/// ROR3, CMIX and SMIX: the sub-round both widths repeat, `cmix_at` being where CMIX adds
/// columns 4 … 6 a second time (15 for Fugue-256, 18 for Fugue-512).
fn sub_round(s: &mut [u32], cmix_at: usize) {
    s.rotate_right(3);
    for i in 0..3 {
        s[i] ^= s[4 + i];
        s[cmix_at + i] ^= s[4 + i];
    }
    smix(s);
}

/// The message as Fugue reads it: big-endian words, the last one zero-filled, then the
/// length in bits as two more words.
fn words(data: &[u8]) -> Vec<u32> {
    let mut out: Vec<u32> = data
        .chunks(4)
        .map(|chunk| {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            u32::from_be_bytes(word)
        })
        .collect();
    let bits = (data.len() as u64) * 8;
    out.extend([(bits >> 32) as u32, bits as u32]);
    out
}

/// Fugue-256 of `data`.
pub(crate) fn fugue256(data: &[u8]) -> [u8; 32] {
    let mut s = [0u32; 30];
    s[22..].copy_from_slice(&[
        0xe952_bdde,
        0x6671_135f,
        0xe0d4_f668,
        0xd2b0_b594,
        0xf96c_621d,
        0xfbf9_29de,
        0x9149_e899,
        0x34f8_c248,
    ]);
    for word in words(data) {
        s[10] ^= s[0];
        s[0] = word;
        s[8] ^= s[0];
        s[1] ^= s[24];
        for _ in 0..2 {
            sub_round(&mut s, 15);
        }
    }
    for _ in 0..10 {
        sub_round(&mut s, 15);
    }
    for _ in 0..13 {
        for (second, turn) in [(15, 15), (16, 14)] {
            s[4] ^= s[0];
            s[second] ^= s[0];
            s.rotate_right(turn);
            smix(&mut s);
        }
    }
    s[4] ^= s[0];
    s[15] ^= s[0];
    let mut out = [0u8; 32];
    for (bytes, word) in out.chunks_exact_mut(4).zip([1, 2, 3, 4, 15, 16, 17, 18]) {
        bytes.copy_from_slice(&s[word].to_be_bytes());
    }
    out
}

/// Fugue-512 of `data`.
pub(crate) fn fugue512(data: &[u8]) -> [u8; 64] {
    let mut s = [0u32; 36];
    s[20..].copy_from_slice(&[
        0x8807_a57e,
        0xe616_af75,
        0xc5d3_e4db,
        0xac9a_b027,
        0xd915_f117,
        0xb6ee_cc54,
        0x06e8_020b,
        0x4a92_efd1,
        0xaac6_e2c9,
        0xddb2_1398,
        0xcae6_5838,
        0x437f_203f,
        0x25ea_78e7,
        0x951f_ddd6,
        0xda6e_d11d,
        0xe13e_3567,
    ]);
    for word in words(data) {
        s[22] ^= s[0];
        s[0] = word;
        s[8] ^= s[0];
        s[1] ^= s[24];
        s[4] ^= s[27];
        s[7] ^= s[30];
        for _ in 0..4 {
            sub_round(&mut s, 18);
        }
    }
    for _ in 0..32 {
        sub_round(&mut s, 18);
    }
    // Each of the 13 rounds: four steps adding S0 to column 4 and three others, then
    // turning the state by 9, 9, 9 and 8 columns.
    let steps: [([usize; 3], usize); 4] = [
        ([9, 18, 27], 9),
        ([10, 18, 27], 9),
        ([10, 19, 27], 9),
        ([10, 19, 28], 8),
    ];
    for _ in 0..13 {
        for (columns, turn) in steps {
            s[4] ^= s[0];
            for column in columns {
                s[column] ^= s[0];
            }
            s.rotate_right(turn);
            smix(&mut s);
        }
    }
    s[4] ^= s[0];
    for column in [9, 18, 27] {
        s[column] ^= s[0];
    }
    let mut out = [0u8; 64];
    let picked = [1, 2, 3, 4, 9, 10, 11, 12, 18, 19, 20, 21, 27, 28, 29, 30];
    for (bytes, word) in out.chunks_exact_mut(4).zip(picked) {
        bytes.copy_from_slice(&s[word].to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_computed_s_box_is_aes() {
        assert_eq!(&SBOX[..4], &[0x63, 0x7c, 0x77, 0x7b]);
        assert_eq!(SBOX[0x53], 0xed);
        assert_eq!(SBOX[0xff], 0x16);
    }
}
