//! What a pool's tasks and connections share, and where its blocks and forwarded shares go.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coin_daemon::{
    BlockPresence, ChainVerdict, DaemonGroup, SubmitOutcome, TemplateWaker, WakeSource,
};
use hashing::{BlockHash, Difficulty, PowHasher};
use pool_events::{
    Authorizer, BlockEvent, DurableAck, EventSender, PoolCounters, PoolEvent, ShareEvent,
};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ban::BanList;
use crate::batch::HashBatcher;
use crate::coinbase::EXTRANONCE2_SIZE;
use crate::ids::Extranonce1Lease;
use crate::job::{Job, JobId};
use crate::options::PoolOptions;
use crate::registry::JobRegistry;
use crate::upstream::{Forward, ForwardError, UpstreamLink};
use crate::validate::BlockCandidate;

/// Claims this many heights below the newest are forgotten (reorgs are shorter).
const CLAIMED_HEIGHTS: u64 = 100;
/// Waits between re-checks of a block no synced daemon has confirmed or denied yet:
/// about a minute in all, re-submitting it each time.
const BLOCK_RECHECKS: [Duration; 6] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
    Duration::from_secs(30),
];

/// Where a pool's work comes from and where its blocks go: one seam, two sources.
pub(crate) enum WorkSource {
    /// The coin's daemons: templates in (polled, and woken through `waker` by
    /// blocknotify or P2P), blocks submitted to every daemon.
    Daemons {
        /// The daemon group.
        daemons: Arc<DaemonGroup>,
        /// Wakes its template source.
        waker: TemplateWaker,
    },
    /// Larger pools over stratum: jobs in, the shares that meet their difficulty (and
    /// blocks) forwarded; `daemons`, if given, only answer address checks and network
    /// facts.
    Upstream {
        /// The upstream connection.
        link: Arc<UpstreamLink>,
        /// Daemons for address checks and network facts, if any.
        daemons: Option<Arc<DaemonGroup>>,
    },
}

impl WorkSource {
    /// The coin's daemons, if the pool has any.
    pub(crate) fn daemons(&self) -> Option<&Arc<DaemonGroup>> {
        match self {
            WorkSource::Daemons { daemons, .. } => Some(daemons),
            WorkSource::Upstream { daemons, .. } => daemons.as_ref(),
        }
    }

    /// The upstream connection, in upstream mode.
    pub(crate) fn upstream(&self) -> Option<&Arc<UpstreamLink>> {
        match self {
            WorkSource::Upstream { link, .. } => Some(link),
            WorkSource::Daemons { .. } => None,
        }
    }

    /// What wakes the template source, for a pool on its daemons.
    pub(crate) fn waker(&self) -> Option<&TemplateWaker> {
        match self {
            WorkSource::Daemons { waker, .. } => Some(waker),
            WorkSource::Upstream { .. } => None,
        }
    }
}

/// State shared by the pool's tasks and connections.
pub(crate) struct Shared {
    pub(crate) options: PoolOptions,
    pub(crate) hasher: PowHasher,
    /// Where the work comes from and the blocks go.
    pub(crate) work: WorkSource,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    pub(crate) jobs: Arc<JobRegistry>,
    pub(crate) bans: Mutex<BanList>,
    pub(crate) events: EventSender,
    pub(crate) counters: Arc<PoolCounters>,
    /// Memory-hard algorithms: the blocking-pool hashing of shares, several per pass.
    pub(crate) hashes: Option<HashBatcher>,
    pub(crate) broadcast: broadcast::Sender<String>,
    /// Every block candidate's verdict, for watchers (notifications); a watcher that lags
    /// is told how many it missed.
    pub(crate) blocks: broadcast::Sender<BlockEvent>,
    /// Blocks submitted (in flight or accepted), by the block they build on.
    pub(crate) claims: Mutex<HashMap<BlockHash, Claim>>,
    /// Block submissions in flight: shutdown waits for them, so their shares are reported.
    pub(crate) submissions: TaskTracker,
    /// Cancelled when the pool stops: switching-port miners still routed here are told
    /// their shares are not counted, instead of sending events nobody stores.
    pub(crate) stopped: CancellationToken,
    /// The chain guard's verdicts, when it runs.
    pub(crate) chain: Option<watch::Receiver<ChainVerdict>>,
    /// The span the pool was started in. Connection tasks are not run inside it (entering a
    /// span at every poll costs about a microsecond a share); their log lines name it as
    /// parent, and the rare tasks they start (block submission, forwarding) run in it.
    pub(crate) span: tracing::Span,
}

impl Shared {
    /// An extranonce1 no live connection holds, for a miner that subscribes; `None` while
    /// the pool's whole space is held.
    pub(crate) fn allocate_extranonce1(&self) -> Option<Extranonce1Lease> {
        match self.work.upstream() {
            Some(link) => link.allocate_extranonce1(),
            None => self.options.ids.allocate_extranonce1(),
        }
    }

    /// The version bits a miner may negotiate to roll now.
    pub(crate) fn version_mask(&self) -> u32 {
        match self.work.upstream() {
            Some(link) => self.options.version_mask & link.version_mask(),
            None => self.options.version_mask,
        }
    }

    /// The bytes of extranonce2 miners fill.
    pub(crate) fn extranonce2_size(&self) -> usize {
        self.work
            .upstream()
            .map_or(EXTRANONCE2_SIZE, |link| link.options.extranonce2_size)
    }

    /// Sends a share on to the upstream pool and counts its verdict; `Err` says why it did
    /// not count there.
    pub(crate) async fn forward(&self, share: &Forward) -> Result<(), ForwardError> {
        let verdict = match self.work.upstream() {
            Some(link) => link.forward(share).await,
            None => Err(ForwardError::NoUpstream),
        };
        self.counters.forwarded(verdict.is_ok());
        verdict
    }

    pub(crate) fn job(&self, id: JobId) -> Option<Arc<Job>> {
        self.jobs.get(id)
    }

    /// Claims `candidate`'s parent for a block submission; false if a block on that parent
    /// is being submitted or was accepted. Claims far below the candidate are forgotten.
    pub(crate) fn claim_parent(&self, candidate: &BlockCandidate) -> bool {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        claims.retain(|_, claim| claim.height.saturating_add(CLAIMED_HEIGHTS) > candidate.height);
        match claims.entry(candidate.previous_hash) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Claim {
                    height: candidate.height,
                    hash: candidate.hash,
                    accepted_at: None,
                });
                true
            }
        }
    }

    /// Whether a block on `candidate`'s parent is being submitted or was accepted.
    pub(crate) fn parent_claimed(&self, candidate: &BlockCandidate) -> bool {
        self.claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&candidate.previous_hash)
    }

    /// Records the verdict on the block claimed on `parent`: an accepted block keeps its
    /// claim (until the chain moves back to its parent), a refused one gives it back so
    /// another candidate may try.
    pub(crate) fn settle_claim(&self, parent: &BlockHash, accepted: bool) {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        if accepted {
            if let Some(claim) = claims.get_mut(parent) {
                claim.accepted_at = Some(Instant::now());
            }
        } else {
            claims.remove(parent);
        }
    }

    /// A template asked for at `requested_at` builds on `parent`: if our block on that
    /// parent was accepted before, the daemon's main chain no longer has it (orphaned,
    /// or invalidated), so the parent is open to new candidates. Returns the released
    /// block's height and hash.
    pub(crate) fn release_orphaned(
        &self,
        parent: &BlockHash,
        requested_at: Instant,
    ) -> Option<(u64, BlockHash)> {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        let claim = claims.get(parent)?;
        if claim.accepted_at.is_some_and(|at| at < requested_at) {
            return claims
                .remove(parent)
                .map(|claim| (claim.height, claim.hash));
        }
        None
    }

    /// The time left on `ip`'s ban, if banning is on and it is banned.
    pub(crate) fn ban_remaining(&self, ip: IpAddr) -> Option<Duration> {
        let banning = self.options.banning.as_ref()?;
        self.bans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remaining(ip, Instant::now(), banning)
    }

    /// The network difficulty of the current job, in share units.
    pub(crate) fn network_difficulty(&self) -> Option<Difficulty> {
        Some(
            self.jobs
                .latest()?
                .network_target
                .difficulty(self.options.algorithm),
        )
    }
}

/// A block submitted on a parent.
pub(crate) struct Claim {
    height: u64,
    hash: BlockHash,
    /// When the daemons' verdict said accepted; `None` while it is being submitted.
    accepted_at: Option<Instant>,
}

/// Sends a block candidate on: to every daemon, its acceptance decided from every
/// daemon's answer, or in upstream mode (`forward`) to the upstream pool, whose answer is
/// the verdict. Then reports its share (with the verdict, and `ack` to answer once the
/// share is durable) and the block, and asks for a fresh template.
pub(crate) async fn submit_block(
    shared: Arc<Shared>,
    mut share: ShareEvent,
    candidate: BlockCandidate,
    forward: Option<Forward>,
    ack: Option<DurableAck>,
) {
    let verdict = match (&forward, shared.work.daemons()) {
        (Some(forward), _) => {
            shared.counters.block_submitted();
            match shared.forward(forward).await {
                Ok(()) => Verdict::Accepted,
                Err(reason) => Verdict::Rejected(reason.to_string()),
            }
        }
        (None, Some(daemons)) => daemon_verdict(&shared, daemons, &candidate).await,
        (None, None) => Verdict::Rejected("no daemon to take the block".to_owned()),
    };
    let (on_chain, reason) = match verdict {
        Verdict::Accepted if forward.is_some() => {
            tracing::info!(height = candidate.height, hash = %candidate.hash, worker = share.worker, "block share taken by the upstream pool");
            (true, None)
        }
        Verdict::Accepted => {
            tracing::info!(height = candidate.height, hash = %candidate.hash, worker = share.worker, "block accepted");
            (true, None)
        }
        Verdict::Unconfirmed(reason) => {
            tracing::warn!(
                height = candidate.height,
                hash = %candidate.hash,
                reason,
                "no synced daemon could confirm or deny the block: recorded as found, the payment processor's wallet check decides"
            );
            (true, Some(format!("unconfirmed: {reason}")))
        }
        Verdict::Rejected(reason) => {
            tracing::warn!(height = candidate.height, hash = %candidate.hash, reason, "block rejected");
            (false, Some(reason))
        }
    };
    shared.settle_claim(&candidate.previous_hash, on_chain);
    let (worker, found) = (share.worker.clone(), share.time);
    share.block_accepted = on_chain;
    shared.events.send_with(PoolEvent::Share(share), ack);
    let block = BlockEvent {
        worker,
        height: candidate.height,
        hash: candidate.hash,
        coinbase_txid: candidate.coinbase_txid,
        accepted: on_chain,
        reason,
        found,
        network_difficulty: candidate.network_difficulty,
    };
    // An error only says nobody watches; the event below is what the store keeps.
    let _ = shared.blocks.send(block.clone());
    shared.events.send(PoolEvent::Block(block));
    if let Some(waker) = shared.work.waker() {
        waker.wake(WakeSource::Manual);
    }
}

/// A block candidate's fate.
enum Verdict {
    /// A synced daemon has it on its main chain (or the upstream took it).
    Accepted,
    /// Every daemon that can tell says it is not on its main chain.
    Rejected(String),
    /// No synced daemon could tell, even after the re-checks.
    Unconfirmed(String),
}

/// Submits a block to every daemon and decides from all their answers (as
/// node-stratum-pool asks every daemon): accepted if any synced daemon has it on its main
/// chain, rejected if every daemon says it does not. While some cannot tell (down,
/// syncing), it is re-submitted and re-checked for about a minute, or until the pool stops.
async fn daemon_verdict(
    shared: &Shared,
    daemons: &DaemonGroup,
    candidate: &BlockCandidate,
) -> Verdict {
    let Some(block_hex) = &candidate.block_hex else {
        return Verdict::Rejected("the job has no block to submit".into());
    };
    let mut waits = BLOCK_RECHECKS.iter();
    let mut first = true;
    loop {
        let sent = Instant::now();
        let outcomes = daemons.submit_block(block_hex).await;
        if std::mem::take(&mut first) {
            shared.counters.block_submitted();
            shared.counters.block_sent(sent.elapsed());
        }
        let presence = daemons.find_block(&candidate.hash, candidate.height).await;
        if presence.contains(&BlockPresence::MainChain) {
            return Verdict::Accepted;
        }
        let mut reasons = Vec::new();
        for (index, (outcome, seen)) in outcomes.iter().zip(&presence).enumerate() {
            let label = daemons.label(index);
            match outcome {
                Ok(SubmitOutcome::Accepted) => {}
                Ok(SubmitOutcome::Rejected { reason }) => {
                    reasons.push(format!("{label}: {reason}"))
                }
                Err(error) => reasons.push(error.to_string()),
            }
            match seen {
                BlockPresence::Absent => reasons.push(format!("{label}: not on its main chain")),
                BlockPresence::Unknown(why) => {
                    reasons.push(format!("{label}: cannot tell ({why})"))
                }
                BlockPresence::MainChain => {}
            }
        }
        let reasons = reasons.join("; ");
        if presence.iter().all(|p| *p == BlockPresence::Absent) {
            return Verdict::Rejected(reasons);
        }
        let Some(wait) = waits.next() else {
            return Verdict::Unconfirmed(reasons);
        };
        tracing::info!(height = candidate.height, hash = %candidate.hash, reasons, ?wait, "block not confirmed by a synced daemon yet: checking again");
        tokio::select! {
            () = shared.stopped.cancelled() => return Verdict::Unconfirmed(reasons),
            () = tokio::time::sleep(*wait) => {}
        }
    }
}

/// Forwards a share to the upstream pool (upstream mode) and counts its verdict. The miner
/// was credited already: a share the upstream refuses (stale after its new block, or lost
/// with the connection) is the pool's loss, as a stale block is.
pub(crate) async fn forward_share(shared: Arc<Shared>, forward: Forward) {
    if let Err(reason) = shared.forward(&forward).await {
        tracing::debug!(%reason, job = %forward.job.id, "the upstream did not take a share");
    }
}
