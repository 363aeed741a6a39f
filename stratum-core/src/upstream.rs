//! Upstream mode: a pool whose work comes from larger stratum pools instead of a daemon.
//!
//! The pool connects to the first upstream that answers, as one miner. The upstream's
//! extranonce2 space is split among local miners: each gets an extranonce1 of
//! `extranonce1_size` bytes and fills `extranonce2_size` bytes itself; their jobs' first
//! coinbase part ends with the upstream's extranonce1 and zero padding for any upstream
//! extranonce2 bytes left over. Local shares are checked and credited at the local
//! difficulty as usual; those that also meet the upstream's difficulty go on to the
//! upstream as `padding ‖ extranonce1 ‖ extranonce2`. When the connection breaks, or a
//! forwarded share gets no answer within the timeout, every job is void (its shares could
//! not reach anyone) and the pool fails over: to the next upstream in the list or, after a
//! connection that lasted, to the first again. While on a backup it probes the upstreams
//! before it and moves back to the first that answers, so the primary is preferred.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashing::Difficulty;
use serde_json::Value;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, StratumClient};
use crate::extranonce::{Extranonce, MAX_EXTRANONCE_SIZE};
use crate::ids::{Extranonce1Lease, Extranonce1Space, IdAllocator};
use crate::job::{Job, UpstreamWork};
use crate::protocol::{MinerRequest, ServerMessage, SubmitRequest};
use crate::registry::JobFeed;

/// One upstream pool and the worker this pool mines as there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    /// Host name or address.
    pub host: String,
    /// Stratum port.
    pub port: u16,
    /// The worker name (usually the operator's payout address there).
    pub user: String,
    /// The worker password.
    pub password: String,
}

/// The fewest bytes of extranonce2 miners are given to roll: miner software refuses fewer
/// (cpuminer-opt accepts 2–16), so a chained pool must keep at least this much for its own.
pub const MIN_MINER_EXTRANONCE2_SIZE: usize = 2;

/// Where an upstream-mode pool takes its work.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamOptions {
    /// The upstream pools in order of preference.
    pub servers: Vec<UpstreamServer>,
    /// Bytes of extranonce1 each local miner gets (1–4): 256^size subscribed miners at
    /// once, each value held by one of them until it disconnects; one more is refused.
    pub extranonce1_size: usize,
    /// Bytes of extranonce2 local miners fill ([`MIN_MINER_EXTRANONCE2_SIZE`]–8: miners
    /// refuse fewer). With `extranonce1_size` it must fit in the upstream's extranonce2
    /// size; an upstream giving less is skipped.
    pub extranonce2_size: usize,
    /// Connecting, subscribing and each forwarded share's answer wait at most this long.
    pub timeout: Duration,
    /// A connection that lasted at least this long counts as having worked: when it breaks
    /// the list is tried from the top at once. When every upstream failed in a round, the
    /// next round waits this long.
    pub retry_delay: Duration,
    /// While on a backup, how often the upstreams before it are tried again.
    pub probe_interval: Duration,
    /// How often the connection is checked alive: a `mining.authorize` of the pool's
    /// worker, which every pool answers, must be answered within this long, or the
    /// upstream counts as hung (a stopped process behind an open socket) and the pool fails
    /// over, its jobs void, within twice this of the upstream's last answer.
    pub keepalive: Duration,
}

impl UpstreamServer {
    /// `host:port`, for logs and the portal.
    pub fn label(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl UpstreamOptions {
    /// `servers` with 2 bytes of extranonce1 and 2 of extranonce2 for local miners (4 in
    /// all, which fits node-stratum-pool's and most pools' extranonce2), a 10 s timeout, a
    /// 2 s retry delay, a 60 s probe interval and a 5 s keepalive.
    pub fn new(servers: Vec<UpstreamServer>) -> Self {
        UpstreamOptions {
            servers,
            extranonce1_size: 2,
            extranonce2_size: 2,
            timeout: Duration::from_secs(10),
            retry_delay: Duration::from_secs(2),
            probe_interval: Duration::from_secs(60),
            keepalive: Duration::from_secs(5),
        }
    }

    /// Checks the sizes and that there is an upstream.
    pub fn check(&self) -> Result<(), UpstreamError> {
        if self.servers.is_empty() {
            return Err(UpstreamError::NoServers);
        }
        if !(1..=4).contains(&self.extranonce1_size) {
            return Err(UpstreamError::Extranonce1Size(self.extranonce1_size));
        }
        if !(MIN_MINER_EXTRANONCE2_SIZE..=MAX_EXTRANONCE_SIZE).contains(&self.extranonce2_size) {
            return Err(UpstreamError::Extranonce2Size(self.extranonce2_size));
        }
        Ok(())
    }
}

/// Upstream options that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpstreamError {
    /// The server list is empty.
    #[error("no upstream pool is given")]
    NoServers,
    /// Local extranonce1 outside 1–4 bytes.
    #[error("extranonce1 size {0} is not 1 to 4 bytes")]
    Extranonce1Size(usize),
    /// Local extranonce2 outside [`MIN_MINER_EXTRANONCE2_SIZE`] to [`MAX_EXTRANONCE_SIZE`]
    /// bytes.
    #[error(
        "extranonce2 size {0} is not {MIN_MINER_EXTRANONCE2_SIZE} to {MAX_EXTRANONCE_SIZE} bytes: miners refuse fewer than {MIN_MINER_EXTRANONCE2_SIZE} (cpuminer-opt wants 2–16) and no extranonce is longer than {MAX_EXTRANONCE_SIZE}"
    )]
    Extranonce2Size(usize),
}

/// Why a share did not count at the upstream pool.
#[derive(Debug, Clone, PartialEq, Error)]
pub(crate) enum ForwardError {
    /// The pool mines on its own daemons.
    #[error("the pool has no upstream")]
    NoUpstream,
    /// The share's job came from elsewhere.
    #[error("the job is not upstream work")]
    NotUpstreamWork,
    /// The connection the job came on is closed.
    #[error("the upstream connection of its job is gone")]
    ConnectionGone,
    /// The upstream answered with something other than `true`.
    #[error("the upstream answered {0}")]
    Answered(Value),
    /// The request failed (a stratum error, a timeout, the connection).
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Why an upstream could not be used.
#[derive(Debug, Clone, PartialEq, Error)]
enum OpenError {
    /// Connecting failed or timed out.
    #[error("connect: {0}")]
    Connect(ClientError),
    /// `mining.configure` failed (other than refusing or not answering).
    #[error("configure: {0}")]
    Configure(ClientError),
    /// `mining.subscribe` failed.
    #[error("subscribe: {0}")]
    Subscribe(ClientError),
    /// The upstream's extranonce2 cannot hold the local extranonces.
    #[error(
        "it gives {given} bytes of extranonce2; local miners need {needed} (extranonce1 and extranonce2 sizes)"
    )]
    Extranonce2TooSmall {
        /// Bytes it gives.
        given: usize,
        /// Bytes local miners need.
        needed: usize,
    },
    /// `mining.authorize` failed.
    #[error("authorize: {0}")]
    Authorize(ClientError),
    /// It refused the worker.
    #[error("it refused the worker {0:?}")]
    Refused(String),
}

/// A local share going on to the upstream.
#[derive(Debug)]
pub(crate) struct Forward {
    pub(crate) job: Arc<Job>,
    pub(crate) extranonce1: Extranonce,
    pub(crate) extranonce2: Extranonce,
    pub(crate) ntime: String,
    pub(crate) nonce: String,
    pub(crate) version_bits: Option<String>,
}

struct Session {
    id: u64,
    /// `host:port` of the upstream.
    label: String,
    client: Arc<StratumClient>,
    user: String,
    /// Cancelled when a forwarded share gets no answer in time: the upstream hangs.
    hung: CancellationToken,
}

/// The pool's side of upstream mode: the current upstream connection and the local
/// extranonce1 counter.
pub(crate) struct UpstreamLink {
    pub(crate) options: UpstreamOptions,
    session: Mutex<Option<Session>>,
    /// Local miners' extranonce1 values: `extranonce1_size` bytes, none given twice while
    /// held, whichever upstream the pool is on.
    extranonce1: Arc<Extranonce1Space>,
    /// The version bits the current upstream granted (0 without one).
    version_mask: AtomicU32,
}

impl UpstreamLink {
    pub(crate) fn new(options: UpstreamOptions) -> Self {
        let extranonce1_size = options.extranonce1_size;
        UpstreamLink {
            options,
            session: Mutex::new(None),
            extranonce1: Extranonce1Space::new(extranonce1_size, 0, u64::MAX),
            version_mask: AtomicU32::new(0),
        }
    }

    /// The version bits the current upstream lets miners roll.
    pub(crate) fn version_mask(&self) -> u32 {
        self.version_mask.load(Ordering::Relaxed)
    }

    /// A local extranonce1 no live miner holds; `None` while all 256^size are held.
    pub(crate) fn allocate_extranonce1(&self) -> Option<Extranonce1Lease> {
        self.extranonce1.allocate()
    }

    /// Makes `opened` (a connection to `server`) the current upstream connection `id`;
    /// returns what its jobs share.
    fn install(&self, id: u64, server: &UpstreamServer, opened: Opened) -> SessionWork {
        let label = server.label();
        tracing::info!(
            upstream = label,
            extranonce1 = hex::encode(&opened.extranonce1),
            padding = opened.padding,
            version_mask = format!("{:08x}", opened.version_mask),
            "connected to the upstream pool"
        );
        self.version_mask
            .store(opened.version_mask, Ordering::Relaxed);
        let hung = CancellationToken::new();
        let client = Arc::new(opened.client);
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(Session {
            id,
            label,
            client: client.clone(),
            user: server.user.clone(),
            hung: hung.clone(),
        });
        SessionWork {
            session: id,
            client,
            server: server.clone(),
            notifications: opened.notifications,
            extranonce1: opened.extranonce1,
            padding: opened.padding,
            version_mask: opened.version_mask,
            hung,
        }
    }

    /// Ends the current connection: shares of its jobs can no longer be forwarded.
    fn uninstall(&self) {
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// `host:port` of the upstream the pool is connected to, if any.
    pub(crate) fn connected(&self) -> Option<String> {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.label.clone())
    }

    /// Submits `share` upstream; `Err` says why it did not count there.
    pub(crate) async fn forward(&self, share: &Forward) -> Result<(), ForwardError> {
        let Some(work) = &share.job.upstream else {
            return Err(ForwardError::NotUpstreamWork);
        };
        let (client, user, hung) = {
            let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
            match session.as_ref() {
                Some(s) if s.id == work.session => {
                    (s.client.clone(), s.user.clone(), s.hung.clone())
                }
                _ => return Err(ForwardError::ConnectionGone),
            }
        };
        let mut extranonce2 = "00".repeat(work.padding);
        extranonce2.push_str(&share.extranonce1.to_string());
        extranonce2.push_str(&share.extranonce2.to_string());
        let submit = MinerRequest::Submit(SubmitRequest {
            worker: user,
            job_id: work.job_id.clone(),
            extranonce2,
            ntime: share.ntime.to_ascii_lowercase(),
            nonce: share.nonce.to_ascii_lowercase(),
            version_bits: share.version_bits.as_deref().map(str::to_ascii_lowercase),
        });
        match client.request(&submit).await {
            Ok(Value::Bool(true)) => Ok(()),
            Ok(other) => Err(ForwardError::Answered(other)),
            Err(error) => {
                if let ClientError::Timeout(_) = error {
                    hung.cancel();
                }
                Err(error.into())
            }
        }
    }
}

/// A connected, subscribed and authorised upstream.
struct Opened {
    client: StratumClient,
    notifications: mpsc::UnboundedReceiver<ServerMessage>,
    extranonce1: Vec<u8>,
    padding: usize,
    version_mask: u32,
}

/// How long an upstream's answer to `mining.configure` is waited for, beside its subscribe.
const CONFIGURE_WAIT: Duration = Duration::from_millis(500);

/// Connects to `server`: version rolling within `wanted` (BIP310, sent first as it asks,
/// answered within [`CONFIGURE_WAIT`] or taken as refused), subscribe, then authorize.
async fn open(
    options: &UpstreamOptions,
    server: &UpstreamServer,
    wanted: u32,
) -> Result<Opened, OpenError> {
    let connect = StratumClient::connect((server.host.as_str(), server.port), options.timeout);
    let (client, notifications) = tokio::time::timeout(options.timeout, connect)
        .await
        .map_err(|_| OpenError::Connect(ClientError::Timeout(options.timeout)))?
        .map_err(OpenError::Connect)?;
    // Configure goes first (BIP310) but is not waited for before subscribing: pools that do
    // not know it (node-stratum-pool, NOMP's) never answer, and a connect must not wait out
    // the whole timeout for them.
    let configure = async {
        if wanted == 0 {
            return Ok(0);
        }
        let wait = CONFIGURE_WAIT.min(options.timeout);
        match tokio::time::timeout(wait, negotiate_version_rolling(&client, wanted)).await {
            Ok(negotiated) => negotiated,
            Err(_) => {
                tracing::info!(
                    ?wait,
                    "the upstream does not answer mining.configure; no version rolling"
                );
                Ok(0)
            }
        }
    };
    let subscribe = client.subscribe(concat!("nomp-rs/", env!("CARGO_PKG_VERSION")));
    let (version_mask, subscription) = tokio::join!(configure, subscribe);
    let version_mask = version_mask?;
    let subscription = subscription.map_err(OpenError::Subscribe)?;
    let needed = options.extranonce1_size + options.extranonce2_size;
    let padding = subscription.extranonce2_size.checked_sub(needed).ok_or(
        OpenError::Extranonce2TooSmall {
            given: subscription.extranonce2_size,
            needed,
        },
    )?;
    if !client
        .authorize(&server.user, &server.password)
        .await
        .map_err(OpenError::Authorize)?
    {
        return Err(OpenError::Refused(server.user.clone()));
    }
    Ok(Opened {
        client,
        notifications,
        extranonce1: subscription.extranonce1,
        padding,
        version_mask,
    })
}

/// The version bits (within `wanted`) the upstream lets this connection roll: 0 if it
/// refuses, does not know `mining.configure`, or ignores it until the timeout.
async fn negotiate_version_rolling(client: &StratumClient, wanted: u32) -> Result<u32, OpenError> {
    match client.configure_version_rolling(wanted).await {
        Ok(configured) => Ok(configured.version_rolling.map_or(0, |mask| mask & wanted)),
        Err(ClientError::Stratum { .. }) => Ok(0),
        Err(ClientError::Timeout(_)) => Ok(0),
        Err(error) => Err(OpenError::Configure(error)),
    }
}

/// Keeps the pool connected to an upstream and turns its jobs into local jobs until
/// `cancel`. While on a backup, the upstreams before it are probed every
/// `probe_interval`; the first that answers takes over. Local jobs take their ids from
/// `ids`; miners may roll the bits of `wanted` the upstream grants.
pub(crate) async fn run(
    link: Arc<UpstreamLink>,
    jobs: JobFeed,
    ids: Arc<IdAllocator>,
    wanted: u32,
    cancel: CancellationToken,
) {
    let servers = &link.options.servers;
    let mut session = 0u64;
    // A preferred upstream that answered a probe, already connected.
    let mut preferred: Option<(usize, Opened)> = None;
    // Upstreams whose failure was logged: an outage is logged once, not every round.
    let mut failing = vec![false; servers.len()];
    loop {
        // After a connection that lasted, start again from the first (preferred) upstream;
        // after one that broke at once, go on down the list.
        let mut lasted = false;
        let mut index = 0;
        while index < servers.len() {
            let (at, opened) = match preferred.take() {
                Some(found) => found,
                None => {
                    let opened = tokio::select! {
                        () = cancel.cancelled() => return,
                        opened = open(&link.options, &servers[index], wanted) => opened,
                    };
                    match opened {
                        Ok(opened) => (index, opened),
                        Err(error) => {
                            let upstream = servers[index].label();
                            if std::mem::replace(&mut failing[index], true) {
                                tracing::debug!(upstream, %error, "upstream pool still unusable");
                            } else {
                                tracing::warn!(upstream, %error, "cannot mine through this upstream pool");
                            }
                            index += 1;
                            continue;
                        }
                    }
                }
            };
            index = at;
            failing[at] = false;
            session += 1;
            let started = Instant::now();
            let work = link.install(session, &servers[at], opened);
            let probing = probe(&link.options, &servers[..at], wanted);
            let outcome = tokio::select! {
                () = follow(&ids, &link, &jobs, work, &cancel) => None,
                found = probing, if at > 0 => Some(found),
            };
            link.uninstall();
            jobs.void();
            if cancel.is_cancelled() {
                return;
            }
            if let Some(found) = outcome {
                tracing::info!(
                    from = servers[at].label(),
                    to = servers[found.0].label(),
                    "a preferred upstream pool answers again; moving to it"
                );
                preferred = Some(found);
                continue;
            }
            tracing::warn!(
                upstream = servers[at].label(),
                "lost the upstream pool; failing over"
            );
            if started.elapsed() >= link.options.retry_delay {
                lasted = true;
                break;
            }
            index += 1;
        }
        if !lasted {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(link.options.retry_delay) => {}
            }
        }
    }
}

/// Every `probe_interval`, tries the upstreams of `better` in order; the first that
/// answers, connected, with its index.
async fn probe(
    options: &UpstreamOptions,
    better: &[UpstreamServer],
    wanted: u32,
) -> (usize, Opened) {
    loop {
        tokio::time::sleep(options.probe_interval).await;
        for (index, server) in better.iter().enumerate() {
            if let Ok(opened) = open(options, server, wanted).await {
                return (index, opened);
            }
        }
    }
}

/// What every job of one upstream connection shares.
struct SessionWork {
    session: u64,
    client: Arc<StratumClient>,
    server: UpstreamServer,
    notifications: mpsc::UnboundedReceiver<ServerMessage>,
    extranonce1: Vec<u8>,
    padding: usize,
    version_mask: u32,
    hung: CancellationToken,
}

/// Every `interval`, asks the upstream to authorize the pool's worker again, the one request
/// every pool answers; returns once an ask gets no answer within `interval` (any answer,
/// even a refusal, means the upstream is alive).
async fn keepalive(client: &StratumClient, server: &UpstreamServer, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let ask = client.authorize(&server.user, &server.password);
        match tokio::time::timeout(interval, ask).await {
            Ok(Ok(_) | Err(ClientError::Stratum { .. })) => {}
            Ok(Err(error)) => {
                tracing::debug!(%error, "keepalive failed");
                return;
            }
            Err(_) => return,
        }
    }
}

/// Turns one connection's notifications into local jobs until it closes, the upstream
/// asks for a reconnect, stops answering shares or its keepalive, or `cancel`.
async fn follow(
    ids: &IdAllocator,
    link: &UpstreamLink,
    jobs: &JobFeed,
    mut work: SessionWork,
    cancel: &CancellationToken,
) {
    // Stratum's difficulty until the upstream sets one.
    let mut difficulty = Difficulty::ONE;
    // The first job of a connection voids every earlier one.
    let mut clean = true;
    let alive = keepalive(&work.client, &work.server, link.options.keepalive);
    tokio::pin!(alive);
    loop {
        let notification = tokio::select! {
            () = cancel.cancelled() => return,
            () = work.hung.cancelled() => {
                tracing::warn!(timeout = ?link.options.timeout, "the upstream stopped answering shares");
                return;
            }
            () = &mut alive => {
                tracing::warn!(keepalive = ?link.options.keepalive, "the upstream did not answer its keepalive: it hangs");
                return;
            }
            notification = work.notifications.recv() => notification,
        };
        match notification {
            None => return,
            Some(ServerMessage::SetDifficulty(value)) => match Difficulty::new(value) {
                Ok(value) => difficulty = value,
                Err(error) => tracing::warn!(%error, "the upstream sent a bad difficulty"),
            },
            Some(ServerMessage::Notify(upstream_job)) => {
                let upstream = UpstreamWork {
                    job_id: upstream_job.job_id.clone(),
                    session: work.session,
                    extranonce1: work.extranonce1.clone(),
                    padding: work.padding,
                    difficulty,
                    version_mask: work.version_mask,
                };
                match Job::from_upstream(
                    ids.next_job_id(),
                    &upstream_job,
                    upstream,
                    link.options.extranonce2_size,
                    clean || upstream_job.clean,
                ) {
                    Ok(job) => {
                        clean = false;
                        jobs.publish(job);
                    }
                    Err(error) => tracing::warn!(%error, "cannot use the upstream's job"),
                }
            }
            Some(ServerMessage::Reconnect { to, .. }) => {
                tracing::info!(?to, "the upstream asks for a reconnect");
                return;
            }
            Some(ServerMessage::ShowMessage(text)) => {
                tracing::info!(text, "message from the upstream")
            }
            // This pool never subscribes to mining.set_extranonce.
            Some(message @ (ServerMessage::SetExtranonce { .. } | ServerMessage::Other { .. })) => {
                tracing::debug!(
                    method = message.method(),
                    "ignored an upstream notification"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hashing::{Algorithm, HashOptions, PowHasher};

    use super::*;
    use crate::job::JobId;
    use crate::protocol::MiningJob;
    use crate::validate::{MinerState, Submission, validate_share};

    /// An upstream job whose coinbase gap is 8 bytes: upstream extranonce1 `e1e2e3e4`,
    /// then its extranonce2 of 8 bytes, of which local miners fill the last 4.
    fn upstream_job(difficulty: f64) -> Job {
        let work = MiningJob {
            job_id: "up7".into(),
            previous_hash: hashing::BlockHash::from_internal([0x11; 32]),
            coinb1: hex::decode("01000000aa").unwrap(),
            coinb2: hex::decode("bbffffffff00000000").unwrap(),
            branch: vec![[0x22; 32]],
            version: 0x2000_0000,
            // An easy network target (regtest's): most hashes are blocks.
            bits: hashing::CompactTarget::new(0x207f_ffff),
            ntime: 1_700_000_000,
            clean: false,
        };
        let upstream = UpstreamWork {
            job_id: work.job_id.clone(),
            session: 1,
            extranonce1: vec![0xe1, 0xe2, 0xe3, 0xe4],
            padding: 4,
            difficulty: Difficulty::new(difficulty).unwrap(),
            version_mask: 0x0000_e000,
        };
        Job::from_upstream(JobId(5), &work, upstream, 2, true).unwrap()
    }

    /// A local miner with extranonce1 `0a0b` at a tiny difficulty, rolling `version_mask`.
    fn miner(version_mask: u32) -> MinerState {
        MinerState {
            extranonce1: Extranonce::from_slice(&[0x0a, 0x0b]).unwrap(),
            difficulty: Difficulty::new(1e-12).unwrap(),
            previous_difficulty: None,
            version_mask,
            now: 1_700_000_000,
        }
    }

    #[test]
    fn local_miners_fill_the_end_of_the_upstream_extranonce2() {
        let job = upstream_job(1.0);
        let notify = job.notify();
        assert_eq!(notify.job_id, "5");
        assert_eq!(
            hex::encode(&notify.coinb1),
            "01000000aae1e2e3e400000000",
            "coinb1 ‖ en1 ‖ padding"
        );
        assert_eq!(hex::encode(&notify.coinb2), "bbffffffff00000000");
        assert_eq!(notify.bits.bits(), 0x207f_ffff);
        assert!(notify.clean);
        let params: Value =
            serde_json::from_str::<Value>(job.notify_line()).unwrap()["params"].clone();
        assert_eq!(params[6], "207fffff");
        // What a local miner hashes is the upstream's coinbase with extranonce2 =
        // padding ‖ local extranonce1 ‖ local extranonce2.
        let local = job.coinbase(&[0x0a, 0x0b], &[0x0c, 0x0d]);
        let upstream = [
            &hex::decode("01000000aa").unwrap()[..],
            &[0xe1, 0xe2, 0xe3, 0xe4],
            &[0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d],
            &hex::decode("bbffffffff00000000").unwrap(),
        ]
        .concat();
        assert_eq!(local, upstream);
        assert!(job.is_upstream());
        assert_eq!(
            job.block(&[0; 80], &local),
            None,
            "the upstream builds blocks"
        );
    }

    #[test]
    fn rolled_version_bits_must_be_ones_the_upstream_granted() {
        let hasher = PowHasher::new(Algorithm::Sha256d, &HashOptions::default()).unwrap();
        let job = upstream_job(1e-12);
        let miner = miner(0x1fff_e000);
        let submission = |bits| Submission {
            job_id: "5",
            extranonce2: "0c0d",
            ntime: "6553f100",
            nonce: "00000001",
            version_bits: Some(bits),
        };
        // Within the miner's mask and the upstream's 0x0000e000.
        assert!(
            validate_share(
                Some(&job),
                &submission("00004000"),
                &miner,
                &hasher,
                |key| job.record_share(key)
            )
            .is_ok()
        );
        // Within the miner's mask only: the upstream would refuse it.
        assert_eq!(
            validate_share(
                Some(&job),
                &submission("00100000"),
                &miner,
                &hasher,
                |key| job.record_share(key)
            ),
            Err(pool_events::Reject::VersionBits)
        );
    }

    #[test]
    fn only_shares_meeting_the_upstream_difficulty_or_the_network_go_on() {
        let hasher = PowHasher::new(Algorithm::Sha256d, &HashOptions::default()).unwrap();
        let miner = miner(0);
        // Upstream difficulty far above the network's: only blocks go on.
        let hard = upstream_job(1e6);
        // Upstream difficulty at the local one: every share goes on.
        let easy = upstream_job(1e-12);
        let (mut blocks, mut shares) = (0, 0);
        for nonce in 0..64u32 {
            let nonce = format!("{nonce:08x}");
            let submission = Submission {
                job_id: "5",
                extranonce2: "0c0d",
                ntime: "6553f100",
                nonce: &nonce,
                version_bits: None,
            };
            let share = validate_share(Some(&hard), &submission, &miner, &hasher, |key| {
                hard.record_share(key)
            })
            .unwrap();
            assert_eq!(share.forward, share.block.is_some());
            assert!(share.block.as_ref().is_none_or(|b| b.block_hex.is_none()));
            blocks += usize::from(share.block.is_some());
            let share = validate_share(Some(&easy), &submission, &miner, &hasher, |key| {
                easy.record_share(key)
            })
            .unwrap();
            assert!(share.forward);
            shares += 1;
        }
        assert!(blocks > 0 && blocks < shares, "{blocks} blocks of {shares}");
        let wrong_size = Submission {
            job_id: "5",
            extranonce2: "0c0d0e0f",
            ntime: "6553f100",
            nonce: "00000000",
            version_bits: None,
        };
        assert_eq!(
            validate_share(Some(&easy), &wrong_size, &miner, &hasher, |key| easy
                .record_share(key)),
            Err(pool_events::Reject::Extranonce2Size)
        );
    }
}
