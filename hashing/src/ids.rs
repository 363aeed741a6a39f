//! 32-byte chain ids shown byte-reversed (block hashes, txids, proof-of-work hashes) and
//! compact `bits`: typed where values cross crates, hex only at the wire.

use std::fmt;
use std::str::FromStr;

use crate::error::HashingError;
use crate::target::Target;

/// Defines a 32-byte value kept in internal order and shown byte-reversed, as daemons and
/// block explorers print hashes.
macro_rules! reversed_hex_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps bytes in internal order (as hashed, as serialised in blocks).
            pub const fn from_internal(bytes: [u8; 32]) -> Self {
                $name(bytes)
            }

            /// The bytes in internal order.
            pub const fn as_internal(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_reversed(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = HashingError;

            /// Parses the display form (64 hex characters, byte-reversed).
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_reversed(text).map($name)
            }
        }
    };
}

reversed_hex_id!(
    /// A proof-of-work hash: 32 bytes in *internal* order, exactly as the hash function
    /// wrote them. As a number it is little-endian; block explorers and daemons display
    /// it byte-reversed, which is what [`fmt::Display`] and [`FromStr`] use.
    PowHash
);

reversed_hex_id!(
    /// A block's id: the hash daemons name it by (`getblock`, `previousblockhash`), which
    /// for most coins is its proof-of-work hash and for some the header's sha256d.
    BlockHash
);

reversed_hex_id!(
    /// A transaction id (sha256d of the transaction without witness data).
    Txid
);

fn write_reversed(bytes: &[u8; 32], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut display = *bytes;
    display.reverse();
    f.write_str(&hex::encode(display))
}

fn parse_reversed(text: &str) -> Result<[u8; 32], HashingError> {
    let mut bytes = crate::target::parse_hex256(text)?;
    bytes.reverse();
    Ok(bytes)
}

/// A target in compact form (a header's `bits`), shown as 8 hex digits as templates and
/// `mining.notify` carry it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompactTarget(u32);

impl CompactTarget {
    /// Wraps a header's `bits` word.
    pub const fn new(bits: u32) -> Self {
        CompactTarget(bits)
    }

    /// The `bits` word, as the header holds it.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The target it encodes; an error for negative or over-wide encodings.
    pub fn target(self) -> Result<Target, HashingError> {
        Target::from_compact(self.0)
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompactTarget({self})")
    }
}

impl FromStr for CompactTarget {
    type Err = HashingError;

    /// Parses 8 hex digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || HashingError::InvalidCompact {
            text: text.to_owned(),
        };
        // from_str_radix alone would take a sign.
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        u32::from_str_radix(text, 16)
            .map(CompactTarget)
            .map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitcoin's genesis block, and the coinbase txid of block 100 000.
    const GENESIS: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
    const TX_100000: &str = "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87";

    #[test]
    fn ids_show_byte_reversed_and_parse_back() {
        let genesis: BlockHash = GENESIS.parse().unwrap();
        assert_eq!(genesis.as_internal()[31], 0x00);
        assert_eq!(genesis.as_internal()[0], 0x6f, "internal order is reversed");
        assert_eq!(genesis.to_string(), GENESIS);
        let txid: Txid = TX_100000.parse().unwrap();
        assert_eq!(txid.to_string(), TX_100000);
        assert!(format!("{txid:?}").starts_with("Txid(8c14"));
        assert!("00".parse::<BlockHash>().is_err());
        assert!(GENESIS.replace('0', "g").parse::<Txid>().is_err());
    }

    #[test]
    fn compact_targets_are_eight_hex_digits() {
        let bits: CompactTarget = "1b04864c".parse().unwrap();
        assert_eq!(bits.bits(), 0x1b04_864c);
        assert_eq!(bits.to_string(), "1b04864c");
        assert_eq!(
            bits.target().unwrap(),
            Target::from_compact(0x1b04_864c).unwrap()
        );
        assert_eq!(CompactTarget::new(0x0100_0001).to_string(), "01000001");
        for bad in ["1b04864", "1b04864c0", "zz04864c", "+b04864c"] {
            assert!(bad.parse::<CompactTarget>().is_err(), "{bad}");
        }
        assert!(CompactTarget::new(0x0480_0001).target().is_err());
    }
}
