//! A running pool: template source → jobs → ports → events.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coin_daemon::{
    ChainVerdict, DaemonGroup, TemplateSource, TemplateWaker, spawn_block_notify,
    spawn_chain_guard, spawn_zmq_block_notify,
};
use hashing::{Difficulty, PowHasher};
use pool_events::{
    Authorizer, BlockEvent, CounterSnapshot, EventGate, EventReceiver, EventSender, PoolCounters,
    PoolTimings,
};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::ban::{BanList, BanOptions};
use crate::batch::HashBatcher;
use crate::connection::{PortContext, Route, accept_loop};
use crate::ids::IdAllocator;
use crate::job::Job;
use crate::options::{PoolError, PoolOptions};
use crate::protocol::ServerMessage;
use crate::registry::{JobFeed, JobRegistry};
use crate::session::WorkerCredit;
use crate::shared::{Shared, WorkSource};
use crate::upstream::{self, UpstreamLink, UpstreamOptions};

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

    /// Latency histograms since start: share checks, new-block fan-out, block submission.
    pub fn timings(&self) -> PoolTimings {
        self.shared.counters.timings()
    }

    /// Each block candidate's verdict from now on, as it is reported.
    pub fn blocks(&self) -> broadcast::Receiver<BlockEvent> {
        self.shared.blocks.subscribe()
    }

    /// The chain guard's verdict, when it runs (daemon mode with `chain_guard` set).
    pub fn chain_verdict(&self) -> Option<ChainVerdict> {
        self.shared
            .chain
            .as_ref()
            .map(|chain| chain.borrow().clone())
    }

    /// The network difficulty of the current job, in this pool's share units.
    pub fn network_difficulty(&self) -> Option<Difficulty> {
        self.shared.network_difficulty()
    }

    /// The height of the block being mined.
    pub fn height(&self) -> Option<u64> {
        Some(self.shared.jobs.latest()?.height())
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
    let zmq = options.zmq_block_notify.clone();
    let chain = options
        .chain_guard
        .clone()
        .map(|guard| spawn_chain_guard(daemons.clone(), guard, cancel.child_token()));
    let (mut running, feed) = serve_ports(
        options,
        listeners,
        WorkSource::Daemons {
            daemons,
            waker: waker.clone(),
        },
        authorizer,
        chain,
        cancel.clone(),
    )?;
    running.tasks.spawn(
        manage_jobs(
            running.shared.clone(),
            source.updates.clone(),
            feed,
            cancel.clone(),
        )
        .in_current_span(),
    );
    for endpoint in zmq {
        let notify = spawn_zmq_block_notify(endpoint, waker.clone(), cancel.clone());
        running.tasks.spawn(
            async move {
                let _ = notify.await;
            }
            .in_current_span(),
        );
    }
    if let Some(p2p) = p2p {
        let notify = spawn_block_notify(p2p, waker, cancel);
        running.tasks.spawn(
            async move {
                let _ = notify.await;
            }
            .in_current_span(),
        );
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
    upstream.check()?;
    let listeners = bind(&options).await?;
    let link = Arc::new(UpstreamLink::new(upstream));
    let (mut running, feed) = serve_ports(
        options,
        listeners,
        WorkSource::Upstream {
            link: link.clone(),
            daemons,
        },
        authorizer,
        None,
        cancel.clone(),
    )?;
    let wanted = running.shared.options.version_mask;
    let ids = running.shared.options.ids.clone();
    running
        .tasks
        .spawn(upstream::run(link, feed, ids, wanted, cancel).in_current_span());
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

/// Serves miners on `listeners` with the jobs published on the returned feed.
fn serve_ports(
    options: PoolOptions,
    listeners: Vec<TcpListener>,
    work: WorkSource,
    authorizer: Arc<dyn Authorizer>,
    chain: Option<watch::Receiver<ChainVerdict>>,
    cancel: CancellationToken,
) -> Result<(RunningPool, JobFeed), PoolError> {
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
    let registry = Arc::new(JobRegistry::default());
    let (feed, jobs) = JobFeed::new(registry.clone());
    // One memory-hard hashing pass per core at a time.
    let hashes = options.algorithm.is_memory_hard().then(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashBatcher::start(hasher.clone(), cores)
    });
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
        jobs: registry,
        bans: Mutex::new(BanList::default()),
        events: sink,
        counters,
        hashes,
        broadcast: broadcast::channel(64).0,
        blocks: broadcast::channel(64).0,
        claims: Mutex::default(),
        submissions: TaskTracker::new(),
        stopped: cancel.clone(),
        chain,
        span: tracing::Span::current(),
        options,
    });

    let mut tasks = JoinSet::new();
    if let Some(banning) = shared.options.banning {
        tasks.spawn(purge_bans(shared.clone(), banning, cancel.clone()).in_current_span());
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
        tasks.spawn(accept_loop(listener, Some(route), context, cancel.clone()).in_current_span());
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
    Ok((running, feed))
}

async fn manage_jobs(
    shared: Arc<Shared>,
    mut templates: watch::Receiver<Option<coin_daemon::TemplateUpdate>>,
    jobs: JobFeed,
    cancel: CancellationToken,
) {
    // Followed only when faults withhold work; a closed guard is never waited on again.
    let mut chain = shared
        .chain
        .clone()
        .filter(|_| shared.options.refuse_work_on_chain_fault);
    let mut refusing = false;
    loop {
        let chain_changed = async {
            match chain.as_mut() {
                Some(chain) => chain.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let chain_woke = tokio::select! {
            () = cancel.cancelled() => return,
            changed = templates.changed() => if changed.is_err() { return } else { None },
            open = chain_changed => Some(open),
        };
        if chain_woke == Some(false) {
            chain = None;
            continue;
        }
        if let Some(receiver) = chain.as_mut() {
            let verdict = receiver.borrow_and_update().clone();
            if !verdict.is_clear() {
                if !refusing {
                    let faults: Vec<String> =
                        verdict.faults.iter().map(ToString::to_string).collect();
                    tracing::error!(
                        ?faults,
                        "refusing work while the chain guard sees a fault (refuseWorkOnChainFault): miners get no job and shares for the last one are refused"
                    );
                    jobs.void();
                    refusing = true;
                }
                continue;
            }
        }
        let resumed = std::mem::take(&mut refusing);
        if resumed {
            tracing::info!("the chain guard sees no fault: handing out work again");
        } else if chain_woke.is_some() {
            continue;
        }
        let Some(update) = templates.borrow_and_update().clone() else {
            continue;
        };
        if let Some((height, hash)) =
            shared.release_orphaned(&update.template.previous_block_hash, update.requested_at)
        {
            tracing::warn!(
                height,
                %hash,
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
            update.new_block || resumed,
            now,
        ) {
            Ok(job) => jobs.publish(job.seen_at(update.requested_at)),
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
