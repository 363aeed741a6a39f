//! CubeHash-512 with 16 rounds per 32-byte block (Bernstein's CubeHash16/32-512, the
//! revision the X11 family uses).

/// Rounds per block, and ten times that at the start and at the end.
const ROUNDS: usize = 16;
/// Bytes per message block.
const BLOCK: usize = 32;

/// One CubeHash round on the 32-word state (word `i` is x[ajklm], `a` its bit 4): two
/// halves of add, rotate, swap, xor, swap, with the spec's rotations and swapped bits.
fn round(x: &mut [u32; 32]) {
    for (rotation, first_swap, second_swap) in [(7, 8, 2), (11, 4, 1)] {
        for i in 0..16 {
            x[i + 16] = x[i + 16].wrapping_add(x[i]);
            x[i] = x[i].rotate_left(rotation);
        }
        for i in 0..16 {
            if i & first_swap == 0 {
                x.swap(i, i | first_swap);
            }
        }
        for i in 0..16 {
            x[i] ^= x[i + 16];
        }
        for i in 16..32 {
            if i & second_swap == 0 {
                x.swap(i, i | second_swap);
            }
        }
    }
}

/// The state after the initial 10·r rounds from (h/8, b, r) = (64, 32, 16).
fn initial_state() -> [u32; 32] {
    let mut x = [0u32; 32];
    x[0] = 512 / 8;
    x[1] = BLOCK as u32;
    x[2] = ROUNDS as u32;
    for _ in 0..10 * ROUNDS {
        round(&mut x);
    }
    x
}

/// CubeHash16/32-512 of `data`.
pub(crate) fn cubehash512(data: &[u8]) -> [u8; 64] {
    let mut x = initial_state();
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
        for (word, bytes) in x.iter_mut().zip(block.chunks_exact(4)) {
            *word ^= u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
        }
        for _ in 0..ROUNDS {
            round(&mut x);
        }
    }
    x[31] ^= 1;
    for _ in 0..10 * ROUNDS {
        round(&mut x);
    }
    let mut out = [0u8; 64];
    for (bytes, word) in out.chunks_exact_mut(4).zip(x) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_state_is_the_published_iv() {
        let x = initial_state();
        assert_eq!(
            &x[..4],
            &[0x2aea_2a61, 0x50f4_94d4, 0x2d53_8b8b, 0x4167_d83e]
        );
        assert_eq!(x[31], 0xd43e_3b44);
    }
}
