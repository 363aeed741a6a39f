//! CubeHash-512 with 16 rounds per 32-byte block (Bernstein's CubeHash16/32-512, the
//! revision the X11 family uses).

/// Rounds per block, and ten times that at the start and at the end.
const ROUNDS: usize = 16;
/// Bytes per message block.
const BLOCK: usize = 32;

/// Four state words side by side, so a round's word-wise steps become vector operations.
type Quad = [u32; 4];

/// The state: x[ajklm] is `state[4a + 2j + k][2l + m]`.
type State = [Quad; 8];

const fn add(a: Quad, b: Quad) -> Quad {
    [
        a[0].wrapping_add(b[0]),
        a[1].wrapping_add(b[1]),
        a[2].wrapping_add(b[2]),
        a[3].wrapping_add(b[3]),
    ]
}

const fn xor(a: Quad, b: Quad) -> Quad {
    [a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]]
}

const fn rotate(a: Quad, bits: u32) -> Quad {
    [
        a[0].rotate_left(bits),
        a[1].rotate_left(bits),
        a[2].rotate_left(bits),
        a[3].rotate_left(bits),
    ]
}

/// One CubeHash round, in the spec's ten steps: add, rotate by 7, swap on j, xor, swap on
/// l; add, rotate by 11, swap on k, xor, swap on m.
const fn round(x: &mut State) {
    let mut g = 0;
    while g < 4 {
        x[4 + g] = add(x[4 + g], x[g]);
        x[g] = rotate(x[g], 7);
        g += 1;
    }
    let (a0, a1, a2, a3) = (x[0], x[1], x[2], x[3]);
    x[0] = xor(a2, x[4]);
    x[1] = xor(a3, x[5]);
    x[2] = xor(a0, x[6]);
    x[3] = xor(a1, x[7]);
    g = 4;
    while g < 8 {
        let q = x[g];
        x[g] = [q[2], q[3], q[0], q[1]];
        g += 1;
    }
    g = 0;
    while g < 4 {
        x[4 + g] = add(x[4 + g], x[g]);
        x[g] = rotate(x[g], 11);
        g += 1;
    }
    let (a0, a1, a2, a3) = (x[0], x[1], x[2], x[3]);
    x[0] = xor(a1, x[4]);
    x[1] = xor(a0, x[5]);
    x[2] = xor(a3, x[6]);
    x[3] = xor(a2, x[7]);
    g = 4;
    while g < 8 {
        let q = x[g];
        x[g] = [q[1], q[0], q[3], q[2]];
        g += 1;
    }
}

/// The state after the initial 10·r rounds from (h/8, b, r) = (64, 32, 16), computed at
/// compile time.
const INITIAL_STATE: State = {
    let mut x = [[0u32; 4]; 8];
    x[0] = [512 / 8, BLOCK as u32, ROUNDS as u32, 0];
    let mut r = 0;
    while r < 10 * ROUNDS {
        round(&mut x);
        r += 1;
    }
    x
};

/// CubeHash16/32-512 of `data`.
pub(crate) fn cubehash512(data: &[u8]) -> [u8; 64] {
    let mut x = INITIAL_STATE;
    let blocks = data.len() / BLOCK + 1;
    for index in 0..blocks {
        let mut block = [0u8; BLOCK];
        let start = index * BLOCK;
        let end = data.len().min(start + BLOCK);
        if start < data.len() {
            block[..end - start].copy_from_slice(&data[start..end]);
        }
        if index == blocks - 1 {
            block[end.saturating_sub(start)] = 0x80;
        }
        for (word, bytes) in x.as_flattened_mut().iter_mut().zip(block.chunks_exact(4)) {
            *word ^= u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
        }
        for _ in 0..ROUNDS {
            round(&mut x);
        }
    }
    x[7][3] ^= 1;
    for _ in 0..10 * ROUNDS {
        round(&mut x);
    }
    let mut out = [0u8; 64];
    for (bytes, word) in out.chunks_exact_mut(4).zip(x.as_flattened()) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_state_is_the_published_iv() {
        let x = INITIAL_STATE;
        assert_eq!(x[0], [0x2aea_2a61, 0x50f4_94d4, 0x2d53_8b8b, 0x4167_d83e]);
        assert_eq!(x[7][3], 0xd43e_3b44);
    }
}
