//! The chain guard: notices that the pool's daemons are on different chains, on a stalled
//! chain, or on a chain the operator did not expect, before the pool mines on it for hours.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::group::DaemonGroup;

/// What the guard checks and how patient it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainGuardOptions {
    /// Time between checks.
    pub interval: Duration,
    /// Tips further apart in height than this are a fault at once.
    pub max_height_lag: u64,
    /// Tips that differ by less (a block still propagating) are a fault only once they
    /// have differed this long.
    pub disagree_for: Duration,
    /// The best tip older than this (header time) is a stalled chain; `None` when the coin's
    /// block time is not known.
    pub stale_after: Option<Duration>,
    /// The chain every daemon must report (`main`, `test`, `regtest`, …); without it they
    /// must only report the same one.
    pub expected_chain: Option<String>,
}

impl Default for ChainGuardOptions {
    fn default() -> Self {
        ChainGuardOptions {
            interval: Duration::from_secs(10),
            max_height_lag: 2,
            disagree_for: Duration::from_secs(120),
            stale_after: None,
            expected_chain: None,
        }
    }
}

/// One daemon's view of its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonTip {
    /// `host:port` of the daemon.
    pub daemon: String,
    /// The chain it reports (`main`, `test`, `regtest`).
    pub chain: String,
    /// Its best block's height.
    pub height: u64,
    /// Its best block's hash.
    pub hash: String,
    /// Its chain's total work (hex), when it reports it.
    pub chain_work: Option<String>,
    /// Its best block's header time (unix seconds).
    pub time: u64,
}

/// Something wrong with the chain the pool mines on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainFault {
    /// The daemons' tips differ past the thresholds: at least one is on another chain or
    /// stuck behind.
    TipsDisagree {
        /// Each daemon's tip, and which are behind (least chain work).
        detail: String,
    },
    /// The best tip is older than the coin's block time allows.
    StaleTip {
        /// Its age, in seconds.
        age_secs: u64,
        /// The limit, in seconds.
        limit_secs: u64,
    },
    /// A daemon reports another chain than expected (or than the others).
    WrongChain {
        /// `host:port` of the daemon.
        daemon: String,
        /// What it reports.
        chain: String,
        /// What was expected.
        expected: String,
    },
}

impl ChainFault {
    /// Every [`ChainFault::kind`], for metrics with a fixed label set.
    pub const KINDS: [&'static str; 3] = ["tips_disagree", "stale_tip", "wrong_chain"];

    /// The kind of fault, one of [`ChainFault::KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            ChainFault::TipsDisagree { .. } => "tips_disagree",
            ChainFault::StaleTip { .. } => "stale_tip",
            ChainFault::WrongChain { .. } => "wrong_chain",
        }
    }
}

impl std::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainFault::TipsDisagree { detail } => {
                write!(f, "the daemons' tips disagree: {detail}")
            }
            ChainFault::StaleTip {
                age_secs,
                limit_secs,
            } => write!(
                f,
                "the best tip is {age_secs} s old, past the {limit_secs} s the coin's block time allows"
            ),
            ChainFault::WrongChain {
                daemon,
                chain,
                expected,
            } => write!(f, "{daemon} is on chain {chain:?}, expected {expected:?}"),
        }
    }
}

/// The guard's judgement of the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainVerdict {
    /// What is wrong now; empty when all is well.
    pub faults: Vec<ChainFault>,
    /// Whether any check ran yet.
    pub checked: bool,
}

impl ChainVerdict {
    /// Whether the chain looks right (or has not been checked yet).
    pub fn is_clear(&self) -> bool {
        self.faults.is_empty()
    }
}

/// The guard's judgement over successive checks: pure, fed with the daemons' tips.
#[derive(Debug, Clone)]
pub struct ChainGuard {
    options: ChainGuardOptions,
    disagreeing_since: Option<Instant>,
}

impl ChainGuard {
    /// A guard that has seen nothing yet.
    pub fn new(options: ChainGuardOptions) -> ChainGuard {
        ChainGuard {
            options,
            disagreeing_since: None,
        }
    }

    /// Judges the tips of the daemons that answered, at `now` (monotonic, for how long a
    /// disagreement lasts) and `unix_now` (seconds, against header times).
    pub fn judge(&mut self, tips: &[DaemonTip], now: Instant, unix_now: u64) -> ChainVerdict {
        let mut faults = Vec::new();
        let expected = self
            .options
            .expected_chain
            .clone()
            .or_else(|| tips.first().map(|tip| tip.chain.clone()));
        if let Some(expected) = expected {
            for tip in tips.iter().filter(|tip| tip.chain != expected) {
                faults.push(ChainFault::WrongChain {
                    daemon: tip.daemon.clone(),
                    chain: tip.chain.clone(),
                    expected: expected.clone(),
                });
            }
        }
        if let Some(fault) = self.disagreement(tips, now) {
            faults.push(fault);
        }
        if let (Some(limit), Some(newest)) = (
            self.options.stale_after,
            tips.iter().map(|tip| tip.time).max(),
        ) {
            let age_secs = unix_now.saturating_sub(newest);
            if age_secs > limit.as_secs() {
                faults.push(ChainFault::StaleTip {
                    age_secs,
                    limit_secs: limit.as_secs(),
                });
            }
        }
        ChainVerdict {
            faults,
            checked: true,
        }
    }

    fn disagreement(&mut self, tips: &[DaemonTip], now: Instant) -> Option<ChainFault> {
        let all_same = tips.windows(2).all(|pair| pair[0].hash == pair[1].hash);
        if all_same {
            self.disagreeing_since = None;
            return None;
        }
        let since = *self.disagreeing_since.get_or_insert(now);
        let highest = tips.iter().map(|tip| tip.height).max().unwrap_or(0);
        let lowest = tips.iter().map(|tip| tip.height).min().unwrap_or(0);
        let far_apart = highest - lowest > self.options.max_height_lag;
        if !far_apart && now.duration_since(since) < self.options.disagree_for {
            return None;
        }
        let most_work = tips.iter().map(work_key).max();
        let behind: Vec<&str> = tips
            .iter()
            .filter(|tip| Some(work_key(tip)) < most_work)
            .map(|tip| tip.daemon.as_str())
            .collect();
        let each: Vec<String> = tips
            .iter()
            .map(|tip| format!("{} at {} ({})", tip.daemon, tip.height, tip.hash))
            .collect();
        let lasting = now.duration_since(since).as_secs();
        Some(ChainFault::TipsDisagree {
            detail: if behind.is_empty() {
                format!("{} for {lasting} s, equal work", each.join(", "))
            } else {
                format!(
                    "{} for {lasting} s; least work: {}",
                    each.join(", "),
                    behind.join(", ")
                )
            },
        })
    }
}

/// Chain work (hex, any length) as a comparable key; height where a daemon has none.
fn work_key(tip: &DaemonTip) -> (String, u64) {
    let work = tip
        .chain_work
        .as_deref()
        .map(|hex| {
            let digits = hex.trim_start_matches('0').to_ascii_lowercase();
            format!("{:0>80}", digits)
        })
        .unwrap_or_default();
    (work, tip.height)
}

/// Checks `daemons` every `options.interval` until `cancel` and publishes each verdict.
/// A change is logged once: each new fault at ERROR, the all-clear at INFO. Daemons that
/// do not answer are left out (their health says they are down).
pub fn spawn_chain_guard(
    daemons: Arc<DaemonGroup>,
    options: ChainGuardOptions,
    cancel: CancellationToken,
) -> watch::Receiver<ChainVerdict> {
    let (verdicts, receiver) = watch::channel(ChainVerdict::default());
    let interval = options.interval.max(Duration::from_millis(100));
    let mut guard = ChainGuard::new(options);
    tokio::spawn(
        async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let tips = read_tips(&daemons).await;
                let unix_now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let verdict = guard.judge(&tips, Instant::now(), unix_now);
                let before = verdicts.borrow().clone();
                if verdict == before {
                    continue;
                }
                for fault in &verdict.faults {
                    if !before.faults.iter().any(|old| old.kind() == fault.kind()) {
                        tracing::error!(kind = fault.kind(), "chain guard: {fault}");
                    }
                }
                if verdict.faults.is_empty() && !before.faults.is_empty() {
                    tracing::info!("chain guard: the daemons agree on a live chain again");
                }
                verdicts.send_replace(verdict);
            }
        }
        .in_current_span(),
    );
    receiver
}

/// Every answering daemon's tip: `getblockchaininfo`, then the best block's header time.
async fn read_tips(daemons: &DaemonGroup) -> Vec<DaemonTip> {
    let infos = daemons
        .call_all::<Value>("getblockchaininfo", &[(); 0])
        .await;
    let mut tips = Vec::with_capacity(infos.len());
    for (index, info) in infos.into_iter().enumerate() {
        let Ok(info) = info else { continue };
        let (Some(chain), Some(height), Some(hash)) = (
            info.get("chain").and_then(Value::as_str),
            info.get("blocks").and_then(Value::as_u64),
            info.get("bestblockhash").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Ok(header) = daemons
            .call_on::<Value>(index, "getblockheader", &(hash, true))
            .await
        else {
            continue;
        };
        tips.push(DaemonTip {
            daemon: daemons.label(index).to_owned(),
            chain: chain.to_owned(),
            height,
            hash: hash.to_owned(),
            chain_work: info
                .get("chainwork")
                .and_then(Value::as_str)
                .map(str::to_owned),
            time: header.get("time").and_then(Value::as_u64).unwrap_or(0),
        });
    }
    tips
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tip(daemon: &str, height: u64, hash: &str, work: &str, time: u64) -> DaemonTip {
        DaemonTip {
            daemon: daemon.into(),
            chain: "main".into(),
            height,
            hash: hash.into(),
            chain_work: Some(work.into()),
            time,
        }
    }

    fn kinds(verdict: &ChainVerdict) -> Vec<&'static str> {
        verdict.faults.iter().map(ChainFault::kind).collect()
    }

    #[test]
    fn agreeing_daemons_on_a_fresh_tip_are_clear() {
        let mut guard = ChainGuard::new(ChainGuardOptions {
            stale_after: Some(Duration::from_secs(3600)),
            ..ChainGuardOptions::default()
        });
        let tips = [
            tip("a", 10, "h10", "0a", 1000),
            tip("b", 10, "h10", "0a", 1000),
        ];
        let verdict = guard.judge(&tips, Instant::now(), 1500);
        assert!(verdict.is_clear() && verdict.checked, "{verdict:?}");
    }

    #[test]
    fn a_propagating_block_is_forgiven_until_it_lasts() {
        let mut guard = ChainGuard::new(ChainGuardOptions::default());
        let start = Instant::now();
        let tips = [tip("a", 11, "h11", "0b", 0), tip("b", 10, "h10", "0a", 0)];
        assert!(guard.judge(&tips, start, 0).is_clear());
        let later = start + Duration::from_secs(119);
        assert!(guard.judge(&tips, later, 0).is_clear());
        let verdict = guard.judge(&tips, start + Duration::from_secs(121), 0);
        assert_eq!(kinds(&verdict), ["tips_disagree"]);
        let ChainFault::TipsDisagree { detail } = &verdict.faults[0] else {
            unreachable!()
        };
        assert!(detail.ends_with("least work: b"), "{detail}");
        // Agreement resets the clock.
        let same = [tip("a", 11, "h11", "0b", 0), tip("b", 11, "h11", "0b", 0)];
        assert!(
            guard
                .judge(&same, start + Duration::from_secs(122), 0)
                .is_clear()
        );
        let verdict = guard.judge(&tips, start + Duration::from_secs(123), 0);
        assert!(verdict.is_clear(), "{verdict:?}");
    }

    #[test]
    fn tips_far_apart_are_a_fault_at_once_and_name_the_minority() {
        let mut guard = ChainGuard::new(ChainGuardOptions::default());
        // b has more blocks, but a has more work: b is the minority chain.
        let tips = [
            tip("a", 100, "ha", "00ff00", 0),
            tip("b", 104, "hb", "00fe00", 0),
        ];
        let verdict = guard.judge(&tips, Instant::now(), 0);
        assert_eq!(kinds(&verdict), ["tips_disagree"]);
        let ChainFault::TipsDisagree { detail } = &verdict.faults[0] else {
            unreachable!()
        };
        assert!(detail.ends_with("least work: b"), "{detail}");
    }

    #[test]
    fn an_old_tip_is_stale_only_with_a_known_block_time() {
        let tips = [tip("a", 10, "h", "0a", 1_000)];
        let mut unknown = ChainGuard::new(ChainGuardOptions::default());
        assert!(unknown.judge(&tips, Instant::now(), 1_000_000).is_clear());
        let mut known = ChainGuard::new(ChainGuardOptions {
            stale_after: Some(Duration::from_secs(7200)),
            ..ChainGuardOptions::default()
        });
        assert!(known.judge(&tips, Instant::now(), 8_200).is_clear());
        let verdict = known.judge(&tips, Instant::now(), 8_201);
        assert_eq!(
            verdict.faults,
            [ChainFault::StaleTip {
                age_secs: 7201,
                limit_secs: 7200
            }]
        );
    }

    #[test]
    fn a_daemon_on_another_chain_is_named() {
        let mut test = tip("b", 10, "h", "0a", 0);
        test.chain = "test".into();
        let tips = [tip("a", 10, "h", "0a", 0), test];
        let mut same = ChainGuard::new(ChainGuardOptions::default());
        let verdict = same.judge(&tips, Instant::now(), 0);
        assert_eq!(
            verdict.faults,
            [ChainFault::WrongChain {
                daemon: "b".into(),
                chain: "test".into(),
                expected: "main".into()
            }]
        );
        let mut expect_test = ChainGuard::new(ChainGuardOptions {
            expected_chain: Some("test".into()),
            ..ChainGuardOptions::default()
        });
        let verdict = expect_test.judge(&tips, Instant::now(), 0);
        assert_eq!(kinds(&verdict), ["wrong_chain"]);
        assert!(
            verdict.faults[0]
                .to_string()
                .starts_with("a is on chain \"main\"")
        );
    }
}
