//! Profit switching: every interval, each switch moves to the coin of its algorithm that
//! earns most per hash (block reward × price ÷ network difficulty), when that beats the
//! current coin by the configured margin.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::{PriceSourceConfig, ProfitSwitchConfig};
use crate::run::Pools;

/// How long a price source may take to answer.
const PRICE_TIMEOUT: Duration = Duration::from_secs(10);
/// After start-up, a switch whose pool has no work yet waits this long for it before a
/// coin with work may take over: every pool fetches its first template at start.
const STARTUP_GRACE: Duration = Duration::from_secs(30);

/// A coin a switch could be on, with what it earns per hash (any fixed unit), if known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    /// The pool's name.
    pub(crate) pool: String,
    /// Expected revenue per hash; `None` without a price, a reward or a difficulty.
    pub(crate) revenue: Option<f64>,
    /// Whether the pool has work (a job) yet.
    pub(crate) working: bool,
}

/// The pool to move to, if any: the best earner, when it beats `current` by more than
/// `margin_percent` (or `current` has no known revenue). While `settling` (just after
/// start-up) a `current` still without work is kept: its revenue is not known yet, not bad.
pub(crate) fn choose(
    current: &str,
    candidates: &[Candidate],
    margin_percent: f64,
    settling: bool,
) -> Option<String> {
    if settling && candidates.iter().any(|c| c.pool == current && !c.working) {
        return None;
    }
    let best = candidates
        .iter()
        .filter_map(|c| c.revenue.map(|r| (c, r)))
        .filter(|(_, r)| *r > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if best.0.pool == current {
        return None;
    }
    let now = candidates
        .iter()
        .find(|c| c.pool == current)
        .and_then(|c| c.revenue);
    match now {
        Some(now) if best.1 <= now * (1.0 + margin_percent / 100.0) => None,
        _ => Some(best.0.pool.clone()),
    }
}

/// Revenue per hash up to a constant: `reward × price ÷ difficulty` (difficulties of one
/// algorithm share a scale).
pub(crate) fn revenue(reward_coins: f64, price: f64, difficulty: f64) -> Option<f64> {
    (difficulty > 0.0 && reward_coins.is_finite() && price.is_finite())
        .then(|| reward_coins * price / difficulty)
}

/// The number at `path` (dot-separated field names and array indexes) in `document`; a
/// numeric string counts.
pub(crate) fn price_at(document: &Value, path: &str) -> Option<f64> {
    let mut value = document;
    for key in path.split('.').filter(|k| !k.is_empty()) {
        value = match value {
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            other => other.get(key)?,
        };
    }
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Prices by coin symbol: fixed ones, then those read from HTTP sources.
pub(crate) struct Prices {
    fixed: BTreeMap<String, f64>,
    sources: BTreeMap<String, PriceSourceConfig>,
    http: reqwest::Client,
}

impl Prices {
    pub(crate) fn new(config: &ProfitSwitchConfig) -> Result<Prices, String> {
        let http = reqwest::Client::builder()
            .timeout(PRICE_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the price client: {e}"))?;
        Ok(Prices {
            fixed: config.prices.clone(),
            sources: config.price_sources.clone(),
            http,
        })
    }

    /// The price of `symbol`, if a source has one now.
    pub(crate) async fn price(&self, symbol: &str) -> Option<f64> {
        let Some(source) = self.sources.get(symbol) else {
            return self.fixed.get(symbol).copied();
        };
        let read = async {
            let response = self
                .http
                .get(&source.url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let document: Value = response.json().await.map_err(|e| e.to_string())?;
            price_at(&document, &source.path)
                .ok_or_else(|| format!("no number at {:?}", source.path))
        };
        match read.await {
            Ok(price) => Some(price),
            Err(error) => {
                tracing::warn!(symbol, url = source.url, %error, "price source failed; using the fixed price if any");
                self.fixed.get(symbol).copied()
            }
        }
    }
}

/// Checks every switch every `updateInterval` until cancelled.
pub(crate) fn spawn(
    config: &ProfitSwitchConfig,
    pools: Arc<Pools>,
    cancel: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let ignored = config.ignored_fields();
    if !ignored.is_empty() {
        tracing::warn!(
            ?ignored,
            "profitSwitch: NOMP's exchanges are gone and these fields do nothing; set prices or priceSources"
        );
    }
    let prices = Prices::new(config)?;
    let interval = Duration::from_secs(config.update_interval.max(1));
    let margin = config.margin;
    Ok(tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticks.tick() => {}
            }
            for (switch, current, candidates) in pools.profit_candidates(&prices).await {
                let settling = started.elapsed() < STARTUP_GRACE;
                if let Some(best) = choose(&current, &candidates, margin, settling) {
                    tracing::info!(
                        switch,
                        from = current,
                        to = best,
                        ?candidates,
                        "profit switch"
                    );
                    if let Err(error) = pools.coin_switch(&switch, &best).await {
                        tracing::warn!(switch, %error, "profit switch failed");
                    }
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(pool: &str, revenue: Option<f64>) -> Candidate {
        Candidate {
            pool: pool.into(),
            revenue,
            working: true,
        }
    }

    #[test]
    fn a_switch_moves_only_past_the_margin() {
        let close = [candidate("a", Some(100.0)), candidate("b", Some(104.0))];
        assert_eq!(choose("a", &close, 5.0, false), None, "within 5 %: noise");
        let far = [candidate("a", Some(100.0)), candidate("b", Some(106.0))];
        assert_eq!(choose("a", &far, 5.0, false).as_deref(), Some("b"));
        assert_eq!(choose("b", &far, 5.0, false), None, "already on the best");
    }

    #[test]
    fn unknown_revenue_never_wins_but_is_left_for_a_known_one() {
        let unpriced = [candidate("a", None), candidate("b", Some(1.0))];
        assert_eq!(choose("a", &unpriced, 5.0, false).as_deref(), Some("b"));
        let nothing = [candidate("a", Some(1.0)), candidate("b", None)];
        assert_eq!(choose("a", &nothing, 5.0, false), None);
        assert_eq!(choose("a", &[candidate("a", None)], 5.0, false), None);
    }

    #[test]
    fn at_start_up_a_pool_still_without_work_is_waited_for() {
        let mut waiting = candidate("a", None);
        waiting.working = false;
        let candidates = [waiting, candidate("b", Some(1.0))];
        assert_eq!(choose("a", &candidates, 5.0, true), None, "settling");
        assert_eq!(
            choose("a", &candidates, 5.0, false).as_deref(),
            Some("b"),
            "after the grace its daemon counts as down"
        );
        // An unpriced pool with work is left at once.
        let unpriced = [candidate("a", None), candidate("b", Some(1.0))];
        assert_eq!(choose("a", &unpriced, 5.0, true).as_deref(), Some("b"));
    }

    #[test]
    fn revenue_is_reward_times_price_over_difficulty() {
        assert_eq!(revenue(6.25, 60_000.0, 1e14), Some(6.25 * 60_000.0 / 1e14));
        assert_eq!(revenue(6.25, 60_000.0, 0.0), None);
    }

    #[test]
    fn prices_are_found_by_path_in_numbers_or_strings() {
        let document = serde_json::json!({
            "data": [{ "symbol": "BTC", "price": "64000.5" }],
            "bch": { "usd": 350 }
        });
        assert_eq!(price_at(&document, "data.0.price"), Some(64000.5));
        assert_eq!(price_at(&document, "bch.usd"), Some(350.0));
        assert_eq!(price_at(&document, "data.0.symbol"), None);
        assert_eq!(price_at(&document, "data.3.price"), None);
    }
}
