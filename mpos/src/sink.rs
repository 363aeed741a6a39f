//! The MPOS share sink: every share into MPOS's `shares` table, never lost, never twice.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Params, Pool, TxOpts, Value};
use pool_events::{
    Batch, BatchTarget, DurableWriter, EventReceiver, PoolEvent, TargetError, WriterOptions,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::MposError;
use crate::options::MposOptions;

/// Widths of MPOS's `shares` columns: longer values are cut to fit, so one odd worker
/// name or message can never make every later insert fail in strict SQL mode.
const REM_HOST_WIDTH: usize = 255;
const USERNAME_WIDTH: usize = 120;
const REASON_WIDTH: usize = 50;
const SOLUTION_WIDTH: usize = 257;
/// `pool_worker.username` is 50 characters wide.
const WORKER_WIDTH: usize = 50;
/// Rows per multi-row INSERT.
const ROWS_PER_INSERT: usize = 500;

/// What the sink writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MposRecord {
    /// A row of `shares`.
    Share {
        /// The miner's IP.
        rem_host: String,
        /// The worker name.
        username: String,
        /// Whether the share was valid (`our_result` 'Y'/'N').
        our_result: bool,
        /// Whether its block was accepted (`upstream_result` 'Y'/'N').
        upstream_result: bool,
        /// Why it was refused; `None` (NULL, as NOMP writes) for a valid share.
        #[serde(default)]
        reason: Option<String>,
        /// The block hash of an accepted block (or of a rejected one with
        /// `emitInvalidBlockHashes`); empty otherwise.
        solution: String,
        /// The share difficulty times `difficultyMultiplier`.
        difficulty: f64,
        /// When the share came in, unix milliseconds (written to `time`, so shares
        /// replayed after an outage keep their own time).
        time_ms: u64,
    },
    /// `pool_worker.difficulty` of a worker changed (vardiff).
    Difficulty {
        /// The worker name.
        username: String,
        /// The new difficulty.
        difficulty: f64,
    },
}

impl MposRecord {
    /// The record of `event` under `options`; block events write nothing (their share
    /// carries the verdict).
    pub fn from_event(event: &PoolEvent, options: &MposOptions) -> Option<MposRecord> {
        match event {
            PoolEvent::Share(share) => {
                let solution = match &share.block_hash {
                    Some(hash) if share.block_accepted || options.emit_invalid_block_hashes => {
                        hash.to_string()
                    }
                    _ => String::new(),
                };
                Some(MposRecord::Share {
                    rem_host: share.ip.to_string(),
                    username: share.worker.clone(),
                    our_result: share.is_valid(),
                    upstream_result: share.block_accepted,
                    reason: share.error(),
                    solution,
                    difficulty: share.difficulty.get() * options.difficulty_multiplier,
                    time_ms: share
                        .time
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64),
                })
            }
            PoolEvent::Block(_) => None,
            PoolEvent::Difficulty(change) => Some(MposRecord::Difficulty {
                username: change.worker.clone(),
                difficulty: change.difficulty.get(),
            }),
        }
    }
}

/// Cuts `text` to at most `width` characters.
fn fit(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "Y" } else { "N" }
}

/// Writes batches to the MPOS database: the batch's id into `nomp_share_batches`, its
/// shares with multi-row INSERTs, its difficulty changes as UPDATEs, all in one
/// transaction. A batch numbered at or below its writer's last one there was written
/// before and is skipped.
struct MposTarget {
    pool: Pool,
}

impl MposTarget {
    async fn write_batch(&self, batch: &Batch<MposRecord>) -> Result<(), mysql_async::Error> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        // The last batch of this writer written: a batch at or below it was written before
        // (a combined batch stands for every number up to its own).
        let last: Option<u64> = tx
            .exec_first(
                "SELECT MAX(seq) FROM nomp_share_batches WHERE writer = ? FOR UPDATE",
                (&batch.writer,),
            )
            .await?
            .flatten();
        if last.is_some_and(|last| batch.seq <= last) {
            tx.rollback().await?;
            return Ok(());
        }
        tx.exec_drop(
            "INSERT INTO nomp_share_batches (writer, seq) VALUES (?, ?)",
            (&batch.writer, batch.seq),
        )
        .await?;
        let shares: Vec<&MposRecord> = batch
            .records
            .iter()
            .filter(|r| matches!(r, MposRecord::Share { .. }))
            .collect();
        for chunk in shares.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO shares (rem_host, username, our_result, upstream_result, reason, \
                 solution, difficulty, time) VALUES ",
            );
            let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 8);
            for (i, record) in chunk.iter().enumerate() {
                let MposRecord::Share {
                    rem_host,
                    username,
                    our_result,
                    upstream_result,
                    reason,
                    solution,
                    difficulty,
                    time_ms,
                } = record
                else {
                    continue;
                };
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str("(?, ?, ?, ?, ?, ?, ?, FROM_UNIXTIME(?))");
                params.extend([
                    Value::from(fit(rem_host, REM_HOST_WIDTH)),
                    Value::from(fit(username, USERNAME_WIDTH)),
                    Value::from(yes_no(*our_result)),
                    Value::from(yes_no(*upstream_result)),
                    match reason.as_deref().filter(|r| !r.is_empty()) {
                        Some(reason) => Value::from(fit(reason, REASON_WIDTH)),
                        None => Value::NULL,
                    },
                    Value::from(fit(solution, SOLUTION_WIDTH)),
                    Value::from(*difficulty),
                    Value::from(*time_ms as f64 / 1000.0),
                ]);
            }
            tx.exec_drop(sql, Params::Positional(params)).await?;
        }
        for record in &batch.records {
            if let MposRecord::Difficulty {
                username,
                difficulty,
            } = record
            {
                tx.exec_drop(
                    "UPDATE pool_worker SET difficulty = ? WHERE username = ?",
                    (*difficulty, fit(username, WORKER_WIDTH)),
                )
                .await?;
            }
        }
        tx.commit().await
    }
}

#[async_trait]
impl BatchTarget<MposRecord> for MposTarget {
    async fn write(&self, batch: &Batch<MposRecord>) -> Result<(), TargetError> {
        Ok(self.write_batch(batch).await?)
    }
}

/// Writes a pool's events to MPOS's tables (NOMP's `mposMode`).
#[derive(Debug)]
pub struct MposShareSink;

impl MposShareSink {
    /// Starts writing `events` to the database of `pool` in batches (see
    /// [`DurableWriter::spawn`]): while the database is down, batches wait in the spool
    /// and are written, in order and exactly once, when it is back.
    ///
    /// Creates `nomp_share_batches` if it is missing (the one table MPOS does not have);
    /// that fails only with the database unreachable or without the CREATE privilege,
    /// in which case load `mpos/sql/mpos.sql` (or just that table) first.
    pub async fn spawn(
        pool: Pool,
        events: EventReceiver,
        options: &MposOptions,
        writer: WriterOptions,
        cancel: CancellationToken,
    ) -> Result<DurableWriter, MposError> {
        pool.get_conn().await?.query_drop(batches_table()).await?;
        let options = options.clone();
        Ok(DurableWriter::spawn(
            Arc::new(MposTarget { pool }),
            events,
            move |event| MposRecord::from_event(event, &options),
            writer,
            cancel,
        )?)
    }
}

/// The DDL of `nomp_share_batches` alone, from [`crate::SCHEMA`].
fn batches_table() -> &'static str {
    let start = "CREATE TABLE IF NOT EXISTS nomp_share_batches";
    crate::SCHEMA
        .split(';')
        .find_map(|statement| statement.find(start).map(|at| &statement[at..]))
        .expect("the schema defines nomp_share_batches")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_batches_table_is_cut_from_the_schema() {
        let ddl = super::batches_table();
        assert!(ddl.starts_with("CREATE TABLE IF NOT EXISTS nomp_share_batches ("));
        assert!(ddl.trim_end().ends_with("ENGINE=InnoDB"), "{ddl}");
    }
}
