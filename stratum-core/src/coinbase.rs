//! The coinbase transaction, split around the extranonce for miners.

use coin_daemon::BlockTemplate;

use crate::address::{AddressFormat, output_script};
use crate::error::StratumError;
use crate::serialize::{write_push, write_script_number, write_varint};

/// Bytes of extranonce1 (chosen by the pool, unique per connection).
pub const EXTRANONCE1_SIZE: usize = 4;
/// Bytes of extranonce2 (chosen by the miner).
pub const EXTRANONCE2_SIZE: usize = 4;
/// The coinbase script may not exceed this (consensus).
const MAX_COINBASE_SCRIPT: usize = 100;

/// A share of every block reward paid to another script (NOMP's `rewardRecipients`).
#[derive(Debug, Clone, PartialEq)]
pub struct RewardRecipient {
    /// The output script paid.
    pub script: Vec<u8>,
    /// Percent of the block reward (after payee outputs), e.g. `1.5`.
    pub percent: f64,
}

/// What the pool's coinbase pays and says.
#[derive(Debug, Clone, PartialEq)]
pub struct CoinbaseOptions {
    /// The pool address's output script: it receives what is left after the others.
    pub pool_script: Vec<u8>,
    /// Fee and donation recipients.
    pub recipients: Vec<RewardRecipient>,
    /// The pool's signature, pushed at the end of the coinbase script.
    pub signature: Vec<u8>,
    /// Proof-of-stake coins (NOMP `reward: "POS"`) carry a transaction time after the version.
    pub proof_of_stake: bool,
    /// Coins with transaction messages (`txMessages`): version 2 and this message appended.
    pub tx_message: Option<String>,
    /// How the coin writes addresses, for payees the template names by address only.
    pub address_format: AddressFormat,
}

impl CoinbaseOptions {
    /// Pays everything to `pool_script`, with no recipients, no extra fields and the
    /// signature `/nomp-rs/`.
    pub fn new(pool_script: Vec<u8>, address_format: AddressFormat) -> Self {
        CoinbaseOptions {
            pool_script,
            recipients: Vec::new(),
            signature: b"/nomp-rs/".to_vec(),
            proof_of_stake: false,
            tx_message: None,
            address_format,
        }
    }
}

/// A coinbase with a gap for `extranonce1 ‖ extranonce2`: `coinb1 ‖ en1 ‖ en2 ‖ coinb2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinbaseParts {
    /// Everything before the extranonce.
    pub coinb1: Vec<u8>,
    /// Everything after it.
    pub coinb2: Vec<u8>,
    /// The outputs, in order: (value in satoshis, script).
    pub outputs: Vec<(u64, Vec<u8>)>,
}

/// Builds the coinbase for `template`.
///
/// Script: BIP34 height ‖ `coinbaseaux.flags` ‖ `now` as a script number ‖ a push of the
/// 8 extranonce bytes ‖ a push of the signature. Outputs: the pool first, then payee,
/// masternode and superblock payments, then each reward recipient, then the witness
/// commitment when the template has one.
///
/// Rounding: payees get exactly what the template says. Each recipient then gets
/// `floor(rest × percent ÷ 100)` satoshis, with the percentage taken to millionths of a
/// percent; the pool output gets everything left, rounding dust included, so the outputs
/// always add up to `coinbasevalue`.
pub fn build_coinbase(
    template: &BlockTemplate,
    options: &CoinbaseOptions,
    now: u32,
) -> Result<CoinbaseParts, StratumError> {
    let outputs = outputs(template, options)?;
    let flags =
        hex::decode(&template.coinbase_aux.flags).map_err(|e| StratumError::InvalidTemplate {
            field: "coinbaseaux.flags".into(),
            reason: e.to_string(),
        })?;

    let mut script_start = Vec::new();
    write_script_number(&mut script_start, template.height);
    script_start.extend_from_slice(&flags);
    write_script_number(&mut script_start, u64::from(now));
    script_start.push((EXTRANONCE1_SIZE + EXTRANONCE2_SIZE) as u8);
    let mut script_end = Vec::new();
    write_push(&mut script_end, &options.signature);
    let script_len = script_start.len() + EXTRANONCE1_SIZE + EXTRANONCE2_SIZE + script_end.len();
    if script_len > MAX_COINBASE_SCRIPT {
        return Err(StratumError::CoinbaseScriptTooLong { len: script_len });
    }

    let version: u32 = if options.tx_message.is_some() { 2 } else { 1 };
    let mut coinb1 = version.to_le_bytes().to_vec();
    if options.proof_of_stake {
        coinb1.extend_from_slice(&template.cur_time.to_le_bytes());
    }
    coinb1.push(1);
    coinb1.extend_from_slice(&[0u8; 32]);
    coinb1.extend_from_slice(&u32::MAX.to_le_bytes());
    write_varint(&mut coinb1, script_len as u64);
    coinb1.extend_from_slice(&script_start);

    let mut coinb2 = script_end;
    coinb2.extend_from_slice(&0u32.to_le_bytes());
    write_varint(&mut coinb2, outputs.len() as u64);
    for (value, script) in &outputs {
        coinb2.extend_from_slice(&value.to_le_bytes());
        write_varint(&mut coinb2, script.len() as u64);
        coinb2.extend_from_slice(script);
    }
    coinb2.extend_from_slice(&0u32.to_le_bytes());
    if let Some(message) = &options.tx_message {
        write_varint(&mut coinb2, message.len() as u64);
        coinb2.extend_from_slice(message.as_bytes());
    }
    Ok(CoinbaseParts {
        coinb1,
        coinb2,
        outputs,
    })
}

fn outputs(
    template: &BlockTemplate,
    options: &CoinbaseOptions,
) -> Result<Vec<(u64, Vec<u8>)>, StratumError> {
    let mut payees = Vec::new();
    if let (Some(address), Some(amount)) = (&template.payee, template.payee_amount) {
        payees.push((amount, output_script(address, &options.address_format)?));
    }
    for payee in template.masternode.iter().chain(&template.superblock) {
        let script = match (&payee.script, &payee.payee) {
            (Some(script), _) => {
                hex::decode(script).map_err(|e| StratumError::InvalidTemplate {
                    field: "masternode/superblock script".into(),
                    reason: e.to_string(),
                })?
            }
            (None, Some(address)) => output_script(address, &options.address_format)?,
            (None, None) => {
                return Err(StratumError::InvalidTemplate {
                    field: "masternode/superblock".into(),
                    reason: "a payee has neither script nor address".into(),
                });
            }
        };
        payees.push((payee.amount, script));
    }
    let payee_total: u64 = payees.iter().map(|(amount, _)| amount).sum();
    let rest = template
        .coinbase_value
        .checked_sub(payee_total)
        .ok_or_else(|| StratumError::InvalidTemplate {
            field: "coinbasevalue".into(),
            reason: format!(
                "{} is less than the payees' {payee_total}",
                template.coinbase_value
            ),
        })?;

    let total_percent: f64 = options.recipients.iter().map(|r| r.percent).sum();
    if total_percent > 100.0
        || options
            .recipients
            .iter()
            .any(|r| !r.percent.is_finite() || r.percent < 0.0)
    {
        return Err(StratumError::RecipientsOverReward {
            percent: total_percent,
        });
    }
    let recipients: Vec<(u64, Vec<u8>)> = options
        .recipients
        .iter()
        .map(|r| (recipient_share(rest, r.percent), r.script.clone()))
        .collect();
    let pool = rest - recipients.iter().map(|(amount, _)| amount).sum::<u64>();

    let mut outputs = vec![(pool, options.pool_script.clone())];
    outputs.extend(payees);
    outputs.extend(recipients);
    if let Some(commitment) = &template.default_witness_commitment {
        let script = hex::decode(commitment).map_err(|e| StratumError::InvalidTemplate {
            field: "default_witness_commitment".into(),
            reason: e.to_string(),
        })?;
        outputs.push((0, script));
    }
    Ok(outputs)
}

/// `floor(amount × percent ÷ 100)` with the percentage rounded to millionths of a percent.
pub(crate) fn recipient_share(amount: u64, percent: f64) -> u64 {
    let millionths = (percent * 1_000_000.0).round() as u128;
    (u128::from(amount) * millionths / 100_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_shares_floor_to_the_satoshi() {
        assert_eq!(recipient_share(5_000_000_000, 1.0), 50_000_000);
        assert_eq!(recipient_share(999, 33.333333), 332);
        // 0.1 is not exact in binary; millionths make it exact.
        assert_eq!(recipient_share(1_000_000_000, 0.1), 1_000_000);
    }

    proptest::proptest! {
        #[test]
        fn split_always_sums_to_the_reward(
            reward in 0u64..21_000_000 * 100_000_000,
            percents in proptest::collection::vec(0.0f64..20.0, 0..5),
        ) {
            let shares: u64 = percents.iter().map(|p| recipient_share(reward, *p)).sum();
            proptest::prop_assert!(shares <= reward);
            for p in &percents {
                let exact = reward as f64 * p / 100.0;
                let share = recipient_share(reward, *p) as f64;
                // Never more than the percentage, never a satoshi (plus the 10^-6 % rounding) less.
                proptest::prop_assert!(share <= exact + reward as f64 * 5e-9 + 1e-6);
                proptest::prop_assert!(share >= exact - 1.0 - reward as f64 * 5e-9);
            }
        }
    }
}
