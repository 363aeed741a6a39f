//! Pool and recipient addresses to output scripts.

use bech32::Hrp;

use crate::error::StratumError;
use crate::serialize::write_push;

/// How a coin writes addresses: its base58 version prefixes and its bech32 prefix.
///
/// An address is parsed against these, never guessed: a base58 address whose prefix is
/// neither the coin's P2PKH nor its P2SH prefix is refused (NOMP turns every base58 address
/// into a P2PKH script, which burns coins sent to a P2SH pool address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFormat {
    /// Version prefix of pay-to-pubkey-hash addresses (Bitcoin `[0x00]`, regtest `[0x6f]`).
    pub p2pkh: Vec<u8>,
    /// Version prefix of pay-to-script-hash addresses (Bitcoin `[0x05]`, regtest `[0xc4]`).
    pub p2sh: Vec<u8>,
    /// Human-readable part of segwit addresses (`bc`, `ltc`, `bcrt`), if the coin has them.
    pub bech32_hrp: Option<String>,
}

impl AddressFormat {
    /// Bitcoin mainnet.
    pub fn bitcoin() -> Self {
        AddressFormat {
            p2pkh: vec![0x00],
            p2sh: vec![0x05],
            bech32_hrp: Some("bc".into()),
        }
    }

    /// Bitcoin-style testnet and regtest base58 prefixes (no segwit prefix).
    pub fn testnet() -> Self {
        AddressFormat {
            p2pkh: vec![0x6f],
            p2sh: vec![0xc4],
            bech32_hrp: None,
        }
    }
}

/// The address paying the key whose HASH160 (RIPEMD160 of SHA256 of the public key) is
/// `hash160`: base58check P2PKH with the coin's version prefix, or, for a coin with no
/// base58 P2PKH prefix but a segwit one (segwit-only coins), the P2WPKH bech32 address of
/// the same key. `None` if the coin has neither.
pub fn address_from_hash160(hash160: &[u8; 20], format: &AddressFormat) -> Option<String> {
    if !format.p2pkh.is_empty() {
        let mut payload = format.p2pkh.clone();
        payload.extend_from_slice(hash160);
        return Some(bs58::encode(payload).with_check().into_string());
    }
    let hrp = Hrp::parse(format.bech32_hrp.as_deref()?).ok()?;
    bech32::segwit::encode_v0(hrp, hash160).ok()
}

/// The output script that pays `address`: P2PKH, P2SH, or a segwit v0/v1+ program.
pub fn output_script(address: &str, format: &AddressFormat) -> Result<Vec<u8>, StratumError> {
    let invalid = |reason: String| StratumError::InvalidAddress {
        address: address.to_owned(),
        reason,
    };
    if let Some(hrp) = &format.bech32_hrp
        && address.to_ascii_lowercase().starts_with(&format!("{hrp}1"))
    {
        let (found, version, program) =
            bech32::segwit::decode(address).map_err(|e| invalid(e.to_string()))?;
        let expected = Hrp::parse(hrp).map_err(|e| invalid(e.to_string()))?;
        if found != expected {
            return Err(invalid(format!("prefix {found} is not this coin's {hrp}")));
        }
        let version = version.to_u8();
        let mut script = vec![if version == 0 { 0x00 } else { 0x50 + version }];
        write_push(&mut script, &program);
        return Ok(script);
    }
    let payload = bs58::decode(address)
        .with_check(None)
        .into_vec()
        .map_err(|e| invalid(format!("not base58check: {e}")))?;
    let hash_of = |prefix: &[u8]| {
        (payload.len() == prefix.len() + 20 && payload.starts_with(prefix))
            .then(|| &payload[prefix.len()..])
    };
    if let Some(hash) = hash_of(&format.p2pkh) {
        let mut script = vec![0x76, 0xa9, 0x14];
        script.extend_from_slice(hash);
        script.extend_from_slice(&[0x88, 0xac]);
        Ok(script)
    } else if let Some(hash) = hash_of(&format.p2sh) {
        let mut script = vec![0xa9, 0x14];
        script.extend_from_slice(hash);
        script.push(0x87);
        Ok(script)
    } else {
        Err(invalid(format!(
            "version prefix {} is neither this coin's P2PKH {} nor P2SH {} prefix",
            hex::encode(&payload[..payload.len().saturating_sub(20)]),
            hex::encode(&format.p2pkh),
            hex::encode(&format.p2sh)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_hash_gives_each_coin_its_own_address() {
        // The key hash of mainnet address 1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH (public key 1).
        let hash: [u8; 20] = hex::decode("751e76e8199196d454941c45d1b3a323f1433bd6")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            address_from_hash160(&hash, &AddressFormat::bitcoin()).unwrap(),
            "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"
        );
        assert_eq!(
            address_from_hash160(&hash, &AddressFormat::testnet()).unwrap(),
            "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r"
        );
        let segwit_only = AddressFormat {
            p2pkh: Vec::new(),
            p2sh: Vec::new(),
            bech32_hrp: Some("bc".into()),
        };
        // BIP173's P2WPKH example is the same key.
        assert_eq!(
            address_from_hash160(&hash, &segwit_only).unwrap(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        let none = AddressFormat {
            p2pkh: Vec::new(),
            p2sh: Vec::new(),
            bech32_hrp: None,
        };
        assert_eq!(address_from_hash160(&hash, &none), None);
    }

    fn script(address: &str) -> Result<String, StratumError> {
        output_script(address, &AddressFormat::bitcoin()).map(hex::encode)
    }

    #[test]
    fn p2pkh_address_pays_its_key_hash() {
        // The genesis coinbase address and its hash160.
        assert_eq!(
            script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").unwrap(),
            "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"
        );
    }

    #[test]
    fn p2sh_address_pays_its_script_hash() {
        // BIP13's example P2SH address.
        assert_eq!(
            script("3P14159f73E4gFr7JterCCQh9QjiTjiZrG").unwrap(),
            "a914e9c3dd0c07aac76179ebc76a6c78d4d67c6c160a87"
        );
    }

    #[test]
    fn segwit_v0_and_v1_addresses_pay_their_programs() {
        // BIP173 and BIP350 test vectors.
        assert_eq!(
            script("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4").unwrap(),
            "0014751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        assert_eq!(
            script("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0").unwrap(),
            "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        );
    }

    #[test]
    fn other_coins_addresses_are_refused() {
        // A Litecoin address (prefix 0x30) is not a Bitcoin address.
        let err = script("LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9").unwrap_err();
        assert!(err.to_string().contains("neither"), "{err}");
        assert!(script("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx").is_err());
        assert!(
            script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb").is_err(),
            "bad checksum"
        );
    }

    #[test]
    fn regtest_addresses_use_testnet_prefixes() {
        let format = AddressFormat::testnet();
        // hash160 0x00…01 with prefix 0x6f.
        let address = bs58::encode([&[0x6fu8][..], &[0u8; 19], &[1u8]].concat())
            .with_check()
            .into_string();
        let script = output_script(&address, &format).unwrap();
        assert_eq!(
            hex::encode(script),
            format!("76a914{}0188ac", "00".repeat(19))
        );
    }
}
