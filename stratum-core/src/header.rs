//! The block header and the block as bytes, and stratum's word-swapped prevhash: shared by
//! the server's jobs and the client's.

use crate::serialize::write_varint;

/// The block header: version ‖ previous hash ‖ merkle root ‖ time ‖ bits ‖ nonce, integers
/// little-endian and hashes in internal order.
pub fn header_bytes(
    version: u32,
    previous_hash: &[u8; 32],
    merkle_root: &[u8; 32],
    ntime: u32,
    bits: u32,
    nonce: u32,
) -> [u8; 80] {
    let mut header = [0u8; 80];
    header[..4].copy_from_slice(&version.to_le_bytes());
    header[4..36].copy_from_slice(previous_hash);
    header[36..68].copy_from_slice(merkle_root);
    header[68..72].copy_from_slice(&ntime.to_le_bytes());
    header[72..76].copy_from_slice(&bits.to_le_bytes());
    header[76..80].copy_from_slice(&nonce.to_le_bytes());
    header
}

/// A block: header ‖ transaction count ‖ coinbase ‖ the other transactions.
pub fn serialize_block(header: &[u8; 80], coinbase: &[u8], transactions: &[Vec<u8>]) -> Vec<u8> {
    let size = 80 + 9 + coinbase.len() + transactions.iter().map(Vec::len).sum::<usize>();
    let mut block = Vec::with_capacity(size);
    block.extend_from_slice(header);
    write_varint(&mut block, 1 + transactions.len() as u64);
    block.extend_from_slice(coinbase);
    for tx in transactions {
        block.extend_from_slice(tx);
    }
    block
}

/// Stratum's prevhash: the internal-order hash with the bytes of each 4-byte word swapped,
/// which reads as the display-order hash with its word order reversed (so a mainnet hash
/// ends in zeros). Miners swap each word back to get the header's bytes; the swap is its
/// own inverse, so the client decodes with the same function.
pub(crate) fn notify_prevhash(hash: &[u8; 32]) -> [u8; 32] {
    let mut out = *hash;
    for word in out.chunks_mut(4) {
        word.reverse();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serialize::hash_from_display;

    #[test]
    fn notify_prevhash_reverses_the_word_order_of_the_display_hash() {
        // What cgminer-family miners expect: swapping each word's bytes back gives the
        // header's internal-order bytes, and the display hash's leading zeros come last.
        let display = "000000000002d01c1fccc21636b607dfd930d31d01c3a62104612a1719011250";
        let internal = hash_from_display(display).unwrap();
        let notify = notify_prevhash(&internal);
        assert_eq!(
            hex::encode(notify),
            "1901125004612a1701c3a621d930d31d36b607df1fccc2160002d01c00000000"
        );
        assert_eq!(notify_prevhash(&notify), internal);
    }
}
