//! Extranonces: the bytes of the coinbase that the pool (extranonce1) and the miner
//! (extranonce2) choose.

use std::fmt;

/// The most extranonce bytes of either kind nomp-rs hands out or takes back.
pub const MAX_EXTRANONCE_SIZE: usize = 8;

/// Up to [`MAX_EXTRANONCE_SIZE`] extranonce bytes, kept inline so a share check allocates
/// nothing for them. Its size is part of its value: `00` and `0000` differ.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extranonce {
    len: u8,
    bytes: [u8; MAX_EXTRANONCE_SIZE],
}

impl Extranonce {
    /// The bytes as given; `None` past [`MAX_EXTRANONCE_SIZE`].
    pub fn from_slice(bytes: &[u8]) -> Option<Extranonce> {
        let mut out = [0u8; MAX_EXTRANONCE_SIZE];
        out.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Extranonce {
            len: bytes.len() as u8,
            bytes: out,
        })
    }

    /// Parses hex that must be exactly `size` bytes (`2 × size` hex digits, either case).
    pub fn from_hex(text: &str, size: usize) -> Option<Extranonce> {
        if text.len() != size * 2 || size > MAX_EXTRANONCE_SIZE {
            return None;
        }
        let mut bytes = [0u8; MAX_EXTRANONCE_SIZE];
        hex::decode_to_slice(text, &mut bytes[..size]).ok()?;
        Some(Extranonce {
            len: size as u8,
            bytes,
        })
    }

    /// The low `size` bytes of `value`, big-endian: the `value`-th extranonce of that size.
    pub fn from_counter(value: u64, size: usize) -> Extranonce {
        let size = size.min(MAX_EXTRANONCE_SIZE);
        let all = value.to_be_bytes();
        let mut bytes = [0u8; MAX_EXTRANONCE_SIZE];
        bytes[..size].copy_from_slice(&all[MAX_EXTRANONCE_SIZE - size..]);
        Extranonce {
            len: size as u8,
            bytes,
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for Extranonce {
    /// Lowercase hex, as stratum sends it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.as_bytes() {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Extranonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Extranonce({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_must_have_the_exact_size() {
        let two = Extranonce::from_hex("ABcd", 2).unwrap();
        assert_eq!(two.as_bytes(), [0xab, 0xcd]);
        assert_eq!(two.to_string(), "abcd");
        assert_eq!(Extranonce::from_hex("abcd", 4), None);
        assert_eq!(Extranonce::from_hex("abcdef", 2), None);
        assert_eq!(Extranonce::from_hex("zzzz", 2), None);
        assert_eq!(Extranonce::from_hex(&"00".repeat(9), 9), None);
    }

    #[test]
    fn the_size_is_part_of_the_value() {
        assert_ne!(
            Extranonce::from_slice(&[0]).unwrap(),
            Extranonce::from_slice(&[0, 0]).unwrap()
        );
        assert_eq!(Extranonce::from_slice(&[0; 9]), None);
    }

    #[test]
    fn counters_keep_their_low_bytes() {
        assert_eq!(
            Extranonce::from_counter(0x0102_0304, 2).as_bytes(),
            [0x03, 0x04]
        );
        assert_eq!(
            Extranonce::from_counter(0x0102_0304, 4).as_bytes(),
            [1, 2, 3, 4]
        );
    }
}
