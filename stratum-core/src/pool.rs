//! A running pool: template source → jobs → ports → events.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coin_daemon::{
    BlockPresence, DaemonGroup, P2pOptions, SubmitOutcome, TemplateOptions, TemplateSource,
    TemplateWaker, WakeSource, spawn_block_notify,
};
use hashing::{Algorithm, Difficulty, HashOptions, HashingError, PowHasher};
use pool_events::{
    Authorizer, BlockEvent, CounterSnapshot, DurableAck, EventGate, EventReceiver, EventSender,
    PoolCounters, PoolEvent, ShareEvent,
};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ban::{BanList, BanOptions};
use crate::coinbase::CoinbaseOptions;
use crate::connection::{PortContext, Route, serve};
use crate::extranonce::Extranonce;
use crate::ids::IdAllocator;
use crate::job::{Job, JobId};
use crate::protocol::ServerMessage;
use crate::session::WorkerCredit;
use crate::upstream::{Forward, UpstreamLink, UpstreamOptions};
use crate::validate::BlockCandidate;
use crate::vardiff::VardiffOptions;
use crate::{coinbase::EXTRANONCE2_SIZE, upstream};

/// Jobs kept for late shares; older ones answer "job not found".
const KEPT_JOBS: usize = 16;
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

/// One stratum port.
#[derive(Debug, Clone)]
pub struct PortOptions {
    /// Where to listen (port 0 picks a free one).
    pub bind: SocketAddr,
    /// The starting difficulty.
    pub difficulty: Difficulty,
    /// Variable difficulty, if enabled on this port.
    pub vardiff: Option<VardiffOptions>,
    /// Serve stratum over TLS with this configuration (see [`crate::tls_config_from_pem`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Everything a pool needs besides its daemons (or upstream pools).
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// The coin's proof-of-work algorithm.
    pub algorithm: Algorithm,
    /// Its hashing parameters (scrypt N, time table).
    pub hash_options: HashOptions,
    /// What the coinbase pays (unused in upstream mode: the upstream builds the coinbase).
    pub coinbase: CoinbaseOptions,
    /// The stratum ports.
    pub ports: Vec<PortOptions>,
    /// Template polling.
    pub template: TemplateOptions,
    /// Disconnect a miner that has not submitted for this long (`connectionTimeout`).
    pub connection_timeout: Duration,
    /// IP banning, if enabled.
    pub banning: Option<BanOptions>,
    /// Where its extranonce1 values and job ids come from: pools that share miners (a
    /// switching port) must share one, and its instance id keeps front-ends sharing a
    /// store apart.
    pub ids: Arc<IdAllocator>,
    /// Header version bits miners may roll (BIP310); 0 disables version rolling. In
    /// upstream mode, only those the upstream also grants.
    pub version_mask: u32,
    /// Capacity of the event channel.
    pub event_capacity: usize,
    /// Events held in memory for a consumer that cannot make them durable (its store and
    /// spool both failing) before new shares are refused with an error naming the cause.
    /// Block candidates are never refused.
    pub event_memory_limit: u64,
    /// Acknowledge a valid share only once the event consumer has made it durable
    /// (`durableAck`): the miner's `true` then means the share survives a crash. Costs the
    /// consumer's group commit (a few milliseconds) per answer.
    pub durable_ack: bool,
    /// A P2P peer for instant block notifications, if configured.
    pub p2p: Option<P2pOptions>,
    /// Every connection starts with a PROXY protocol header (v1 or v2) naming the miner's
    /// real address (`tcpProxyProtocol`); bans and events then use that address.
    pub proxy_protocol: bool,
}

impl PortOptions {
    /// A plain TCP port at a fixed starting `difficulty`, without vardiff or TLS.
    pub fn new(bind: SocketAddr, difficulty: Difficulty) -> Self {
        PortOptions {
            bind,
            difficulty,
            vardiff: None,
            tls: None,
        }
    }
}

impl PoolOptions {
    /// Options with NOMP's defaults for everything but the coin and the ports: templates
    /// polled every second and refreshed after 55 s, zombies dropped after 600 s, no
    /// banning, version rolling within BIP320's `0x1fffe000`, no P2P peer, no PROXY header;
    /// shares acknowledged when handed to the consumer, refused once 250 000 events wait
    /// in memory.
    pub fn new(algorithm: Algorithm, coinbase: CoinbaseOptions, ports: Vec<PortOptions>) -> Self {
        PoolOptions {
            algorithm,
            hash_options: HashOptions::default(),
            coinbase,
            ports,
            template: TemplateOptions::default(),
            connection_timeout: Duration::from_secs(600),
            banning: None,
            ids: Arc::default(),
            version_mask: 0x1fff_e000,
            event_capacity: 4096,
            event_memory_limit: 250_000,
            durable_ack: false,
            p2p: None,
            proxy_protocol: false,
        }
    }
}

/// Why a pool could not start.
#[derive(Debug, Error)]
pub enum PoolError {
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The hashing parameters are invalid.
    #[error("hashing: {0}")]
    Hashing(#[from] HashingError),
    /// The upstream options are unusable.
    #[error("upstream: {0}")]
    Upstream(String),
    /// A switch was given pools that hand out ids from different allocators: moved miners
    /// could collide with the new pool's own.
    #[error(
        "{pool} does not share the switch's id allocator (give every pool the same PoolOptions::ids)"
    )]
    SeparateIds {
        /// The pool refused.
        pool: String,
    },
}

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
    pub(crate) jobs: RwLock<JobRegistry>,
    pub(crate) bans: Mutex<BanList>,
    pub(crate) events: EventSender,
    pub(crate) counters: Arc<PoolCounters>,
    pub(crate) hash_slots: Semaphore,
    pub(crate) broadcast: broadcast::Sender<String>,
    /// Blocks submitted (in flight or accepted), by the block they build on.
    claims: Mutex<HashMap<[u8; 32], Claim>>,
    /// Block submissions in flight: shutdown waits for them, so their shares are reported.
    pub(crate) submissions: TaskTracker,
    /// Cancelled when the pool stops: switching-port miners still routed here are told
    /// their shares are not counted, instead of sending events nobody stores.
    pub(crate) stopped: CancellationToken,
}

/// Publishes a pool's current job to its connections.
pub(crate) type JobSender = watch::Sender<Option<Arc<Job>>>;

/// Makes `job` the pool's current job: kept for shares, then sent to every miner.
pub(crate) fn publish_job(shared: &Shared, jobs: &JobSender, job: Job) {
    let job = Arc::new(job);
    shared
        .jobs
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(job.clone());
    tracing::debug!(job = %job.id, height = job.height(), clean = job.clean, "new job");
    jobs.send_replace(Some(job));
}

impl Shared {
    /// A fresh extranonce1 for a new connection.
    pub(crate) fn next_extranonce1(&self) -> Extranonce {
        match self.work.upstream() {
            Some(link) => link.next_extranonce1(),
            None => self.options.ids.next_extranonce1(),
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

    /// Sends a share on to the upstream pool and counts its verdict; `Err` carries why it
    /// did not count there.
    pub(crate) async fn forward(&self, share: &Forward) -> Result<(), String> {
        let verdict = match self.work.upstream() {
            Some(link) => link.forward(share).await,
            None => Err("the pool has no upstream".into()),
        };
        self.counters.forwarded(verdict.is_ok());
        verdict
    }

    /// Forgets every job (upstream mode, when the upstream connection is lost: their
    /// shares could reach no one), so shares for them are answered "job not found".
    pub(crate) fn void_jobs(&self, jobs: &JobSender) {
        let mut registry = self.jobs.write().unwrap_or_else(|p| p.into_inner());
        registry.jobs.clear();
        registry.order.clear();
        jobs.send_replace(None);
    }

    pub(crate) fn job(&self, id: JobId) -> Option<Arc<Job>> {
        self.jobs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .jobs
            .get(&id)
            .cloned()
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
                    hash: candidate.hash.clone(),
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
    pub(crate) fn settle_claim(&self, parent: &[u8; 32], accepted: bool) {
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
        parent: &[u8; 32],
        requested_at: Instant,
    ) -> Option<(u64, String)> {
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
        let registry = self.jobs.read().unwrap_or_else(|p| p.into_inner());
        let latest = registry.order.back()?;
        Some(
            registry
                .jobs
                .get(latest)?
                .network_target
                .difficulty(self.options.algorithm),
        )
    }
}

/// A block submitted on a parent.
struct Claim {
    height: u64,
    hash: String,
    /// When the daemons' verdict said accepted; `None` while it is being submitted.
    accepted_at: Option<Instant>,
}

#[derive(Default)]
pub(crate) struct JobRegistry {
    jobs: HashMap<JobId, Arc<Job>>,
    order: VecDeque<JobId>,
}

impl JobRegistry {
    fn insert(&mut self, job: Arc<Job>) {
        if job.clean {
            self.jobs.clear();
            self.order.clear();
        }
        self.order.push_back(job.id);
        self.jobs.insert(job.id, job);
        while self.order.len() > KEPT_JOBS {
            if let Some(old) = self.order.pop_front() {
                self.jobs.remove(&old);
            }
        }
    }
}

/// A started pool. Dropping it stops it at once (its tasks are aborted); cancel its token
/// or call [`RunningPool::shutdown`] to close connections and wait for the tasks.
pub struct RunningPool {
    /// Share and block events, for one consumer (a share writer).
    pub events: EventReceiver,
    /// The bound address of each port, in configured order.
    pub ports: Vec<SocketAddr>,
    /// The current job (after the first template).
    pub jobs: watch::Receiver<Option<Arc<Job>>>,
    /// Wakes the template source (blocknotify); `None` in upstream mode.
    pub waker: Option<TemplateWaker>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for RunningPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningPool")
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

/// A cheap, cloneable view of a running pool for dashboards and operators: counters,
/// network state, daemons' health, bans and messages to miners. It stays valid after the
/// pool stops (it then reads the last values).
#[derive(Clone)]
pub struct PoolHandle {
    shared: Arc<Shared>,
    jobs: watch::Receiver<Option<Arc<Job>>>,
}

impl std::fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolHandle").finish_non_exhaustive()
    }
}

impl PoolHandle {
    /// The allocator of this pool's extranonce1 values and job ids.
    pub(crate) fn ids(&self) -> &Arc<IdAllocator> {
        &self.shared.options.ids
    }

    /// Where a switching port's miners go while this pool is its coin.
    pub(crate) fn route(&self, credit: WorkerCredit) -> Route {
        Route {
            shared: self.shared.clone(),
            jobs: self.jobs.clone(),
            credit: Some(credit),
        }
    }

    /// The current job, once the first template arrived.
    pub fn current_job(&self) -> Option<Arc<Job>> {
        self.jobs.borrow().clone()
    }

    /// Connections, shares and blocks counted since the pool started.
    pub fn counters(&self) -> CounterSnapshot {
        self.shared.counters.snapshot()
    }

    /// The network difficulty of the current job, in this pool's share units.
    pub fn network_difficulty(&self) -> Option<Difficulty> {
        self.shared.network_difficulty()
    }

    /// The height of the block being mined.
    pub fn height(&self) -> Option<u64> {
        let registry = self.shared.jobs.read().unwrap_or_else(|p| p.into_inner());
        let latest = registry.order.back()?;
        Some(registry.jobs.get(latest)?.height())
    }

    /// The pool's daemons (for network facts such as `getmininginfo`, and their health);
    /// `None` for an upstream-mode pool started without any.
    pub fn daemons(&self) -> Option<&Arc<DaemonGroup>> {
        self.shared.work.daemons()
    }

    /// Whether the pool mines through an upstream pool (upstream mode).
    pub fn is_upstream(&self) -> bool {
        self.shared.work.upstream().is_some()
    }

    /// Upstream mode: `host:port` of the upstream pool it mines through now; `None` while
    /// no upstream answers, or for a pool on its own daemons.
    pub fn upstream_server(&self) -> Option<String> {
        self.shared.work.upstream()?.connected()
    }

    /// Sends `client.show_message` to every connected miner.
    pub fn show_message(&self, text: &str) {
        let line = ServerMessage::ShowMessage(text.to_owned()).to_line();
        let _ = self.shared.broadcast.send(line);
    }

    /// Sends `client.reconnect` to every connected miner: reconnect to `host:port` after
    /// `wait` (both `None`: to this same server, e.g. before a restart).
    pub fn reconnect_miners(&self, host: Option<&str>, port: Option<u16>, wait: Duration) {
        let to = match (host, port) {
            (None, None) => None,
            _ => Some((host.unwrap_or_default().to_owned(), port.unwrap_or(0))),
        };
        let line = ServerMessage::Reconnect {
            to,
            wait_secs: wait.as_secs(),
        }
        .to_line();
        let _ = self.shared.broadcast.send(line);
    }

    /// Lifts a ban at once; false if `ip` was not banned.
    pub fn unban(&self, ip: IpAddr) -> bool {
        self.shared
            .bans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unban(ip)
    }

    /// The banned IPs.
    pub fn banned(&self) -> Vec<IpAddr> {
        self.shared
            .bans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries()
            .map(|(ip, _)| ip)
            .collect()
    }

    /// Events queued in memory behind the full events channel because its consumer lags.
    /// None is ever dropped; this is how far behind the consumer is.
    pub fn event_backlog(&self) -> u64 {
        self.shared.events.backlog()
    }

    /// The bound on events held for the consumer, and the shares refused at it.
    pub fn event_gate(&self) -> &Arc<EventGate> {
        self.shared.events.gate()
    }
}

impl RunningPool {
    /// Takes the events out for a consumer that runs on its own, leaving a closed receiver.
    pub fn take_events(&mut self) -> EventReceiver {
        std::mem::replace(&mut self.events, EventReceiver::closed())
    }

    /// A handle for dashboards and operators.
    pub fn handle(&self) -> PoolHandle {
        PoolHandle {
            shared: self.shared.clone(),
            jobs: self.jobs.clone(),
        }
    }

    /// Stops accepting, closes connections (each after answering the line it is on),
    /// waits for block submissions in flight and for the pool's tasks. Every share a miner
    /// was told is accepted has been sent as an event by then.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.shared.submissions.close();
        self.shared.submissions.wait().await;
    }
}

/// Starts a pool on the current tokio runtime: binds its ports, polls templates, turns
/// them into jobs, serves miners and reports events, until `cancel` is cancelled.
pub async fn start_pool(
    options: PoolOptions,
    daemons: Arc<DaemonGroup>,
    authorizer: Arc<dyn Authorizer>,
    cancel: CancellationToken,
) -> Result<RunningPool, PoolError> {
    let listeners = bind(&options).await?;
    let source = TemplateSource::spawn(
        daemons.clone(),
        options.template.clone(),
        cancel.child_token(),
    );
    let waker = source.waker.clone();
    let p2p = options.p2p.clone();
    let (mut running, job_tx) = serve_ports(
        options,
        listeners,
        WorkSource::Daemons {
            daemons,
            waker: waker.clone(),
        },
        authorizer,
        cancel.clone(),
    )?;
    running.tasks.spawn(manage_jobs(
        running.shared.clone(),
        source.updates.clone(),
        job_tx,
        cancel.clone(),
    ));
    if let Some(p2p) = p2p {
        let notify = spawn_block_notify(p2p, waker, cancel);
        running.tasks.spawn(async move {
            let _ = notify.await;
        });
    }
    Ok(running)
}

/// Starts a pool in upstream mode: like [`start_pool`], but its work comes from the
/// upstream pools of `upstream` (see [`UpstreamOptions`]), it forwards the shares that meet
/// the upstream's difficulty, and the upstream submits the blocks. `daemons`, when given,
/// answer address checks and network facts only. Miners may roll the version bits of
/// `options.version_mask` that the upstream grants (BIP310 `mining.configure`). The
/// template, P2P and coinbase options are unused.
pub async fn start_upstream_pool(
    options: PoolOptions,
    upstream: UpstreamOptions,
    daemons: Option<Arc<DaemonGroup>>,
    authorizer: Arc<dyn Authorizer>,
    cancel: CancellationToken,
) -> Result<RunningPool, PoolError> {
    upstream.check().map_err(PoolError::Upstream)?;
    let listeners = bind(&options).await?;
    let link = Arc::new(UpstreamLink::new(upstream));
    let (mut running, job_tx) = serve_ports(
        options,
        listeners,
        WorkSource::Upstream {
            link: link.clone(),
            daemons,
        },
        authorizer,
        cancel.clone(),
    )?;
    running
        .tasks
        .spawn(upstream::run(running.shared.clone(), link, job_tx, cancel));
    Ok(running)
}

/// Binds every port of `options`.
async fn bind(options: &PoolOptions) -> Result<Vec<TcpListener>, PoolError> {
    let mut listeners = Vec::new();
    for port in &options.ports {
        let listener = TcpListener::bind(port.bind)
            .await
            .map_err(|source| PoolError::Bind {
                addr: port.bind,
                source,
            })?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves miners on `listeners` with the jobs sent on the returned sender.
fn serve_ports(
    options: PoolOptions,
    listeners: Vec<TcpListener>,
    work: WorkSource,
    authorizer: Arc<dyn Authorizer>,
    cancel: CancellationToken,
) -> Result<(RunningPool, JobSender), PoolError> {
    let hasher = PowHasher::new(options.algorithm, &options.hash_options)?;
    let ports = listeners
        .iter()
        .zip(&options.ports)
        .map(|(listener, port)| {
            listener.local_addr().map_err(|source| PoolError::Bind {
                addr: port.bind,
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (job_tx, jobs) = watch::channel(None);
    let hash_threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let counters = Arc::new(PoolCounters::default());
    let (sink, events) = EventSender::new(
        options.event_capacity,
        options.event_memory_limit,
        counters.clone(),
    );
    let waker = work.waker().cloned();
    let shared = Arc::new(Shared {
        hasher,
        work,
        authorizer,
        jobs: RwLock::new(JobRegistry::default()),
        bans: Mutex::new(BanList::default()),
        events: sink,
        counters,
        hash_slots: Semaphore::new(hash_threads * 2),
        broadcast: broadcast::channel(64).0,
        claims: Mutex::new(HashMap::new()),
        submissions: TaskTracker::new(),
        stopped: cancel.clone(),
        options,
    });

    let mut tasks = JoinSet::new();
    if let Some(banning) = shared.options.banning {
        tasks.spawn(purge_bans(shared.clone(), banning, cancel.clone()));
    }
    for (index, listener) in listeners.into_iter().enumerate() {
        let route = Route {
            shared: shared.clone(),
            jobs: jobs.clone(),
            credit: None,
        };
        let context = PortContext {
            port: shared.options.ports[index].clone(),
            proxy_protocol: shared.options.proxy_protocol,
            switch: None,
        };
        tasks.spawn(accept_loop(listener, Some(route), context, cancel.clone()));
    }
    let running = RunningPool {
        events,
        ports,
        jobs,
        waker,
        shared,
        cancel,
        tasks,
    };
    Ok((running, job_tx))
}

async fn manage_jobs(
    shared: Arc<Shared>,
    mut templates: watch::Receiver<Option<coin_daemon::TemplateUpdate>>,
    jobs: JobSender,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = templates.changed() => if changed.is_err() { return },
        }
        let Some(update) = templates.borrow_and_update().clone() else {
            continue;
        };
        if let Some(parent) = template_parent(&update.template.previous_block_hash)
            && let Some((height, hash)) = shared.release_orphaned(&parent, update.requested_at)
        {
            tracing::warn!(
                height,
                hash,
                "our block left the daemon's main chain (its template builds on the block's parent again); new candidates of that height are submitted"
            );
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        match Job::new(
            shared.options.ids.next_job_id(),
            &update.template,
            &shared.options.coinbase,
            update.new_block,
            now,
        ) {
            Ok(job) => publish_job(&shared, &jobs, job),
            Err(error) => {
                tracing::error!(%error, height = update.template.height, "cannot build a job from the template")
            }
        }
    }
}

async fn purge_bans(shared: Arc<Shared>, banning: BanOptions, cancel: CancellationToken) {
    let mut interval =
        tokio::time::interval(banning.purge_interval.max(Duration::from_millis(100)));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = interval.tick() => {
                shared.bans.lock().unwrap_or_else(|p| p.into_inner()).purge(Instant::now(), &banning);
            }
        }
    }
}

/// Accepts miners on `listener` until cancelled; each is served on `route`, or on a
/// switching port on the switch's route at the time.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    route: Option<Route>,
    context: PortContext,
    cancel: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        let (socket, peer) = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let route = match (&route, &context.switch) {
            (Some(route), _) => route.clone(),
            (None, Some(switch)) => switch.borrow().clone(),
            (None, None) => continue,
        };
        connections.spawn(serve(route, context.clone(), socket, peer, cancel.clone()));
    }
    while connections.join_next().await.is_some() {}
}

/// The internal byte order of a template's `previousblockhash`.
fn template_parent(display: &str) -> Option<[u8; 32]> {
    crate::serialize::hash_from_display(display)
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
        (Some(forward), _) => match shared.forward(forward).await {
            Ok(()) => Verdict::Accepted,
            Err(reason) => Verdict::Rejected(reason),
        },
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
    let worker = share.worker.clone();
    share.block_accepted = on_chain;
    shared.events.send_with(PoolEvent::Share(share), ack);
    shared.events.send(PoolEvent::Block(BlockEvent {
        worker,
        height: candidate.height,
        hash: candidate.hash,
        coinbase_txid: candidate.coinbase_txid,
        accepted: on_chain,
        reason,
    }));
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
    loop {
        let outcomes = daemons.submit_block(block_hex).await;
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
