//! The AES round SHAvite-3 and ECHO are built on: SubBytes, ShiftRows and MixColumns, with
//! AES-NI where the CPU has it (the `aes` crate's hazmat round).

use aes::hazmat::cipher_round;

/// One AES encryption round on `block` (column-major, as AES orders its state), with
/// round key `key`.
pub(crate) fn aes_round_with_key(block: &mut [u8; 16], key: &[u8; 16]) {
    let mut state = aes::Block::from(*block);
    cipher_round(&mut state, &aes::Block::from(*key));
    block.copy_from_slice(&state);
}

/// One AES encryption round with an all-zero round key.
pub(crate) fn aes_round(block: &mut [u8; 16]) {
    aes_round_with_key(block, &[0u8; 16]);
}
