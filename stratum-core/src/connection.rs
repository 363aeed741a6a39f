//! One miner connection: framing, dispatch, difficulty, shares.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hashing::Difficulty;
use pool_events::{DifficultyEvent, DurableAck, PoolEvent, Reject, ShareEvent};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};
use tokio_util::sync::CancellationToken;

use crate::ban::ShareTally;
use crate::extranonce::Extranonce;
use crate::job::{Job, JobId};
use crate::pool::{Shared, forward_share, submit_block};
use crate::protocol::{
    MAX_LINE_LENGTH, MinerRequest, Request, ServerMessage, SubmitRequest, codes, error_line,
    result_line,
};
use crate::proxy::read_proxy_header;
use crate::upstream::Forward;
use crate::validate::{MinerState, Submission, ValidShare, validate_share};
use crate::vardiff::{Vardiff, VardiffOptions};

impl Miner {
    /// The worker credited for `login`: itself, or its switching-port mapping.
    fn credited(&self, login: &str) -> Option<String> {
        match &self.credit {
            Some(credit) => credit(login),
            None => Some(login.to_owned()),
        }
    }
}

/// Whether to keep the connection after a message.
enum Flow {
    Continue,
    Close,
}

/// Maps a miner's login to the worker its shares are credited to; `None` refuses it.
pub type WorkerCredit = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where a connection's work comes from and where its shares go: a pool's state, its job
/// feed, and (on switching ports) how logins become that pool's workers.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) shared: Arc<Shared>,
    pub(crate) jobs: watch::Receiver<Option<Arc<Job>>>,
    pub(crate) credit: Option<WorkerCredit>,
}

/// What a connection needs of the port it came in on.
#[derive(Clone)]
pub(crate) struct PortContext {
    pub(crate) port: crate::pool::PortOptions,
    pub(crate) proxy_protocol: bool,
    /// On a switching port: the switch's current route, followed while connected.
    pub(crate) switch: Option<watch::Receiver<Route>>,
}

struct Miner {
    peer: SocketAddr,
    local_port: u16,
    port_difficulty: Difficulty,
    port_vardiff: Option<VardiffOptions>,
    credit: Option<WorkerCredit>,
    started: Instant,
    subscribed: bool,
    extranonce1: Extranonce,
    authorized: HashSet<String>,
    difficulty: Difficulty,
    pending_difficulty: Option<Difficulty>,
    previous_difficulty: Option<(Difficulty, JobId)>,
    vardiff: Option<Vardiff>,
    tally: ShareTally,
    version_mask: u32,
    last_submit: Instant,
    unknown_method_logged: bool,
}

/// How long a PROXY header or a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes an accepted socket through the PROXY header (when the pool expects one), the ban
/// check on the miner's real address and the TLS handshake (on TLS ports), then serves it.
pub(crate) async fn serve(
    route: Route,
    context: PortContext,
    mut socket: TcpStream,
    mut peer: SocketAddr,
    cancel: CancellationToken,
) {
    let counters = route.shared.counters.clone();
    let _open = counters.connection();
    let port = &context.port;
    let local_port = socket.local_addr().map_or(port.bind.port(), |a| a.port());
    let _ = socket.set_nodelay(true);
    if context.proxy_protocol {
        let header = tokio::select! {
            () = cancel.cancelled() => return,
            header = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_proxy_header(&mut socket)) => header,
        };
        match header {
            Ok(Ok(Some(source))) => peer = source,
            Ok(Ok(None)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%peer, %error, "dropping a connection without a valid PROXY header");
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "dropping a connection that sent no PROXY header in time");
                return;
            }
        }
    }
    if let Some(left) = route.shared.ban_remaining(peer.ip()) {
        tracing::info!(ip = %peer.ip(), ?left, "refused a banned IP");
        return;
    }
    let Some(tls) = port.tls.clone() else {
        return handle_connection(route, context, socket, peer, local_port, cancel).await;
    };
    let handshake = tokio::select! {
        () = cancel.cancelled() => return,
        handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(tls).accept(socket)) => handshake,
    };
    match handshake {
        Ok(Ok(stream)) => handle_connection(route, context, stream, peer, local_port, cancel).await,
        Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake failed"),
        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
    }
}

async fn handle_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut route: Route,
    context: PortContext,
    socket: S,
    peer: SocketAddr,
    local_port: u16,
    cancel: CancellationToken,
) {
    let PortContext {
        port, mut switch, ..
    } = context;
    let mut lines = Framed::new(socket, LinesCodec::new_with_max_length(MAX_LINE_LENGTH));
    let mut broadcast = route.shared.broadcast.subscribe();
    let now = Instant::now();
    let mut miner = Miner {
        peer,
        local_port,
        port_difficulty: port.difficulty,
        port_vardiff: port.vardiff,
        credit: route.credit.clone(),
        started: now,
        subscribed: false,
        extranonce1: route.shared.next_extranonce1(),
        authorized: HashSet::new(),
        difficulty: port.difficulty,
        pending_difficulty: None,
        previous_difficulty: None,
        vardiff: port.vardiff.map(Vardiff::new),
        tally: ShareTally::default(),
        version_mask: 0,
        last_submit: now,
        unknown_method_logged: false,
    };
    let timeout = route.shared.options.connection_timeout;
    // False once a switching port's pool stopped, until the switch names the next one.
    let mut route_live = true;
    loop {
        let shared = route.shared.clone();
        let zombie_at = tokio::time::Instant::from_std(miner.last_submit + timeout);
        let flow = tokio::select! {
            () = cancel.cancelled() => Flow::Close,
            () = tokio::time::sleep_until(zombie_at) => {
                tracing::info!(%peer, ?timeout, "disconnecting a miner that has not submitted (zombie)");
                Flow::Close
            }
            line = lines.next() => match line {
                Some(Ok(line)) => handle_line(&shared, &mut miner, &mut lines, &mut route.jobs, &line).await,
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                    tracing::warn!(%peer, limit = MAX_LINE_LENGTH, "disconnecting a flooding miner (line too long)");
                    Flow::Close
                }
                Some(Err(LinesCodecError::Io(error))) => {
                    tracing::debug!(%peer, %error, "connection error");
                    Flow::Close
                }
                None => Flow::Close,
            },
            changed = route.jobs.changed(), if miner.subscribed && route_live => match changed {
                Ok(()) => {
                    let job = route.jobs.borrow_and_update().clone();
                    match job {
                        Some(job) => send_job(&shared, &mut miner, &mut lines, &job).await,
                        None => Flow::Continue,
                    }
                }
                // A switch moves its miners on when their pool restarts.
                Err(_) if switch.is_some() => {
                    route_live = false;
                    Flow::Continue
                }
                Err(_) => Flow::Close,
            },
            message = broadcast.recv() => match message {
                Ok(line) => send(&mut lines, line).await,
                Err(_) => Flow::Continue,
            },
            next = next_route(&mut switch) => match next {
                Some(next) => {
                    route = next;
                    route_live = true;
                    broadcast = route.shared.broadcast.subscribe();
                    follow_switch(&route, &mut miner, &mut lines).await
                }
                None => Flow::Close,
            },
        };
        if matches!(flow, Flow::Close) {
            break;
        }
    }
}

/// The switch's next route; never, on a plain port; `None` once the switch is gone.
async fn next_route(switch: &mut Option<watch::Receiver<Route>>) -> Option<Route> {
    match switch {
        Some(receiver) => match receiver.changed().await {
            Ok(()) => Some(receiver.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

/// Moves a connected miner to its switch's new pool without a reconnect: same extranonce1
/// and difficulty, logins mapped to the new coin's workers, and the new pool's current
/// job sent as a clean job (the old pool's jobs are void).
async fn follow_switch<S: AsyncRead + AsyncWrite + Unpin>(
    route: &Route,
    miner: &mut Miner,
    lines: &mut Framed<S, LinesCodec>,
) -> Flow {
    miner.credit = route.credit.clone();
    miner.previous_difficulty = None;
    let credit = route.credit.clone();
    miner
        .authorized
        .retain(|login| credit.as_ref().is_none_or(|c| c(login).is_some()));
    if !miner.subscribed {
        return Flow::Continue;
    }
    let mut jobs = route.jobs.clone();
    let current = jobs.borrow_and_update().clone();
    let Some(job) = current else {
        return Flow::Continue;
    };
    let mut params = job.notify_params().clone();
    if let Some(clean) = params.get_mut(8) {
        *clean = json!(true);
    }
    send(lines, ServerMessage::Notify(params).to_line()).await
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut Framed<S, LinesCodec>,
    line: String,
) -> Flow {
    match lines.send(line).await {
        Ok(()) => Flow::Continue,
        Err(_) => Flow::Close,
    }
}

/// Applies a pending difficulty, then sends the job: the new difficulty counts for this
/// and later jobs, the old one still for shares of earlier jobs.
async fn send_job<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    miner: &mut Miner,
    lines: &mut Framed<S, LinesCodec>,
    job: &Job,
) -> Flow {
    if let Some(next) = miner.pending_difficulty.take() {
        miner.previous_difficulty = Some((miner.difficulty, job.id));
        miner.difficulty = next;
        for login in &miner.authorized {
            if let Some(worker) = miner.credited(login) {
                shared.events.send(PoolEvent::Difficulty(DifficultyEvent {
                    worker,
                    difficulty: next.get(),
                }));
            }
        }
        if let Flow::Close = send(lines, ServerMessage::SetDifficulty(next.get()).to_line()).await {
            return Flow::Close;
        }
    }
    send(lines, notify_line(job)).await
}

/// The `mining.notify` line of `job`.
fn notify_line(job: &Job) -> String {
    ServerMessage::Notify(job.notify_params().clone()).to_line()
}

async fn handle_line<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    miner: &mut Miner,
    lines: &mut Framed<S, LinesCodec>,
    jobs: &mut watch::Receiver<Option<Arc<Job>>>,
    line: &str,
) -> Flow {
    let line = line.trim();
    if line.is_empty() {
        return Flow::Continue;
    }
    let request: Request = match serde_json::from_str(line) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(peer = %miner.peer, %error, "disconnecting a miner that sent malformed JSON");
            send(
                lines,
                error_line(&Value::Null, codes::OTHER, "malformed JSON"),
            )
            .await;
            return Flow::Close;
        }
    };
    let id = request.id.clone();
    match MinerRequest::from_request(&request) {
        MinerRequest::Subscribe => {
            miner.subscribed = true;
            let subscription = miner.extranonce1.to_string();
            let result = json!([
                [
                    ["mining.set_difficulty", subscription],
                    ["mining.notify", subscription]
                ],
                subscription,
                shared.extranonce2_size(),
            ]);
            if let Flow::Close = send(lines, result_line(&id, result)).await {
                return Flow::Close;
            }
            let difficulty = ServerMessage::SetDifficulty(miner.difficulty.get()).to_line();
            if let Flow::Close = send(lines, difficulty).await {
                return Flow::Close;
            }
            // Marked seen, so the job watch does not send this job a second time.
            let current = jobs.borrow_and_update().clone();
            match current {
                Some(job) => send(lines, notify_line(&job)).await,
                None => Flow::Continue,
            }
        }
        MinerRequest::Authorize { worker, password } => {
            let credited = if worker.is_empty() {
                None
            } else {
                miner.credited(&worker)
            };
            let ok = match &credited {
                Some(credited) => {
                    shared
                        .authorizer
                        .authorize(credited, &password, miner.peer.ip())
                        .await
                }
                None => false,
            };
            if ok {
                miner.authorized.insert(worker);
            } else {
                tracing::info!(peer = %miner.peer, worker, "authorisation refused");
            }
            send(lines, result_line(&id, json!(ok))).await
        }
        MinerRequest::Submit(submit) => {
            handle_submit(shared, miner, lines, &id, Some(submit)).await
        }
        MinerRequest::MalformedSubmit => handle_submit(shared, miner, lines, &id, None).await,
        MinerRequest::GetTransactions => {
            send(
                lines,
                error_line(
                    &id,
                    codes::OTHER,
                    "mining.get_transactions is not supported",
                ),
            )
            .await
        }
        MinerRequest::ExtranonceSubscribe => send(lines, result_line(&id, json!(true))).await,
        MinerRequest::SuggestDifficulty(suggested) => {
            if let Some(suggested) = suggested {
                let clamped = clamp_to_port(miner, suggested, shared.network_difficulty());
                miner.pending_difficulty = Some(clamped);
            }
            send(lines, result_line(&id, json!(suggested.is_some()))).await
        }
        MinerRequest::Configure {
            extensions,
            version_rolling_mask,
        } => {
            let result = configure(shared, miner, &extensions, version_rolling_mask);
            send(lines, result_line(&id, result)).await
        }
        MinerRequest::Unknown { method } => {
            if !miner.unknown_method_logged {
                tracing::info!(peer = %miner.peer, method, "unknown stratum method");
                miner.unknown_method_logged = true;
            }
            send(lines, error_line(&id, codes::OTHER, "unknown method")).await
        }
    }
}

/// A suggested difficulty within what the port allows: never below its floor (`minDiff`
/// with vardiff, the port's difficulty on a fixed port), so no miner can make every random
/// nonce a share; never above `maxDiff` with vardiff, nor above the network difficulty,
/// so no single block share can be credited more than a block is worth.
fn clamp_to_port(miner: &Miner, suggested: Difficulty, network: Option<Difficulty>) -> Difficulty {
    let (floor, ceiling) = match &miner.port_vardiff {
        Some(v) => (v.min_diff, v.max_diff),
        None => (miner.port_difficulty.get(), f64::INFINITY),
    };
    let ceiling = network.map_or(ceiling, |n| ceiling.min(n.get())).max(floor);
    Difficulty::new(suggested.get().clamp(floor, ceiling)).unwrap_or(miner.port_difficulty)
}

/// BIP310 `mining.configure`: version rolling within the coin's mask; other extensions off.
fn configure(shared: &Shared, miner: &mut Miner, extensions: &[String], requested: u32) -> Value {
    let mut result = serde_json::Map::new();
    for extension in extensions {
        let pool_mask = shared.version_mask();
        if extension == "version-rolling" && pool_mask != 0 {
            miner.version_mask = requested & pool_mask;
            result.insert("version-rolling".into(), json!(true));
            result.insert(
                "version-rolling.mask".into(),
                json!(format!("{:08x}", miner.version_mask)),
            );
        } else {
            result.insert(extension.clone(), json!(false));
        }
    }
    Value::Object(result)
}

async fn handle_submit<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    miner: &mut Miner,
    lines: &mut Framed<S, LinesCodec>,
    id: &Value,
    submit: Option<SubmitRequest>,
) -> Flow {
    if !miner.subscribed {
        return send(
            lines,
            error_line(id, codes::NOT_SUBSCRIBED, "not subscribed"),
        )
        .await;
    }
    if shared.stopped.is_cancelled() {
        return send(
            lines,
            error_line(
                id,
                codes::OTHER,
                "the pool is restarting; this share is not counted",
            ),
        )
        .await;
    }
    let Some(submit) = submit else {
        return send(
            lines,
            error_line(
                id,
                codes::OTHER,
                "mining.submit needs worker, job id, extranonce2, ntime and nonce",
            ),
        )
        .await;
    };
    let SubmitRequest {
        worker,
        job_id,
        extranonce2,
        ntime,
        nonce,
        version_bits,
    } = &submit;
    if !miner.authorized.contains(worker) {
        return send(
            lines,
            error_line(id, codes::UNAUTHORIZED, "unauthorized worker"),
        )
        .await;
    }
    miner.last_submit = Instant::now();
    let job = JobId::parse(job_id).and_then(|job_id| shared.job(job_id));
    let state = MinerState {
        extranonce1: miner.extranonce1,
        difficulty: miner.difficulty,
        previous_difficulty: miner.previous_difficulty,
        version_mask: miner.version_mask,
        now: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32),
    };
    let height = job.as_ref().map_or(0, |job| job.height());
    let submitted_job = job.clone();
    let result = if shared.options.algorithm.is_memory_hard() {
        // Memory-hard hashes run on the blocking pool, at most a few at a time, so the
        // reactor threads keep serving other miners.
        let _permit = shared.hash_slots.acquire().await;
        let hashing = Arc::clone(shared);
        let owned = submit.clone();
        tokio::task::spawn_blocking(move || {
            let submission = Submission {
                job_id: &owned.job_id,
                extranonce2: &owned.extranonce2,
                ntime: &owned.ntime,
                nonce: &owned.nonce,
                version_bits: owned.version_bits.as_deref(),
            };
            validate_share(job.as_deref(), &submission, &state, &hashing.hasher)
        })
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
    } else {
        let submission = Submission {
            job_id,
            extranonce2,
            ntime,
            nonce,
            version_bits: version_bits.as_deref(),
        };
        validate_share(job.as_deref(), &submission, &state, &shared.hasher)
    };

    // Authorised logins always map (a switch drops those that do not).
    let credited = miner.credited(worker).unwrap_or_else(|| worker.to_owned());
    let forward = match (&result, submitted_job) {
        (Ok(share), Some(job)) if share.forward => {
            Extranonce::from_hex(extranonce2, job.extranonce2_size).map(|extranonce2| Forward {
                job,
                extranonce1: miner.extranonce1,
                extranonce2,
                ntime: ntime.to_owned(),
                nonce: nonce.to_owned(),
                version_bits: version_bits.clone(),
            })
        }
        _ => None,
    };
    let refused =
        |reason: &str| error_line(id, codes::OTHER, &format!("share not recorded: {reason}"));
    // A block candidate that will be submitted is always taken: a block is never refused
    // for memory. A stale duplicate of one (its parent claimed) is an ordinary share.
    let submits_block = match &result {
        Ok(ValidShare {
            block: Some(candidate),
            ..
        }) => !shared.parent_claimed(candidate),
        _ => false,
    };
    let admitted = if submits_block {
        Ok(())
    } else {
        shared.events.admit()
    };
    let reply = match (&result, admitted) {
        (Ok(_), Err(reason)) => refused(&reason),
        (Err(reject), Err(_)) => error_line(id, reject.code(), &reject.to_string()),
        (Ok(_), Ok(())) if shared.options.durable_ack => {
            let (ack, ticket) = DurableAck::pair();
            report_share(
                shared,
                miner,
                &credited,
                height,
                &result,
                forward,
                Some(ack),
            );
            match ticket.await {
                Ok(Ok(())) => result_line(id, json!(true)),
                Ok(Err(reason)) => refused(&reason),
                Err(_) => refused("the pool's share writer has stopped"),
            }
        }
        (_, Ok(())) => {
            report_share(shared, miner, &credited, height, &result, forward, None);
            match &result {
                Ok(_) => result_line(id, json!(true)),
                Err(reject) => error_line(id, reject.code(), &reject.to_string()),
            }
        }
    };
    let flow = send(lines, reply).await;

    let elapsed = miner.started.elapsed();
    if let Some(vardiff) = &mut miner.vardiff {
        let current = miner.pending_difficulty.unwrap_or(miner.difficulty);
        if let Some(next) = vardiff.on_share(elapsed, current, shared.network_difficulty()) {
            miner.pending_difficulty = Some(next);
        }
    }
    if let Some(banning) = &shared.options.banning
        && miner.tally.record(result.is_ok(), banning)
    {
        tracing::warn!(peer = %miner.peer, worker, "banning an IP for too many invalid shares");
        shared
            .bans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ban(miner.peer.ip(), Instant::now());
        return Flow::Close;
    }
    flow
}

/// Reports a share (and, for a block candidate, submits the block first, reporting the
/// share with the daemons' verdict). `ack` is resolved once the share is durable.
fn report_share(
    shared: &Arc<Shared>,
    miner: &Miner,
    worker: &str,
    height: u64,
    result: &Result<ValidShare, Reject>,
    forward: Option<Forward>,
    ack: Option<DurableAck>,
) {
    let (difficulty, share_difficulty, block_hash, reject) = match result {
        Ok(share) => (
            share.difficulty.get(),
            share.share_difficulty.get(),
            share.block.as_ref().map(|b| b.hash.clone()),
            None,
        ),
        Err(reject) => {
            let reached = match reject {
                Reject::LowDifficulty { share_difficulty } => *share_difficulty,
                _ => 0.0,
            };
            (miner.difficulty.get(), reached, None, Some(reject.clone()))
        }
    };
    let event = ShareEvent {
        worker: worker.to_owned(),
        ip: miner.peer.ip(),
        port: miner.local_port,
        height,
        difficulty,
        share_difficulty,
        block_hash,
        block_accepted: false,
        reject,
        time: SystemTime::now(),
    };
    match result {
        // The block's share is reported with the daemons' verdict, as NOMP does. Only one
        // block per parent is submitted at a time: until the next job reaches the miners,
        // every further candidate on that parent would be a stale duplicate, and on an
        // easy chain there can be thousands a second.
        Ok(ValidShare {
            block: Some(candidate),
            ..
        }) if shared.claim_parent(candidate) => {
            shared.submissions.spawn(submit_block(
                Arc::clone(shared),
                event,
                candidate.clone(),
                forward,
                ack,
            ));
            return;
        }
        // A stale duplicate of the block being submitted: counted as a share and, in
        // upstream mode, not sent on, so the upstream submits the block reported here.
        Ok(ValidShare { block: Some(_), .. }) => {
            let mut event = event;
            event.block_hash = None;
            shared.events.send_with(PoolEvent::Share(event), ack);
            return;
        }
        _ => shared.events.send_with(PoolEvent::Share(event), ack),
    }
    if let Some(forward) = forward {
        shared
            .submissions
            .spawn(forward_share(Arc::clone(shared), forward));
    }
}
