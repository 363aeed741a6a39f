//! The Redis backend, in NOMP's exact key layout (see the crate docs).

use std::collections::BTreeMap;
use std::sync::Arc;

use std::str::FromStr;

use async_trait::async_trait;
use redis::{AsyncCommands, Cmd, Script};
use rust_decimal::Decimal;

use coin_daemon::Amount;

use crate::batch::{Batch, Record};
use crate::error::StoreError;
use crate::history::{StatsHistory, SwitchState};
use crate::journal::{Fence, JournalEntry, JournalStatus, PayoutStore, Settlement};
use crate::redis_link::{Link, RedisOptions, evalsha};
use crate::store::{
    BlockEntry, BlockStatus, HashrateSample, Round, ShareCounts, ShareStore, block_member,
    fill_window, parse_block_member, parse_hashrate_member, parse_share_entry, share_decimal,
};

/// How long a writer's last applied batch number is remembered (a spool older than this
/// could be applied twice).
const WRITER_MEMORY_SECS: u64 = 30 * 24 * 3600;

/// Applies one batch atomically, unless its number was applied before. ARGV: coin, writer
/// key, seq, memory seconds, then the records: `S worker difficulty valid(1|0) secs ms`,
/// `B height member hash networkDifficulty` (the difficulty empty where unknown; kept in
/// `<coin>:blockDifficulty` by block hash), `R height`. A share's hashrate entry is NOMP's
/// `±difficulty:worker:ms` with `#<number>` after the milliseconds (NOMP reads the first two
/// fields only): `<coin>:shareNumber` numbers the shares as they are stored.
const APPLY: &str = r"
local coin = ARGV[1]
local last = tonumber(redis.call('GET', ARGV[2]) or '0')
if tonumber(ARGV[3]) <= last then return 0 end
local i = 5
while i <= #ARGV do
  local kind = ARGV[i]
  if kind == 'S' then
    local worker, diff, valid, secs, ms = ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
    -- Numbered, so two equal shares in one millisecond stay two entries, in arrival order.
    local at = ms .. '#' .. redis.call('INCR', coin .. ':shareNumber')
    if valid == '1' then
      redis.call('HINCRBYFLOAT', coin .. ':shares:roundCurrent', worker, diff)
      redis.call('HINCRBY', coin .. ':stats', 'validShares', 1)
      redis.call('ZADD', coin .. ':hashrate', secs, diff .. ':' .. worker .. ':' .. at)
    else
      redis.call('HINCRBY', coin .. ':stats', 'invalidShares', 1)
      redis.call('ZADD', coin .. ':hashrate', secs, '-' .. diff .. ':' .. worker .. ':' .. at)
    end
    i = i + 6
  elseif kind == 'B' then
    local height, member, hash, difficulty = ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
    if difficulty ~= '' then redis.call('HSET', coin .. ':blockDifficulty', hash, difficulty) end
    local current, round = coin .. ':shares:roundCurrent', coin .. ':shares:round' .. height
    if redis.call('EXISTS', round) == 1 then
      -- A second block of this height: its round joins the first one's, never replaces it.
      local shares = redis.call('HGETALL', current)
      for j = 1, #shares, 2 do
        redis.call('HINCRBYFLOAT', round, shares[j], shares[j+1])
      end
      redis.call('DEL', current)
    elseif redis.call('EXISTS', current) == 1 then
      redis.call('RENAME', current, round)
    end
    redis.call('SADD', coin .. ':blocksPending', member)
    redis.call('HINCRBY', coin .. ':stats', 'validBlocks', 1)
    i = i + 5
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
/// Redis keeps working and NOMP-era tools read what nomp-rs writes. Keys of its own:
/// `<coin>:writers:<id>` remembers each share writer's last applied batch,
/// `<coin>:paymentJournal` the payment runs, `<coin>:paymentLease` and `<coin>:paymentFence`
/// the payer and its fencing token.
///
/// Calls fail fast while Redis is down (one retry, 1 s to connect, 2 s to answer) so the
/// share writer can spool instead of waiting; the connection comes back by itself, behind
/// Redis Sentinel to whichever server is master by then ([`RedisOptions`]).
#[derive(Clone)]
pub struct RedisStore {
    coin: String,
    link: Arc<Link>,
    scripts: Arc<Scripts>,
}

/// The store's Lua scripts, hashed once (Redis runs them by hash after the first load).
struct Scripts {
    apply: Script,
    plan: Script,
    complete: Script,
    swap_entry: Script,
    acquire: Script,
    release: Script,
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
        RedisStore::with_options(&RedisOptions::url(url), coin)
    }

    /// A store for `coin` reached as `options` say (one server or a Sentinel group, and
    /// how many replicas each write must reach).
    pub fn with_options(options: &RedisOptions, coin: &str) -> Result<RedisStore, StoreError> {
        Ok(RedisStore {
            coin: coin.to_owned(),
            link: Arc::new(Link::new(options)?),
            scripts: Arc::new(Scripts {
                apply: Script::new(APPLY),
                plan: Script::new(&format!("{FENCE_CHECK}{PLAN}")),
                complete: Script::new(&format!("{FENCE_CHECK}{COMPLETE}")),
                swap_entry: Script::new(&format!("{FENCE_CHECK}{SWAP_ENTRY}")),
                acquire: Script::new(ACQUIRE),
                release: Script::new(RELEASE),
            }),
        })
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.coin)
    }

    async fn conn(&self) -> Result<redis::aio::ConnectionManager, StoreError> {
        self.link.connection().await
    }

    /// Runs `cmd` on the master.
    pub(crate) async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.link.query(cmd).await
    }

    /// Runs a script's `eval` as a write (see [`Link::write`]).
    pub(crate) async fn write<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        eval: &Cmd,
    ) -> Result<T, StoreError> {
        self.link.write(script, eval).await
    }
}

/// The answer of a fenced script: `{result, latest fence}`, or `{-1, latest}` when `held`
/// is not the latest fence.
fn fenced(answer: (i64, u64), held: Fence) -> Result<bool, StoreError> {
    match answer {
        (-1, current) => Err(StoreError::Fenced {
            held: held.0,
            current,
        }),
        (result, _) => Ok(result == 1),
    }
}

#[async_trait]
impl ShareStore for RedisStore {
    async fn apply(&self, batch: &Batch) -> Result<bool, StoreError> {
        let mut invocation = evalsha(&self.scripts.apply);
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
                    network_difficulty,
                } => {
                    let member = block_member(&BlockEntry {
                        height: *height,
                        hash: hash.clone(),
                        coinbase_txid: coinbase_txid.clone(),
                        worker: worker.clone(),
                        time_ms: *time_ms,
                    });
                    let difficulty =
                        share_decimal(*network_difficulty).map_or(String::new(), |d| d.to_string());
                    invocation
                        .arg("B")
                        .arg(height)
                        .arg(member)
                        .arg(hash)
                        .arg(difficulty)
                }
                Record::BlockRejected { height } => invocation.arg("R").arg(height),
            };
        }
        let applied: i64 = self.link.write(&self.scripts.apply, &invocation).await?;
        Ok(applied == 1)
    }

    async fn round_shares(&self, round: Round) -> Result<BTreeMap<String, Decimal>, StoreError> {
        let key = match round {
            Round::Current => self.key("shares:roundCurrent"),
            Round::Height(height) => self.key(&format!("shares:round{height}")),
        };
        // Redis sums in long double and prints 17 digits: its text is the exact decimal
        // sum for share difficulties, and is what NOMP's tools show.
        self.parsed_hash(&key, "a share difficulty", parse_decimal)
            .await
    }

    async fn counts(&self) -> Result<ShareCounts, StoreError> {
        let raw: BTreeMap<String, String> = self
            .conn()
            .await?
            .hgetall(self.key("stats"))
            .await
            .map_err(|e| self.link.failed(e))?;
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
            .conn()
            .await?
            .smembers(&key)
            .await
            .map_err(|e| self.link.failed(e))?;
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

    async fn block_difficulty(&self, hash: &str) -> Result<Option<Decimal>, StoreError> {
        let key = self.key("blockDifficulty");
        let text: Option<String> = self
            .conn()
            .await?
            .hget(&key, hash)
            .await
            .map_err(|e| self.link.failed(e))?;
        text.map(|text| {
            parse_decimal(&text).ok_or_else(|| StoreError::Corrupt {
                key,
                reason: format!("{hash} holds {text:?}, not a difficulty"),
            })
        })
        .transpose()
    }

    async fn hashrate_since(&self, since_ms: u64) -> Result<Vec<HashrateSample>, StoreError> {
        let members: Vec<String> = self
            .conn()
            .await?
            .zrangebyscore(self.key("hashrate"), since_ms / 1000, "+inf")
            .await
            .map_err(|e| self.link.failed(e))?;
        let mut samples: Vec<HashrateSample> = members
            .iter()
            .filter_map(|m| parse_hashrate_member(m))
            .filter(|s| s.time_ms >= since_ms)
            .collect();
        samples.sort_by_key(|s| s.time_ms);
        Ok(samples)
    }

    async fn prune_hashrate(&self, before_ms: u64) -> Result<(), StoreError> {
        // Scores are seconds (NOMP's); exclusive, so a sample of this second stays.
        let _: i64 = self
            .conn()
            .await?
            .zrembyscore(
                self.key("hashrate"),
                "-inf",
                format!("({}", before_ms / 1000),
            )
            .await
            .map_err(|e| self.link.failed(e))?;
        Ok(())
    }

    async fn last_shares(
        &self,
        until_ms: u64,
        window: Decimal,
    ) -> Result<BTreeMap<String, Decimal>, StoreError> {
        const PAGE: isize = 1000;
        let (mut shares, mut counted) = (BTreeMap::new(), Decimal::ZERO);
        // Entries of seconds a page may have cut: taken once the next page shows the second
        // is complete, so the order (newest millisecond, then newest number) never depends on
        // where a page ends.
        let mut waiting: Vec<(HashrateSample, u64)> = Vec::new();
        let mut offset = 0;
        loop {
            let members: Vec<String> = self
                .conn()
                .await?
                .zrevrangebyscore_limit(self.key("hashrate"), until_ms / 1000, "-inf", offset, PAGE)
                .await
                .map_err(|e| self.link.failed(e))?;
            let last_page = members.len() < PAGE as usize;
            waiting.extend(
                members
                    .iter()
                    .filter_map(|m| parse_share_entry(m))
                    .filter(|(s, _)| s.time_ms <= until_ms && s.difficulty > 0.0),
            );
            // The page's last second may go on in the next page.
            let open_second = match members.last().and_then(|m| parse_share_entry(m)) {
                Some((sample, _)) if !last_page => Some(sample.time_ms / 1000),
                _ => None,
            };
            let (mut complete, open): (Vec<_>, Vec<_>) = waiting
                .drain(..)
                .partition(|(s, _)| open_second.is_none_or(|open| s.time_ms / 1000 > open));
            waiting = open;
            complete.sort_by_key(|(s, number)| std::cmp::Reverse((s.time_ms, *number)));
            for (sample, _) in complete {
                if !fill_window(
                    &mut shares,
                    &mut counted,
                    window,
                    &sample.worker,
                    sample.difficulty,
                ) {
                    return Ok(shares);
                }
            }
            if last_page {
                return Ok(shares);
            }
            offset += PAGE;
        }
    }
}

/// The start of every fenced script: ARGV[1] the fence key, ARGV[2] the token the write
/// holds; anything but the latest token ends the script with `{-1, latest}`.
const FENCE_CHECK: &str = r"
local fence = tonumber(redis.call('GET', ARGV[1]) or '0')
if fence ~= tonumber(ARGV[2]) then return {-1, fence} end
";

/// Stores a planned entry unless its id exists. ARGV (after the fence): journal key, id,
/// entry.
const PLAN: &str = r"
return {redis.call('HSETNX', ARGV[3], ARGV[4], ARGV[5]), fence}
";

/// Applies a planned settlement if its journal entry is still the planned one. ARGV
/// (after the fence): journal key, id, the planned entry, the done entry, then operations:
/// `M from to member` (move a block), `P round` (a paid round: removed),
/// `G round current` (a round back into the current one), `H key field value`,
/// `D key field`.
const COMPLETE: &str = r"
if redis.call('HGET', ARGV[3], ARGV[4]) ~= ARGV[5] then return {0, fence} end
local i = 7
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'M' then
    redis.call('SMOVE', ARGV[i+1], ARGV[i+2], ARGV[i+3])
    i = i + 4
  elseif op == 'P' then
    redis.call('DEL', ARGV[i+1])
    i = i + 2
  elseif op == 'G' then
    local shares = redis.call('HGETALL', ARGV[i+1])
    for j = 1, #shares, 2 do
      redis.call('HINCRBYFLOAT', ARGV[i+2], shares[j], shares[j+1])
    end
    redis.call('DEL', ARGV[i+1])
    i = i + 3
  elseif op == 'H' then
    redis.call('HSET', ARGV[i+1], ARGV[i+2], ARGV[i+3])
    i = i + 4
  elseif op == 'D' then
    redis.call('HDEL', ARGV[i+1], ARGV[i+2])
    i = i + 3
  else
    return redis.error_reply('unknown settlement operation ' .. op)
  end
end
redis.call('HSET', ARGV[3], ARGV[4], ARGV[6])
return {1, fence}
";

/// Swaps a journal entry for another if it is still the expected one. ARGV (after the
/// fence): key, id, expected, replacement.
const SWAP_ENTRY: &str = r"
if redis.call('HGET', ARGV[3], ARGV[4]) ~= ARGV[5] then return {0, fence} end
redis.call('HSET', ARGV[3], ARGV[4], ARGV[6])
return {1, fence}
";

/// Takes or renews the lease; returns its fence (0 while another owner holds it). A new
/// holding (a free or expired lease) gets a new fence. ARGV: lease key, owner, ttl ms,
/// fence key.
const ACQUIRE: &str = r"
local holder = redis.call('GET', ARGV[1])
if holder and holder ~= ARGV[2] then return 0 end
local fence = tonumber(redis.call('GET', ARGV[4]) or '0')
if not holder or fence == 0 then fence = redis.call('INCR', ARGV[4]) end
redis.call('SET', ARGV[1], ARGV[2], 'PX', ARGV[3])
return fence
";

/// Deletes the lease if `owner` holds it. ARGV: key, owner.
const RELEASE: &str = r"
if redis.call('GET', ARGV[1]) == ARGV[2] then redis.call('DEL', ARGV[1]) end
return 1
";

/// A round total as Redis prints it (`"0.75"`, `"1.5e-05"`, or NOMP's `"12.5"`).
fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// Reads an amount NOMP wrote as a float string (`"0.5"`, `"1.23456789"`,
/// `"0.30000000000000004"`, `"1e-8"`), rounded to the satoshi.
fn parse_coins(text: &str) -> Option<Amount> {
    if let Some(exact) = Amount::from_coin_str(text) {
        return Some(exact);
    }
    let value: f64 = text.parse().ok()?;
    value
        .is_finite()
        .then(|| Amount::from_sat((value * 1e8).round() as i64))
}

impl RedisStore {
    async fn coin_hash(&self, suffix: &str) -> Result<BTreeMap<String, Amount>, StoreError> {
        self.parsed_hash(&self.key(suffix), "an amount", parse_coins)
            .await
    }

    /// Every field of hash `key` with its value parsed; a value `parse` refuses is
    /// [`StoreError::Corrupt`], naming the field and what it should have held.
    async fn parsed_hash<T>(
        &self,
        key: &str,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<BTreeMap<String, T>, StoreError> {
        let raw: BTreeMap<String, String> = self
            .conn()
            .await?
            .hgetall(key)
            .await
            .map_err(|e| self.link.failed(e))?;
        raw.into_iter()
            .map(|(field, value)| match parse(&value) {
                Some(parsed) => Ok((field, parsed)),
                None => Err(StoreError::Corrupt {
                    key: key.to_owned(),
                    reason: format!("{field} holds {value:?}, not {what}"),
                }),
            })
            .collect()
    }

    fn journal_key(&self) -> String {
        self.key("paymentJournal")
    }

    async fn raw_entry(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .await?
            .hget(self.journal_key(), id)
            .await
            .map_err(|e| self.link.failed(e))
    }

    /// Entry `id` as stored and decoded, if it is still planned.
    /// The journal's entries with `status`, oldest first.
    async fn entries_with(&self, status: JournalStatus) -> Result<Vec<JournalEntry>, StoreError> {
        let raw: BTreeMap<String, String> = self
            .conn()
            .await?
            .hgetall(self.journal_key())
            .await
            .map_err(|e| self.link.failed(e))?;
        let mut entries = Vec::new();
        for text in raw.values() {
            let entry = decode_entry(&self.journal_key(), text)?;
            if entry.status == status {
                entries.push(entry);
            }
        }
        entries.sort_by_key(|e| e.planned_ms);
        Ok(entries)
    }

    async fn planned_entry(&self, id: &str) -> Result<Option<(String, JournalEntry)>, StoreError> {
        let Some(raw) = self.raw_entry(id).await? else {
            return Ok(None);
        };
        let entry = decode_entry(&self.journal_key(), &raw)?;
        Ok((entry.status == JournalStatus::Planned).then_some((raw, entry)))
    }

    async fn swap_entry(
        &self,
        id: &str,
        expected: &str,
        replacement: &str,
        fence: Fence,
    ) -> Result<bool, StoreError> {
        let mut eval = evalsha(&self.scripts.swap_entry);
        eval.arg(self.key("paymentFence"))
            .arg(fence.0)
            .arg(self.journal_key())
            .arg(id)
            .arg(expected)
            .arg(replacement);
        fenced(
            self.link.write(&self.scripts.swap_entry, &eval).await?,
            fence,
        )
    }
}

fn decode_entry(key: &str, raw: &str) -> Result<JournalEntry, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: format!("unreadable journal entry: {e}"),
    })
}

fn encode_entry(entry: &JournalEntry) -> String {
    serde_json::to_string(entry).expect("journal entries serialize")
}

#[async_trait]
impl PayoutStore for RedisStore {
    async fn balances(&self) -> Result<BTreeMap<String, Amount>, StoreError> {
        self.coin_hash("balances").await
    }

    async fn payout_totals(&self) -> Result<BTreeMap<String, Amount>, StoreError> {
        self.coin_hash("payouts").await
    }

    async fn total_paid(&self) -> Result<Amount, StoreError> {
        let raw: Option<String> = self
            .conn()
            .await?
            .hget(self.key("stats"), "totalPaid")
            .await
            .map_err(|e| self.link.failed(e))?;
        match raw {
            None => Ok(Amount::ZERO),
            Some(text) => parse_coins(&text).ok_or_else(|| StoreError::Corrupt {
                key: self.key("stats"),
                reason: format!("totalPaid holds {text:?}"),
            }),
        }
    }

    async fn plan(
        &self,
        settlement: &Settlement,
        now_ms: u64,
        fence: Fence,
    ) -> Result<(), StoreError> {
        let entry = JournalEntry::planned(settlement, now_ms);
        let mut eval = evalsha(&self.scripts.plan);
        eval.arg(self.key("paymentFence"))
            .arg(fence.0)
            .arg(self.journal_key())
            .arg(&settlement.id)
            .arg(encode_entry(&entry));
        if fenced(self.link.write(&self.scripts.plan, &eval).await?, fence)? {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                key: self.journal_key(),
                reason: format!("payment {} is in the journal already", settlement.id),
            })
        }
    }

    async fn planned(&self) -> Result<Vec<JournalEntry>, StoreError> {
        self.entries_with(JournalStatus::Planned).await
    }

    async fn payment_history(&self, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        let mut done = self.entries_with(JournalStatus::Done).await?;
        done.retain(|e| !e.settlement.payments.is_empty());
        done.reverse();
        done.truncate(limit);
        Ok(done)
    }

    async fn complete(
        &self,
        id: &str,
        txid: Option<&str>,
        fence: Fence,
    ) -> Result<bool, StoreError> {
        let Some((raw, mut entry)) = self.planned_entry(id).await? else {
            return Ok(false);
        };
        entry.status = JournalStatus::Done;
        entry.txid = txid.map(str::to_owned);
        let settlement = &entry.settlement;
        let pending = self.key("blocksPending");
        let round = |height: u64| self.key(&format!("shares:round{height}"));
        let mut script = evalsha(&self.scripts.complete);
        script
            .arg(self.key("paymentFence"))
            .arg(fence.0)
            .arg(self.journal_key())
            .arg(id)
            .arg(&raw)
            .arg(encode_entry(&entry));
        for (blocks, set) in [
            (&settlement.confirmed, "blocksConfirmed"),
            (&settlement.orphaned, "blocksOrphaned"),
            (&settlement.kicked, "blocksKicked"),
        ] {
            for block in blocks {
                script
                    .arg("M")
                    .arg(&pending)
                    .arg(self.key(set))
                    .arg(block_member(block));
            }
        }
        for height in settlement.rounds_paid() {
            script.arg("P").arg(round(height));
        }
        for height in settlement.rounds_merged() {
            script
                .arg("G")
                .arg(round(height))
                .arg(self.key("shares:roundCurrent"));
        }
        for (entry, amount) in &settlement.balances {
            if *amount == Amount::ZERO {
                script.arg("D").arg(self.key("balances")).arg(entry);
            } else {
                script
                    .arg("H")
                    .arg(self.key("balances"))
                    .arg(entry)
                    .arg(amount.to_coin_string());
            }
        }
        for (address, total) in &settlement.payout_totals {
            script
                .arg("H")
                .arg(self.key("payouts"))
                .arg(address)
                .arg(total.to_coin_string());
        }
        script
            .arg("H")
            .arg(self.key("stats"))
            .arg("totalPaid")
            .arg(settlement.total_paid.to_coin_string());
        fenced(
            self.link.write(&self.scripts.complete, &script).await?,
            fence,
        )
    }

    async fn abandon(&self, id: &str, fence: Fence) -> Result<bool, StoreError> {
        let Some((raw, mut entry)) = self.planned_entry(id).await? else {
            return Ok(false);
        };
        entry.status = JournalStatus::Abandoned;
        self.swap_entry(id, &raw, &encode_entry(&entry), fence)
            .await
    }

    async fn journal_entry(&self, id: &str) -> Result<Option<JournalEntry>, StoreError> {
        self.raw_entry(id)
            .await?
            .map(|raw| decode_entry(&self.journal_key(), &raw))
            .transpose()
    }

    async fn acquire_lease(&self, owner: &str, ttl_ms: u64) -> Result<Option<Fence>, StoreError> {
        let mut eval = evalsha(&self.scripts.acquire);
        eval.arg(self.key("paymentLease"))
            .arg(owner)
            .arg(ttl_ms.max(1))
            .arg(self.key("paymentFence"));
        let fence: u64 = self.link.write(&self.scripts.acquire, &eval).await?;
        Ok((fence > 0).then_some(Fence(fence)))
    }

    async fn release_lease(&self, owner: &str) -> Result<(), StoreError> {
        let mut eval = evalsha(&self.scripts.release);
        eval.arg(self.key("paymentLease")).arg(owner);
        let _: i64 = self.link.write(&self.scripts.release, &eval).await?;
        Ok(())
    }
}

/// NOMP's key of the portal's stats history: one per Redis, not per coin.
const STAT_HISTORY: &str = "statHistory";
/// NOMP's hash of the coin each switch is on, by algorithm: one per Redis.
const PROXY_STATE: &str = "proxyState";

#[async_trait]
impl SwitchState for RedisStore {
    async fn switched_coins(&self) -> Result<BTreeMap<String, String>, StoreError> {
        self.conn()
            .await?
            .hgetall(PROXY_STATE)
            .await
            .map_err(|e| self.link.failed(e))
    }

    async fn set_switched_coin(&self, algorithm: &str, coin: &str) -> Result<(), StoreError> {
        self.conn()
            .await?
            .hset(PROXY_STATE, algorithm, coin)
            .await
            .map_err(|e| self.link.failed(e))
    }
}

#[async_trait]
impl StatsHistory for RedisStore {
    async fn push_stats(
        &self,
        time_s: u64,
        snapshot: &str,
        keep_from_s: u64,
    ) -> Result<(), StoreError> {
        redis::pipe()
            .atomic()
            .zadd(STAT_HISTORY, snapshot, time_s)
            .ignore()
            .zrembyscore(STAT_HISTORY, "-inf", format!("({keep_from_s}"))
            .ignore()
            .query_async::<()>(&mut self.conn().await?)
            .await
            .map_err(|e| self.link.failed(e))
    }

    async fn stats_since(&self, since_s: u64) -> Result<Vec<String>, StoreError> {
        self.conn()
            .await?
            .zrangebyscore(STAT_HISTORY, since_s, "+inf")
            .await
            .map_err(|e| self.link.failed(e))
    }
}
