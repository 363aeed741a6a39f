//! The Redis backend, in NOMP's exact key layout (see the crate docs).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use crate::batch::{Batch, Record};
use crate::error::StoreError;
use crate::store::{
    BlockEntry, BlockStatus, HashrateSample, Round, ShareCounts, ShareStore, block_member,
    parse_block_member, parse_hashrate_member,
};

/// How long a writer's last applied batch number is remembered (a spool older than this
/// could be applied twice).
const WRITER_MEMORY_SECS: u64 = 30 * 24 * 3600;

/// Applies one batch atomically, unless its number was applied before. ARGV: coin, writer
/// key, seq, memory seconds, then the records: `S worker difficulty valid(1|0) secs ms`,
/// `B height hash txid worker ms`, `R height`.
const APPLY: &str = r"
local coin = ARGV[1]
local last = tonumber(redis.call('GET', ARGV[2]) or '0')
if tonumber(ARGV[3]) <= last then return 0 end
local i = 5
while i <= #ARGV do
  local kind = ARGV[i]
  if kind == 'S' then
    local worker, diff, valid, secs, ms = ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
    if valid == '1' then
      redis.call('HINCRBYFLOAT', coin .. ':shares:roundCurrent', worker, diff)
      redis.call('HINCRBY', coin .. ':stats', 'validShares', 1)
      redis.call('ZADD', coin .. ':hashrate', secs, diff .. ':' .. worker .. ':' .. ms)
    else
      redis.call('HINCRBY', coin .. ':stats', 'invalidShares', 1)
      redis.call('ZADD', coin .. ':hashrate', secs, '-' .. diff .. ':' .. worker .. ':' .. ms)
    end
    i = i + 6
  elseif kind == 'B' then
    local height, member = ARGV[i+1], ARGV[i+2]
    if redis.call('EXISTS', coin .. ':shares:roundCurrent') == 1 then
      redis.call('RENAME', coin .. ':shares:roundCurrent', coin .. ':shares:round' .. height)
    end
    redis.call('SADD', coin .. ':blocksPending', member)
    redis.call('HINCRBY', coin .. ':stats', 'validBlocks', 1)
    i = i + 3
  elseif kind == 'R' then
    redis.call('HINCRBY', coin .. ':stats', 'invalidBlocks', 1)
    i = i + 2
  else
    return redis.error_reply('unknown record kind ' .. kind)
  end
end
redis.call('SET', ARGV[2], ARGV[3], 'EX', ARGV[4])
return 1
";

/// A coin's shares in Redis under NOMP's keys (`<coin>:shares:roundCurrent`,
/// `<coin>:stats`, `<coin>:hashrate`, `<coin>:blocksPending`, …), so an existing NOMP
/// Redis keeps working and NOMP-era tools read what nomp-rs writes. The one key of its
/// own, `<coin>:writers:<id>`, remembers each share writer's last applied batch.
///
/// Calls fail fast while Redis is down (one retry, 1 s to connect, 2 s to answer) so the
/// share writer can spool instead of waiting; the connection comes back by itself.
#[derive(Clone)]
pub struct RedisStore {
    coin: String,
    connection: ConnectionManager,
    apply: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("coin", &self.coin)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `coin` (NOMP's coin name, the key prefix) at `url`
    /// (`redis://host:port/db`, with `redis://:password@…` for a password). Connects
    /// lazily: Redis may be down at start-up. Fails only for a malformed URL.
    pub fn new(url: &str, coin: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("redis URL {url}: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(RedisStore {
            coin: coin.to_owned(),
            connection,
            apply: Script::new(APPLY),
        })
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.coin)
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

#[async_trait]
impl ShareStore for RedisStore {
    async fn apply(&self, batch: &Batch) -> Result<bool, StoreError> {
        let mut invocation = self.apply.prepare_invoke();
        invocation
            .arg(&self.coin)
            .arg(self.key(&format!("writers:{}", batch.writer)))
            .arg(batch.seq)
            .arg(WRITER_MEMORY_SECS);
        for record in &batch.records {
            match record {
                Record::Share {
                    worker,
                    difficulty,
                    valid,
                    time_ms,
                } => invocation
                    .arg("S")
                    .arg(worker)
                    .arg(difficulty.to_string())
                    .arg(if *valid { "1" } else { "0" })
                    .arg(time_ms / 1000)
                    .arg(time_ms),
                Record::BlockFound {
                    height,
                    hash,
                    coinbase_txid,
                    worker,
                    time_ms,
                } => {
                    let member = block_member(&BlockEntry {
                        height: *height,
                        hash: hash.clone(),
                        coinbase_txid: coinbase_txid.clone(),
                        worker: worker.clone(),
                        time_ms: *time_ms,
                    });
                    invocation.arg("B").arg(height).arg(member)
                }
                Record::BlockRejected { height } => invocation.arg("R").arg(height),
            };
        }
        let applied: i64 = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(applied == 1)
    }

    async fn round_shares(&self, round: Round) -> Result<BTreeMap<String, f64>, StoreError> {
        let key = match round {
            Round::Current => self.key("shares:roundCurrent"),
            Round::Height(height) => self.key(&format!("shares:round{height}")),
        };
        let raw: BTreeMap<String, String> = self
            .connection
            .clone()
            .hgetall(&key)
            .await
            .map_err(unavailable)?;
        raw.into_iter()
            .map(|(worker, value)| match value.parse::<f64>() {
                Ok(difficulty) => Ok((worker, difficulty)),
                Err(_) => Err(StoreError::Corrupt {
                    key: key.clone(),
                    reason: format!("{worker} has non-numeric shares {value:?}"),
                }),
            })
            .collect()
    }

    async fn counts(&self) -> Result<ShareCounts, StoreError> {
        let raw: BTreeMap<String, String> = self
            .connection
            .clone()
            .hgetall(self.key("stats"))
            .await
            .map_err(unavailable)?;
        let field = |name: &str| raw.get(name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(ShareCounts {
            valid_shares: field("validShares"),
            invalid_shares: field("invalidShares"),
            valid_blocks: field("validBlocks"),
            invalid_blocks: field("invalidBlocks"),
        })
    }

    async fn blocks(&self, status: BlockStatus) -> Result<Vec<BlockEntry>, StoreError> {
        let key = self.key(&format!("blocks{}", status.nomp_name()));
        let members: Vec<String> = self
            .connection
            .clone()
            .smembers(&key)
            .await
            .map_err(unavailable)?;
        let mut blocks = members
            .iter()
            .map(|member| {
                parse_block_member(member).ok_or_else(|| StoreError::Corrupt {
                    key: key.clone(),
                    reason: format!("unreadable block entry {member:?}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        blocks.sort();
        Ok(blocks)
    }

    async fn hashrate_since(&self, since_ms: u64) -> Result<Vec<HashrateSample>, StoreError> {
        let members: Vec<String> = self
            .connection
            .clone()
            .zrangebyscore(self.key("hashrate"), since_ms / 1000, "+inf")
            .await
            .map_err(unavailable)?;
        let mut samples: Vec<HashrateSample> = members
            .iter()
            .filter_map(|m| parse_hashrate_member(m))
            .filter(|s| s.time_ms >= since_ms)
            .collect();
        samples.sort_by_key(|s| s.time_ms);
        Ok(samples)
    }
}
