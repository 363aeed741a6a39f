//! Bitcoin's wire encodings used to build coinbases and blocks.

/// Appends a CompactSize integer.
pub(crate) fn write_varint(out: &mut Vec<u8>, value: u64) {
    match value {
        0..=0xfc => out.push(value as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(value as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(value as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

/// Appends a script push of `data` (direct push or OP_PUSHDATA1/2).
pub(crate) fn write_push(out: &mut Vec<u8>, data: &[u8]) {
    match data.len() {
        0..=75 => out.push(data.len() as u8),
        76..=255 => out.extend_from_slice(&[0x4c, data.len() as u8]),
        _ => {
            out.push(0x4d);
            out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        }
    }
    out.extend_from_slice(data);
}

/// A number as a minimal script number push (BIP34 height, coinbase time): small values
/// 1..=16 use OP_1..OP_16, zero is OP_0, others a little-endian push with a sign byte
/// when the top bit is set.
pub(crate) fn write_script_number(out: &mut Vec<u8>, value: u64) {
    match value {
        0 => out.push(0x00),
        1..=16 => out.push(0x50 + value as u8),
        _ => {
            let mut bytes = Vec::with_capacity(9);
            let mut rest = value;
            while rest > 0 {
                bytes.push((rest & 0xff) as u8);
                rest >>= 8;
            }
            if bytes.last().is_some_and(|top| top & 0x80 != 0) {
                bytes.push(0);
            }
            write_push(out, &bytes);
        }
    }
}

/// Double SHA-256.
pub(crate) fn sha256d(data: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(Sha256::digest(data)).into()
}

/// Parses 64 hex characters of a hash in display order into internal order.
pub(crate) fn hash_from_display(text: &str) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    bytes.reverse();
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip34_heights_encode_as_consensus_requires() {
        let encode = |h| {
            let mut out = Vec::new();
            write_script_number(&mut out, h);
            hex::encode(out)
        };
        // Height 227836 is the first BIP34 block: 03fc7903.
        assert_eq!(encode(227_836), "03fc7903");
        assert_eq!(encode(102), "0166");
        assert_eq!(encode(128), "028000");
        assert_eq!(encode(16), "60");
        assert_eq!(encode(0), "00");
    }

    #[test]
    fn varints_use_the_smallest_width() {
        let encode = |v| {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            hex::encode(out)
        };
        assert_eq!(encode(0xfc), "fc");
        assert_eq!(encode(0xfd), "fdfd00");
        assert_eq!(encode(0x1_0000), "fe00000100");
    }
}
