//! The Salsa20 and ChaCha cores the scrypt variants mix their blocks with: a number of
//! rounds over a 16-word block, then the input added back.

fn quarter_chacha(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

fn quarter_salsa(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
    x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
    x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
    x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
}

fn add_back(block: &mut [u32; 16], mixed: [u32; 16]) {
    for (word, mixed) in block.iter_mut().zip(mixed) {
        *word = word.wrapping_add(mixed);
    }
}

/// The ChaCha core with `rounds` rounds (an even number).
pub(crate) fn chacha(block: &mut [u32; 16], rounds: usize) {
    let mut x = *block;
    for _ in 0..rounds / 2 {
        quarter_chacha(&mut x, 0, 4, 8, 12);
        quarter_chacha(&mut x, 1, 5, 9, 13);
        quarter_chacha(&mut x, 2, 6, 10, 14);
        quarter_chacha(&mut x, 3, 7, 11, 15);
        quarter_chacha(&mut x, 0, 5, 10, 15);
        quarter_chacha(&mut x, 1, 6, 11, 12);
        quarter_chacha(&mut x, 2, 7, 8, 13);
        quarter_chacha(&mut x, 3, 4, 9, 14);
    }
    add_back(block, x);
}

/// The Salsa20 core with `rounds` rounds (an even number).
pub(crate) fn salsa(block: &mut [u32; 16], rounds: usize) {
    let mut x = *block;
    for _ in 0..rounds / 2 {
        quarter_salsa(&mut x, 0, 4, 8, 12);
        quarter_salsa(&mut x, 5, 9, 13, 1);
        quarter_salsa(&mut x, 10, 14, 2, 6);
        quarter_salsa(&mut x, 15, 3, 7, 11);
        quarter_salsa(&mut x, 0, 1, 2, 3);
        quarter_salsa(&mut x, 5, 6, 7, 4);
        quarter_salsa(&mut x, 10, 11, 8, 9);
        quarter_salsa(&mut x, 15, 12, 13, 14);
    }
    add_back(block, x);
}
