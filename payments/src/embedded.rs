//! The embedded backend: one SQLite file, no server.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use std::str::FromStr;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;

use coin_daemon::Amount;

use crate::batch::{Batch, Record, now_ms};
use crate::error::StoreError;
use crate::history::{StatsHistory, SwitchState};
use crate::journal::{Fence, JournalEntry, JournalStatus, PayoutStore, Settlement};
use crate::store::{
    BlockEntry, BlockStatus, HashrateSample, Round, ShareCounts, ShareStore, add_exact,
    fill_window, share_decimal,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS round_credits (
    coin TEXT NOT NULL, round TEXT NOT NULL, worker TEXT NOT NULL, difficulty TEXT NOT NULL,
    PRIMARY KEY (coin, round, worker));
CREATE TABLE IF NOT EXISTS counters (
    coin TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (coin, name));
CREATE TABLE IF NOT EXISTS hashrate (
    coin TEXT NOT NULL, time_ms INTEGER NOT NULL, worker TEXT NOT NULL, difficulty REAL NOT NULL);
CREATE INDEX IF NOT EXISTS hashrate_by_time ON hashrate (coin, time_ms);
CREATE TABLE IF NOT EXISTS blocks (
    coin TEXT NOT NULL, hash TEXT NOT NULL, coinbase_txid TEXT NOT NULL, height INTEGER NOT NULL,
    worker TEXT NOT NULL, time_ms INTEGER NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (coin, hash));
CREATE TABLE IF NOT EXISTS writers (
    coin TEXT NOT NULL, writer TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (coin, writer));
CREATE TABLE IF NOT EXISTS balances (
    coin TEXT NOT NULL, entry TEXT NOT NULL, sats INTEGER NOT NULL,
    PRIMARY KEY (coin, entry));
CREATE TABLE IF NOT EXISTS payouts (
    coin TEXT NOT NULL, address TEXT NOT NULL, sats INTEGER NOT NULL,
    PRIMARY KEY (coin, address));
CREATE TABLE IF NOT EXISTS journal (
    coin TEXT NOT NULL, id TEXT NOT NULL, entry TEXT NOT NULL, status TEXT NOT NULL,
    planned_ms INTEGER NOT NULL,
    PRIMARY KEY (coin, id));
CREATE TABLE IF NOT EXISTS stat_history (time_s INTEGER NOT NULL, snapshot TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS stat_history_by_time ON stat_history (time_s);
CREATE TABLE IF NOT EXISTS switch_state (algorithm TEXT NOT NULL PRIMARY KEY, coin TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
    coin TEXT NOT NULL PRIMARY KEY, owner TEXT NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fences (coin TEXT NOT NULL PRIMARY KEY, token INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS block_difficulty (
    coin TEXT NOT NULL, hash TEXT NOT NULL, difficulty TEXT NOT NULL, PRIMARY KEY (coin, hash));
";

const CURRENT: &str = "current";

/// Rounds of earlier versions, summed as floats in a REAL column; moved once into
/// `round_credits` (exact decimal text) when the store is opened.
const LEGACY_ROUNDS: &str = "round_shares";

/// A coin's shares in a single SQLite file (WAL, `synchronous=FULL`: a batch that
/// [`ShareStore::apply`] returned from survives a crash or power loss). Several coins may
/// share one file. The data is NOMP's, in tables: `round_credits` (each worker's share
/// difficulty per round as exact decimal text), `counters`, `hashrate`, `blocks` and
/// `writers`.
#[derive(Clone)]
pub struct EmbeddedStore {
    coin: String,
    connection: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("coin", &self.coin)
            .finish_non_exhaustive()
    }
}

fn sqlite(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {error}"))
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store file at `path` for `coin`.
    pub fn open(path: &Path, coin: &str) -> Result<EmbeddedStore, StoreError> {
        let mut connection = Connection::open(path)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite)?;
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite)?;
        connection.execute_batch(SCHEMA).map_err(sqlite)?;
        migrate_legacy_rounds(&mut connection)?;
        Ok(EmbeddedStore {
            coin: coin.to_owned(),
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Runs `work` on the connection off the async reactor.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = self.connection.clone();
        let coin = self.coin.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut connection, &coin)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

fn round_name(round: Round) -> String {
    match round {
        Round::Current => CURRENT.to_owned(),
        Round::Height(height) => height.to_string(),
    }
}

fn status_name(status: BlockStatus) -> &'static str {
    status.nomp_name()
}

/// Share credits and counts not yet written: summed per worker, so a batch costs one
/// read and one upsert per worker rather than per share.
#[derive(Default)]
struct Tally {
    credits: BTreeMap<String, Decimal>,
    counters: BTreeMap<&'static str, i64>,
}

impl Tally {
    /// Writes what it holds; called before a round ends and at the end of a batch.
    fn write(&mut self, tx: &rusqlite::Transaction<'_>, coin: &str) -> Result<(), StoreError> {
        for (worker, difficulty) in std::mem::take(&mut self.credits) {
            credit(tx, coin, CURRENT, &worker, difficulty)?;
        }
        let mut count = tx
            .prepare_cached(
                "INSERT INTO counters (coin, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (coin, name) DO UPDATE SET value = value + excluded.value",
            )
            .map_err(sqlite)?;
        for (name, n) in std::mem::take(&mut self.counters) {
            count.execute(params![coin, name, n]).map_err(sqlite)?;
        }
        Ok(())
    }

    fn count(&mut self, name: &'static str) {
        *self.counters.entry(name).or_default() += 1;
    }
}

/// Adds `difficulty` to `worker`'s total in `round`, exactly.
fn credit(
    tx: &rusqlite::Transaction<'_>,
    coin: &str,
    round: &str,
    worker: &str,
    difficulty: Decimal,
) -> Result<(), StoreError> {
    let old: Option<String> = tx
        .prepare_cached(
            "SELECT difficulty FROM round_credits WHERE coin = ?1 AND round = ?2 AND worker = ?3",
        )
        .map_err(sqlite)?
        .query_row(params![coin, round, worker], |row| row.get(0))
        .optional()
        .map_err(sqlite)?;
    let total = match old {
        Some(text) => add_exact(parse_credit(&text, round)?, difficulty, "round_credits")?,
        None => difficulty,
    };
    tx.prepare_cached(
        "INSERT INTO round_credits (coin, round, worker, difficulty) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (coin, round, worker) DO UPDATE SET difficulty = excluded.difficulty",
    )
    .map_err(sqlite)?
    .execute(params![coin, round, worker, total.normalize().to_string()])
    .map_err(sqlite)?;
    Ok(())
}

fn parse_credit(text: &str, round: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(text).map_err(|e| StoreError::Corrupt {
        key: format!("round_credits round {round}"),
        reason: format!("{text:?} is not a decimal: {e}"),
    })
}

/// Every worker's total in `round`.
fn read_round(
    connection: &Connection,
    coin: &str,
    round: &str,
) -> Result<BTreeMap<String, Decimal>, StoreError> {
    let mut statement = connection
        .prepare_cached(
            "SELECT worker, difficulty FROM round_credits WHERE coin = ?1 AND round = ?2",
        )
        .map_err(sqlite)?;
    let rows = statement
        .query_map(params![coin, round], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(sqlite)?;
    let mut shares = BTreeMap::new();
    for row in rows {
        let (worker, text) = row.map_err(sqlite)?;
        shares.insert(worker, parse_credit(&text, round)?);
    }
    Ok(shares)
}

/// Adds every share of round `from` into round `into` and removes `from`: a finished
/// round joining one of the same height (never replacing it), or an orphaned round going
/// back into the current one.
fn merge_round(
    tx: &rusqlite::Transaction<'_>,
    coin: &str,
    from: &str,
    into: &str,
) -> Result<(), StoreError> {
    for (worker, difficulty) in read_round(tx, coin, from)? {
        credit(tx, coin, into, &worker, difficulty)?;
    }
    tx.execute(
        "DELETE FROM round_credits WHERE coin = ?1 AND round = ?2",
        params![coin, from],
    )
    .map_err(sqlite)?;
    Ok(())
}

/// Moves rounds an earlier version kept as floats into `round_credits`, each total as
/// the shortest decimal of its float (what it showed).
fn migrate_legacy_rounds(connection: &mut Connection) -> Result<(), StoreError> {
    let exists: bool = connection
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            params![LEGACY_ROUNDS],
            |row| row.get::<_, i64>(0),
        )
        .map_err(sqlite)?
        > 0;
    if !exists {
        return Ok(());
    }
    let tx = connection.transaction().map_err(sqlite)?;
    let rows: Vec<(String, String, String, f64)> = {
        let mut statement = tx
            .prepare("SELECT coin, round, worker, difficulty FROM round_shares")
            .map_err(sqlite)?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(sqlite)?;
        rows.collect::<Result<_, _>>().map_err(sqlite)?
    };
    for (coin, round, worker, difficulty) in &rows {
        if let Some(difficulty) = share_decimal(*difficulty) {
            credit(&tx, coin, round, worker, difficulty)?;
        }
    }
    tx.execute("DROP TABLE round_shares", []).map_err(sqlite)?;
    tx.commit().map_err(sqlite)?;
    tracing::info!(
        rows = rows.len(),
        "moved the embedded store's rounds to exact decimals"
    );
    Ok(())
}

fn apply_batch(connection: &mut Connection, coin: &str, batch: &Batch) -> Result<bool, StoreError> {
    let tx = connection.transaction().map_err(sqlite)?;
    let last: Option<i64> = tx
        .query_row(
            "SELECT seq FROM writers WHERE coin = ?1 AND writer = ?2",
            params![coin, batch.writer],
            |row| row.get(0),
        )
        .optional()
        .map_err(sqlite)?;
    if last.is_some_and(|last| batch.seq as i64 <= last) {
        return Ok(false);
    }
    let mut tally = Tally::default();
    {
        let mut sample = tx
            .prepare_cached(
                "INSERT INTO hashrate (coin, time_ms, worker, difficulty) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sqlite)?;
        for record in &batch.records {
            match record {
                Record::Share {
                    worker,
                    difficulty,
                    valid,
                    time_ms,
                } => {
                    if *valid {
                        if let Some(credit) = share_decimal(*difficulty) {
                            let total = tally.credits.entry(worker.clone()).or_default();
                            *total = add_exact(*total, credit, "round_credits")?;
                        }
                        tally.count("validShares");
                    } else {
                        tally.count("invalidShares");
                    }
                    let signed = if *valid { *difficulty } else { -difficulty };
                    sample
                        .execute(params![coin, *time_ms as i64, worker, signed])
                        .map_err(sqlite)?;
                }
                Record::BlockFound {
                    height,
                    hash,
                    coinbase_txid,
                    worker,
                    time_ms,
                    network_difficulty,
                } => {
                    tally.write(&tx, coin)?;
                    // NOMP's RENAME of roundCurrent, except that a second block of the same
                    // height joins the first one's round instead of replacing it.
                    merge_round(&tx, coin, CURRENT, &height.to_string())?;
                    tx.execute(
                        "INSERT OR IGNORE INTO blocks
                         (coin, hash, coinbase_txid, height, worker, time_ms, status)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            coin,
                            hash,
                            coinbase_txid,
                            *height as i64,
                            worker,
                            *time_ms as i64,
                            status_name(BlockStatus::Pending)
                        ],
                    )
                    .map_err(sqlite)?;
                    if let Some(difficulty) = share_decimal(*network_difficulty) {
                        tx.execute(
                            "INSERT OR IGNORE INTO block_difficulty (coin, hash, difficulty)
                             VALUES (?1, ?2, ?3)",
                            params![coin, hash, difficulty.to_string()],
                        )
                        .map_err(sqlite)?;
                    }
                    tally.count("validBlocks");
                }
                Record::BlockRejected { .. } => tally.count("invalidBlocks"),
            }
        }
    }
    tally.write(&tx, coin)?;
    tx.execute(
        "INSERT INTO writers (coin, writer, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (coin, writer) DO UPDATE SET seq = excluded.seq",
        params![coin, batch.writer, batch.seq as i64],
    )
    .map_err(sqlite)?;
    tx.commit().map_err(sqlite)?;
    Ok(true)
}

#[async_trait]
impl ShareStore for EmbeddedStore {
    async fn apply(&self, batch: &Batch) -> Result<bool, StoreError> {
        let batch = batch.clone();
        self.with(move |connection, coin| apply_batch(connection, coin, &batch))
            .await
    }

    async fn round_shares(&self, round: Round) -> Result<BTreeMap<String, Decimal>, StoreError> {
        self.with(move |connection, coin| read_round(connection, coin, &round_name(round)))
            .await
    }

    async fn counts(&self) -> Result<ShareCounts, StoreError> {
        self.with(|connection, coin| {
            let mut statement = connection
                .prepare_cached("SELECT name, value FROM counters WHERE coin = ?1")
                .map_err(sqlite)?;
            let rows = statement
                .query_map(params![coin], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(sqlite)?;
            let mut counts = ShareCounts::default();
            for row in rows {
                let (name, value) = row.map_err(sqlite)?;
                let value = value.max(0) as u64;
                match name.as_str() {
                    "validShares" => counts.valid_shares = value,
                    "invalidShares" => counts.invalid_shares = value,
                    "validBlocks" => counts.valid_blocks = value,
                    "invalidBlocks" => counts.invalid_blocks = value,
                    _ => {}
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn blocks(&self, status: BlockStatus) -> Result<Vec<BlockEntry>, StoreError> {
        self.with(move |connection, coin| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT height, hash, coinbase_txid, worker, time_ms FROM blocks
                     WHERE coin = ?1 AND status = ?2 ORDER BY height, hash",
                )
                .map_err(sqlite)?;
            let rows = statement
                .query_map(params![coin, status_name(status)], |row| {
                    Ok(BlockEntry {
                        height: row.get::<_, i64>(0)? as u64,
                        hash: row.get(1)?,
                        coinbase_txid: row.get(2)?,
                        worker: row.get(3)?,
                        time_ms: row.get::<_, i64>(4)? as u64,
                    })
                })
                .map_err(sqlite)?;
            rows.collect::<Result<_, _>>().map_err(sqlite)
        })
        .await
    }

    async fn block_difficulty(&self, hash: &str) -> Result<Option<Decimal>, StoreError> {
        let hash = hash.to_owned();
        self.with(move |connection, coin| {
            let text: Option<String> = connection
                .query_row(
                    "SELECT difficulty FROM block_difficulty WHERE coin = ?1 AND hash = ?2",
                    params![coin, hash],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sqlite)?;
            text.map(|text| {
                Decimal::from_str(&text).map_err(|e| StoreError::Corrupt {
                    key: "block_difficulty".into(),
                    reason: format!("{hash}: {text:?} is not a difficulty: {e}"),
                })
            })
            .transpose()
        })
        .await
    }

    async fn hashrate_since(&self, since_ms: u64) -> Result<Vec<HashrateSample>, StoreError> {
        self.with(move |connection, coin| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT worker, difficulty, time_ms FROM hashrate
                     WHERE coin = ?1 AND time_ms >= ?2 ORDER BY time_ms",
                )
                .map_err(sqlite)?;
            let rows = statement
                .query_map(params![coin, since_ms as i64], |row| {
                    Ok(HashrateSample {
                        worker: row.get(0)?,
                        difficulty: row.get(1)?,
                        time_ms: row.get::<_, i64>(2)? as u64,
                    })
                })
                .map_err(sqlite)?;
            rows.collect::<Result<_, _>>().map_err(sqlite)
        })
        .await
    }

    async fn prune_hashrate(&self, before_ms: u64) -> Result<(), StoreError> {
        self.with(move |connection, coin| {
            connection
                .execute(
                    "DELETE FROM hashrate WHERE coin = ?1 AND time_ms < ?2",
                    params![coin, before_ms as i64],
                )
                .map_err(sqlite)?;
            Ok(())
        })
        .await
    }

    async fn last_shares(
        &self,
        until_ms: u64,
        window: Decimal,
    ) -> Result<BTreeMap<String, Decimal>, StoreError> {
        self.with(move |connection, coin| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT worker, difficulty FROM hashrate
                     WHERE coin = ?1 AND time_ms <= ?2 AND difficulty > 0
                     ORDER BY time_ms DESC, rowid DESC",
                )
                .map_err(sqlite)?;
            let mut rows = statement
                .query(params![coin, until_ms as i64])
                .map_err(sqlite)?;
            let (mut shares, mut counted) = (BTreeMap::new(), Decimal::ZERO);
            while let Some(row) = rows.next().map_err(sqlite)? {
                let worker: String = row.get(0).map_err(sqlite)?;
                let difficulty: f64 = row.get(1).map_err(sqlite)?;
                if !fill_window(&mut shares, &mut counted, window, &worker, difficulty) {
                    break;
                }
            }
            Ok(shares)
        })
        .await
    }
}

fn amounts(
    connection: &Connection,
    sql: &str,
    coin: &str,
) -> Result<BTreeMap<String, Amount>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(sqlite)?;
    let rows = statement
        .query_map(params![coin], |row| {
            Ok((row.get::<_, String>(0)?, Amount::from_sat(row.get(1)?)))
        })
        .map_err(sqlite)?;
    rows.collect::<Result<_, _>>().map_err(sqlite)
}

/// Planned journal entries, oldest first.
const PLANNED: &str = "SELECT id FROM journal WHERE coin = ?1 AND status = 'planned'
     ORDER BY planned_ms LIMIT ?2";

/// Finished runs that paid someone, newest first.
const PAID: &str = "SELECT id FROM journal WHERE coin = ?1 AND status = 'done'
     AND json_extract(entry, '$.settlement.payments') <> '{}'
     ORDER BY planned_ms DESC LIMIT ?2";

/// The journal entries `query` (one of the above) selects, at most `limit`.
fn entries_with(
    connection: &Connection,
    coin: &str,
    query: &str,
    limit: u32,
) -> Result<Vec<JournalEntry>, StoreError> {
    let mut statement = connection.prepare_cached(query).map_err(sqlite)?;
    let ids = statement
        .query_map(params![coin, limit], |row| row.get::<_, String>(0))
        .map_err(sqlite)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite)?;
    ids.iter()
        .filter_map(|id| read_entry(connection, coin, id).transpose())
        .collect()
}

fn read_entry(
    connection: &Connection,
    coin: &str,
    id: &str,
) -> Result<Option<JournalEntry>, StoreError> {
    let text: Option<String> = connection
        .query_row(
            "SELECT entry FROM journal WHERE coin = ?1 AND id = ?2",
            params![coin, id],
            |row| row.get(0),
        )
        .optional()
        .map_err(sqlite)?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            key: format!("journal {id}"),
            reason: e.to_string(),
        })
    })
    .transpose()
}

fn write_entry(
    tx: &rusqlite::Transaction<'_>,
    coin: &str,
    entry: &JournalEntry,
) -> Result<(), StoreError> {
    let status = match entry.status {
        JournalStatus::Planned => "planned",
        JournalStatus::Done => "done",
        JournalStatus::Abandoned => "abandoned",
    };
    tx.execute(
        "UPDATE journal SET entry = ?3, status = ?4 WHERE coin = ?1 AND id = ?2",
        params![
            coin,
            entry.settlement.id,
            serde_json::to_string(entry).expect("journal entries serialize"),
            status
        ],
    )
    .map_err(sqlite)?;
    Ok(())
}

fn apply_settlement(
    tx: &rusqlite::Transaction<'_>,
    coin: &str,
    settlement: &Settlement,
) -> Result<(), StoreError> {
    let set_status = |block: &BlockEntry, status: BlockStatus| {
        tx.execute(
            "UPDATE blocks SET status = ?3 WHERE coin = ?1 AND hash = ?2",
            params![coin, block.hash, status_name(status)],
        )
        .map_err(sqlite)
    };
    for block in &settlement.confirmed {
        set_status(block, BlockStatus::Confirmed)?;
    }
    for block in &settlement.orphaned {
        set_status(block, BlockStatus::Orphaned)?;
    }
    for block in &settlement.kicked {
        set_status(block, BlockStatus::Kicked)?;
    }
    for height in settlement.rounds_paid() {
        tx.execute(
            "DELETE FROM round_credits WHERE coin = ?1 AND round = ?2",
            params![coin, height.to_string()],
        )
        .map_err(sqlite)?;
    }
    for height in settlement.rounds_merged() {
        merge_round(tx, coin, &height.to_string(), CURRENT)?;
    }
    for (entry, amount) in &settlement.balances {
        if *amount == Amount::ZERO {
            tx.execute(
                "DELETE FROM balances WHERE coin = ?1 AND entry = ?2",
                params![coin, entry],
            )
        } else {
            tx.execute(
                "INSERT OR REPLACE INTO balances (coin, entry, sats) VALUES (?1, ?2, ?3)",
                params![coin, entry, amount.to_sat()],
            )
        }
        .map_err(sqlite)?;
    }
    for (address, total) in &settlement.payout_totals {
        tx.execute(
            "INSERT OR REPLACE INTO payouts (coin, address, sats) VALUES (?1, ?2, ?3)",
            params![coin, address, total.to_sat()],
        )
        .map_err(sqlite)?;
    }
    tx.execute(
        "INSERT OR REPLACE INTO counters (coin, name, value) VALUES (?1, 'totalPaid', ?2)",
        params![coin, settlement.total_paid.to_sat()],
    )
    .map_err(sqlite)?;
    Ok(())
}

/// Moves a planned entry to `status`, applying its settlement when it becomes done.
/// The latest fence of `coin`'s payment lease (0 before the first holder).
fn latest_fence(connection: &Connection, coin: &str) -> Result<u64, StoreError> {
    let token: Option<i64> = connection
        .query_row(
            "SELECT token FROM fences WHERE coin = ?1",
            params![coin],
            |row| row.get(0),
        )
        .optional()
        .map_err(sqlite)?;
    Ok(token.unwrap_or(0) as u64)
}

/// Refuses a write holding `fence` unless it is the latest.
fn check_fence(connection: &Connection, coin: &str, fence: Fence) -> Result<(), StoreError> {
    let current = latest_fence(connection, coin)?;
    if current == fence.0 {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            held: fence.0,
            current,
        })
    }
}

fn finish_entry(
    connection: &mut Connection,
    coin: &str,
    id: &str,
    status: JournalStatus,
    txid: Option<String>,
    fence: Fence,
) -> Result<bool, StoreError> {
    let tx = connection.transaction().map_err(sqlite)?;
    check_fence(&tx, coin, fence)?;
    let Some(mut entry) = read_entry(&tx, coin, id)? else {
        return Ok(false);
    };
    if entry.status != JournalStatus::Planned {
        return Ok(false);
    }
    if status == JournalStatus::Done {
        apply_settlement(&tx, coin, &entry.settlement)?;
    }
    entry.status = status;
    entry.txid = txid;
    write_entry(&tx, coin, &entry)?;
    tx.commit().map_err(sqlite)?;
    Ok(true)
}

#[async_trait]
impl PayoutStore for EmbeddedStore {
    async fn balances(&self) -> Result<BTreeMap<String, Amount>, StoreError> {
        self.with(|connection, coin| {
            amounts(
                connection,
                "SELECT entry, sats FROM balances WHERE coin = ?1",
                coin,
            )
        })
        .await
    }

    async fn payout_totals(&self) -> Result<BTreeMap<String, Amount>, StoreError> {
        self.with(|connection, coin| {
            amounts(
                connection,
                "SELECT address, sats FROM payouts WHERE coin = ?1",
                coin,
            )
        })
        .await
    }

    async fn total_paid(&self) -> Result<Amount, StoreError> {
        self.with(|connection, coin| {
            let sats: Option<i64> = connection
                .query_row(
                    "SELECT value FROM counters WHERE coin = ?1 AND name = 'totalPaid'",
                    params![coin],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sqlite)?;
            Ok(Amount::from_sat(sats.unwrap_or(0)))
        })
        .await
    }

    async fn plan(
        &self,
        settlement: &Settlement,
        now_ms: u64,
        fence: Fence,
    ) -> Result<(), StoreError> {
        let entry = JournalEntry::planned(settlement, now_ms);
        self.with(move |connection, coin| {
            let tx = connection.transaction().map_err(sqlite)?;
            check_fence(&tx, coin, fence)?;
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO journal (coin, id, entry, status, planned_ms)
                     VALUES (?1, ?2, ?3, 'planned', ?4)",
                    params![
                        coin,
                        entry.settlement.id,
                        serde_json::to_string(&entry).expect("journal entries serialize"),
                        now_ms as i64
                    ],
                )
                .map_err(sqlite)?;
            if inserted == 1 {
                tx.commit().map_err(sqlite)
            } else {
                Err(StoreError::Corrupt {
                    key: "journal".into(),
                    reason: format!("payment {} is in the journal already", entry.settlement.id),
                })
            }
        })
        .await
    }

    async fn planned(&self) -> Result<Vec<JournalEntry>, StoreError> {
        self.with(|connection, coin| entries_with(connection, coin, PLANNED, u32::MAX))
            .await
    }

    async fn payment_history(&self, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        self.with(move |connection, coin| entries_with(connection, coin, PAID, limit))
            .await
    }

    async fn complete(
        &self,
        id: &str,
        txid: Option<&str>,
        fence: Fence,
    ) -> Result<bool, StoreError> {
        let (id, txid) = (id.to_owned(), txid.map(str::to_owned));
        self.with(move |connection, coin| {
            finish_entry(connection, coin, &id, JournalStatus::Done, txid, fence)
        })
        .await
    }

    async fn abandon(&self, id: &str, fence: Fence) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with(move |connection, coin| {
            finish_entry(connection, coin, &id, JournalStatus::Abandoned, None, fence)
        })
        .await
    }

    async fn journal_entry(&self, id: &str) -> Result<Option<JournalEntry>, StoreError> {
        let id = id.to_owned();
        self.with(move |connection, coin| read_entry(connection, coin, &id))
            .await
    }

    async fn acquire_lease(&self, owner: &str, ttl_ms: u64) -> Result<Option<Fence>, StoreError> {
        let owner = owner.to_owned();
        self.with(move |connection, coin| {
            let now = now_ms() as i64;
            let tx = connection.transaction().map_err(sqlite)?;
            let holder: Option<(String, i64)> = tx
                .query_row(
                    "SELECT owner, expires_ms FROM leases WHERE coin = ?1",
                    params![coin],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(sqlite)?;
            let renewing = match &holder {
                Some((holder, expires)) if *expires > now => {
                    if *holder != owner {
                        return Ok(None);
                    }
                    true
                }
                _ => false,
            };
            let mut fence = latest_fence(&tx, coin)?;
            if !renewing || fence == 0 {
                fence += 1;
                tx.execute(
                    "INSERT INTO fences (coin, token) VALUES (?1, ?2)
                     ON CONFLICT (coin) DO UPDATE SET token = excluded.token",
                    params![coin, fence as i64],
                )
                .map_err(sqlite)?;
            }
            tx.execute(
                "INSERT INTO leases (coin, owner, expires_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (coin) DO UPDATE SET owner = excluded.owner,
                     expires_ms = excluded.expires_ms",
                params![coin, owner, now + ttl_ms as i64],
            )
            .map_err(sqlite)?;
            tx.commit().map_err(sqlite)?;
            Ok(Some(Fence(fence)))
        })
        .await
    }

    async fn release_lease(&self, owner: &str) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        self.with(move |connection, coin| {
            connection
                .execute(
                    "DELETE FROM leases WHERE coin = ?1 AND owner = ?2",
                    params![coin, owner],
                )
                .map_err(sqlite)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl StatsHistory for EmbeddedStore {
    async fn push_stats(
        &self,
        time_s: u64,
        snapshot: &str,
        keep_from_s: u64,
    ) -> Result<(), StoreError> {
        let snapshot = snapshot.to_owned();
        self.with(move |connection, _| {
            let tx = connection.transaction().map_err(sqlite)?;
            tx.execute(
                "INSERT INTO stat_history (time_s, snapshot) VALUES (?1, ?2)",
                params![time_s as i64, snapshot],
            )
            .map_err(sqlite)?;
            tx.execute(
                "DELETE FROM stat_history WHERE time_s < ?1",
                params![keep_from_s as i64],
            )
            .map_err(sqlite)?;
            tx.commit().map_err(sqlite)
        })
        .await
    }

    async fn stats_since(&self, since_s: u64) -> Result<Vec<String>, StoreError> {
        self.with(move |connection, _| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT snapshot FROM stat_history WHERE time_s >= ?1 ORDER BY time_s",
                )
                .map_err(sqlite)?;
            let rows = statement
                .query_map(params![since_s as i64], |row| row.get(0))
                .map_err(sqlite)?;
            rows.collect::<Result<_, _>>().map_err(sqlite)
        })
        .await
    }
}

#[async_trait]
impl SwitchState for EmbeddedStore {
    async fn switched_coins(&self) -> Result<BTreeMap<String, String>, StoreError> {
        self.with(|connection, _| {
            let mut statement = connection
                .prepare_cached("SELECT algorithm, coin FROM switch_state")
                .map_err(sqlite)?;
            let rows = statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(sqlite)?;
            rows.collect::<Result<_, _>>().map_err(sqlite)
        })
        .await
    }

    async fn set_switched_coin(&self, algorithm: &str, coin: &str) -> Result<(), StoreError> {
        let (algorithm, coin) = (algorithm.to_owned(), coin.to_owned());
        self.with(move |connection, _| {
            connection
                .execute(
                    "INSERT INTO switch_state (algorithm, coin) VALUES (?1, ?2) \
                     ON CONFLICT (algorithm) DO UPDATE SET coin = excluded.coin",
                    params![algorithm, coin],
                )
                .map(drop)
                .map_err(sqlite)
        })
        .await
    }
}
