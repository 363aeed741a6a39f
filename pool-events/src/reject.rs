//! Why a share was refused.

use std::fmt;

/// Why a share was refused, with node-stratum-pool's error codes and messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Reject {
    /// 21: the job id is unknown or expired.
    JobNotFound,
    /// 20: extranonce2 of the wrong size.
    Extranonce2Size,
    /// 20: ntime not 8 hex characters.
    NtimeSize,
    /// 20: ntime before the template's time or more than 2 h past the submit time.
    NtimeOutOfRange,
    /// 20: nonce not 8 hex characters.
    NonceSize,
    /// 20: rolled version bits outside the negotiated mask (or, for upstream work, outside
    /// what the upstream granted).
    VersionBits,
    /// 22: the same share was already submitted for this job.
    Duplicate,
    /// 23: the hash does not meet the miner's difficulty.
    LowDifficulty {
        /// The difficulty the hash reached.
        share_difficulty: f64,
    },
}

impl Reject {
    /// Every kind of refusal, by [`Reject::kind`]: a fixed set, fit for metric labels.
    pub const KINDS: [&'static str; 8] = [
        "job_not_found",
        "extranonce2_size",
        "ntime_size",
        "ntime_out_of_range",
        "nonce_size",
        "version_bits",
        "duplicate",
        "low_difficulty",
    ];

    /// The stratum error code.
    pub fn code(&self) -> i64 {
        match self {
            Reject::JobNotFound => 21,
            Reject::Duplicate => 22,
            Reject::LowDifficulty { .. } => 23,
            _ => 20,
        }
    }

    /// What kind of refusal it is, without its values (one of [`Reject::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Reject::JobNotFound => "job_not_found",
            Reject::Extranonce2Size => "extranonce2_size",
            Reject::NtimeSize => "ntime_size",
            Reject::NtimeOutOfRange => "ntime_out_of_range",
            Reject::NonceSize => "nonce_size",
            Reject::VersionBits => "version_bits",
            Reject::Duplicate => "duplicate",
            Reject::LowDifficulty { .. } => "low_difficulty",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::JobNotFound => f.write_str("job not found"),
            Reject::Extranonce2Size => f.write_str("incorrect size of extranonce2"),
            Reject::NtimeSize => f.write_str("incorrect size of ntime"),
            Reject::NtimeOutOfRange => f.write_str("ntime out of range"),
            Reject::NonceSize => f.write_str("incorrect size of nonce"),
            Reject::VersionBits => f.write_str("version bits outside the negotiated mask"),
            Reject::Duplicate => f.write_str("duplicate share"),
            Reject::LowDifficulty { share_difficulty } => {
                write!(f, "low difficulty share of {share_difficulty}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_match_node_stratum_pool() {
        assert_eq!(
            (Reject::JobNotFound.code(), Reject::JobNotFound.to_string()),
            (21, "job not found".into())
        );
        assert_eq!(
            (Reject::Duplicate.code(), Reject::Duplicate.to_string()),
            (22, "duplicate share".into())
        );
        let low = Reject::LowDifficulty {
            share_difficulty: 0.5,
        };
        assert_eq!(
            (low.code(), low.to_string()),
            (23, "low difficulty share of 0.5".into())
        );
        assert_eq!(Reject::NtimeOutOfRange.code(), 20);
    }

    #[test]
    fn every_kind_is_listed_and_carries_no_value() {
        let all = [
            Reject::JobNotFound,
            Reject::Extranonce2Size,
            Reject::NtimeSize,
            Reject::NtimeOutOfRange,
            Reject::NonceSize,
            Reject::VersionBits,
            Reject::Duplicate,
            Reject::LowDifficulty {
                share_difficulty: 5.7e-7,
            },
        ];
        let kinds: Vec<&str> = all.iter().map(Reject::kind).collect();
        assert_eq!(kinds, Reject::KINDS);
    }
}
