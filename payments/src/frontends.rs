//! Front-ends sharing one store: each `nomp` process claims an instance id (the top bits of
//! its miners' extranonce1 values) and publishes what it serves, so the portal of any one
//! shows them all.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::redis_link::evalsha;
use crate::redis_store::RedisStore;

/// How many instance ids there are (five bits of extranonce1).
pub const INSTANCE_IDS: u8 = 32;

/// One front-end as it tells the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontEnd {
    /// Its instance id (0–31).
    pub instance_id: u8,
    /// Its stable name (its data directory's id).
    pub owner: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// Its version.
    pub version: String,
    /// When it started, unix milliseconds.
    pub started_ms: u64,
    /// When it last said this, unix milliseconds.
    pub seen_ms: u64,
    /// Whether its own `/ready` says ready.
    pub ready: bool,
    /// What is not ready, as its `/ready` words it.
    pub problems: Vec<String>,
    /// Its pools, by name.
    pub pools: BTreeMap<String, FrontEndPool>,
}

/// One pool of a front-end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontEndPool {
    /// Miner connections open on it.
    pub connections: u64,
    /// Whether it runs this pool's payments now (holds the payment lease).
    pub payer: bool,
}

/// Where front-ends claim instance ids and find each other.
#[async_trait]
pub trait FrontEndRegistry: Send + Sync {
    /// Claims (or renews) instance `id` for `owner` for `ttl_ms`. `Err(holder)` inside
    /// `Ok` names the other owner that holds it.
    async fn claim_instance(
        &self,
        id: u8,
        owner: &str,
        ttl_ms: u64,
    ) -> Result<Result<(), String>, StoreError>;

    /// Gives instance `id` up if `owner` holds it.
    async fn release_instance(&self, id: u8, owner: &str) -> Result<(), StoreError>;

    /// Publishes `front_end` (replacing what its instance id published before).
    async fn publish(&self, front_end: &FrontEnd) -> Result<(), StoreError>;

    /// Forgets what `front_end` published (it is stopping).
    async fn withdraw(&self, instance_id: u8) -> Result<(), StoreError>;

    /// Every front-end that published, by instance id, including ones gone quiet (see
    /// [`FrontEnd::seen_ms`]).
    async fn front_ends(&self) -> Result<Vec<FrontEnd>, StoreError>;
}

/// The key of instance `id`'s claim.
fn instance_key(id: u8) -> String {
    format!("nomp:instance:{id}")
}

/// The hash of published front-ends, by instance id.
const FRONT_ENDS: &str = "nomp:frontEnds";

/// Takes or renews a claim; returns '' when taken, else the holder. ARGV: key, owner, ttl.
const CLAIM: &str = r"
local holder = redis.call('GET', ARGV[1])
if holder and holder ~= ARGV[2] then return holder end
redis.call('SET', ARGV[1], ARGV[2], 'PX', ARGV[3])
return ''
";

/// Deletes a claim its owner holds. ARGV: key, owner.
const UNCLAIM: &str = r"
if redis.call('GET', ARGV[1]) == ARGV[2] then redis.call('DEL', ARGV[1]) end
return 1
";

/// The scripts, hashed once.
static CLAIM_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM));
static UNCLAIM_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(UNCLAIM));

#[async_trait]
impl FrontEndRegistry for RedisStore {
    async fn claim_instance(
        &self,
        id: u8,
        owner: &str,
        ttl_ms: u64,
    ) -> Result<Result<(), String>, StoreError> {
        let mut eval = evalsha(&CLAIM_SCRIPT);
        eval.arg(instance_key(id)).arg(owner).arg(ttl_ms.max(1));
        let holder: String = self.write(&CLAIM_SCRIPT, &eval).await?;
        Ok(if holder.is_empty() {
            Ok(())
        } else {
            Err(holder)
        })
    }

    async fn release_instance(&self, id: u8, owner: &str) -> Result<(), StoreError> {
        let mut eval = evalsha(&UNCLAIM_SCRIPT);
        eval.arg(instance_key(id)).arg(owner);
        let _: i64 = self.write(&UNCLAIM_SCRIPT, &eval).await?;
        Ok(())
    }

    async fn publish(&self, front_end: &FrontEnd) -> Result<(), StoreError> {
        let json = serde_json::to_string(front_end).expect("front-ends serialize");
        let mut cmd = redis::cmd("HSET");
        cmd.arg(FRONT_ENDS).arg(front_end.instance_id).arg(json);
        let _: i64 = self.query(&cmd).await?;
        Ok(())
    }

    async fn withdraw(&self, instance_id: u8) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(FRONT_ENDS).arg(instance_id);
        let _: i64 = self.query(&cmd).await?;
        Ok(())
    }

    async fn front_ends(&self) -> Result<Vec<FrontEnd>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(FRONT_ENDS);
        let raw: BTreeMap<String, String> = self.query(&cmd).await?;
        let mut front_ends = raw
            .iter()
            .map(|(id, json)| {
                serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
                    key: format!("{FRONT_ENDS} {id}"),
                    reason: format!("unreadable front-end: {e}"),
                })
            })
            .collect::<Result<Vec<FrontEnd>, _>>()?;
        front_ends.sort_by_key(|f| f.instance_id);
        Ok(front_ends)
    }
}
