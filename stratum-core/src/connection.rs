//! One miner connection: framing, dispatch, difficulty, shares.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hashing::Difficulty;
use pool_events::{DifficultyEvent, DurableAck, NotRecorded, PoolEvent, Reject, ShareEvent};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::extranonce::Extranonce;
use crate::framing::{FrameError, LineStream};
use crate::ids::Extranonce1Lease;
use crate::job::{Job, JobId};
use crate::options::PortOptions;
use crate::protocol::{
    MAX_LINE_LENGTH, MinerRequest, MiningJob, Request, ServerMessage, SubmitRequest, codes,
    error_line, result_line,
};
use crate::proxy::read_proxy_header;
use crate::session::{Output, PoolView, Session, SessionOptions, WorkerCredit};
use crate::shared::{Shared, forward_share, submit_block};
use crate::upstream::Forward;
use crate::validate::{
    MinerState, Submission, ValidShare, finish_share, prepare_share, validate_share,
};

/// Whether to keep the connection after a message.
enum Flow {
    Continue,
    Close,
}

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
    pub(crate) port: PortOptions,
    pub(crate) proxy_protocol: bool,
    /// On a switching port: the switch's current route, followed while connected.
    pub(crate) switch: Option<watch::Receiver<Route>>,
}

/// A connection's own facts beside its protocol session.
struct Miner {
    peer: SocketAddr,
    local_port: u16,
    session: Session,
    /// The extranonce1 the miner holds since it subscribed; free again when it leaves.
    extranonce1: Option<Extranonce1Lease>,
}

/// How long a PROXY header or a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
                tracing::warn!(parent: &route.shared.span, remote = %peer, %error, "dropping a connection without a valid PROXY header");
                return;
            }
            Err(_) => {
                tracing::warn!(parent: &route.shared.span, remote = %peer, "dropping a connection that sent no PROXY header in time");
                return;
            }
        }
    }
    if let Some(left) = route.shared.ban_remaining(peer.ip()) {
        tracing::info!(parent: &route.shared.span, ip = %peer.ip(), ?left, "refused a banned IP");
        return;
    }
    let Some(tls) = port.tls.clone() else {
        return handle_connection(route, context, socket, peer, local_port, cancel).await;
    };
    // The TLS states live on the heap: boxed, they do not enlarge every plain connection.
    let accept = Box::pin(tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        TlsAcceptor::from(tls).accept(socket),
    ));
    let handshake = tokio::select! {
        () = cancel.cancelled() => return,
        handshake = accept => handshake,
    };
    match handshake {
        Ok(Ok(stream)) => {
            Box::pin(handle_connection(
                route, context, stream, peer, local_port, cancel,
            ))
            .await
        }
        Ok(Err(error)) => {
            tracing::info!(parent: &route.shared.span, remote = %peer, %error, "TLS handshake failed")
        }
        Err(_) => {
            tracing::info!(parent: &route.shared.span, remote = %peer, "TLS handshake timed out")
        }
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
    let mut lines = LineStream::new(socket, MAX_LINE_LENGTH);
    let mut broadcast = route.shared.broadcast.subscribe();
    let mut miner = Miner {
        peer,
        local_port,
        session: Session::new(
            SessionOptions {
                // Its own value comes at subscription.
                extranonce1: Extranonce::from_slice(&[]).expect("an empty extranonce fits"),
                port_difficulty: port.difficulty,
                vardiff: port.vardiff,
                credit: route.credit.clone(),
            },
            Instant::now(),
        ),
        extranonce1: None,
    };
    let timeout = route.shared.options.connection_timeout;
    // False once a switching port's pool stopped, until the switch names the next one.
    let mut route_live = true;
    loop {
        let shared = route.shared.clone();
        let zombie_at = tokio::time::Instant::from_std(miner.session.last_submit() + timeout);
        let flow = tokio::select! {
            () = cancel.cancelled() => Flow::Close,
            () = tokio::time::sleep_until(zombie_at) => {
                tracing::info!(parent: &route.shared.span, remote = %peer, ?timeout, "disconnecting a miner that has not submitted (zombie)");
                Flow::Close
            }
            line = lines.next_line() => match line {
                // Boxed: a handler's state is held only while it runs, not by every idle miner.
                Some(Ok(line)) => Box::pin(handle_line(&shared, &mut miner, &mut lines, &mut route.jobs, &line)).await,
                Some(Err(FrameError::TooLong)) => {
                    tracing::warn!(parent: &route.shared.span, remote = %peer, limit = MAX_LINE_LENGTH, "disconnecting a flooding miner (line too long)");
                    Flow::Close
                }
                Some(Err(FrameError::Io(error))) => {
                    tracing::debug!(parent: &route.shared.span, remote = %peer, %error, "connection error");
                    Flow::Close
                }
                None => Flow::Close,
            },
            changed = route.jobs.changed(), if miner.session.subscribed() && route_live => match changed {
                Ok(()) => {
                    let job = route.jobs.borrow_and_update().clone();
                    match job {
                        Some(job) => send_job(&shared, &mut miner, &mut lines, &mut route.jobs, &job).await,
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
                Ok(line) => send(&mut lines, &line).await,
                Err(_) => Flow::Continue,
            },
            next = next_route(&mut switch) => match next {
                Some(next) => {
                    route = next;
                    route_live = true;
                    broadcast = route.shared.broadcast.subscribe();
                    Box::pin(follow_switch(&route, &mut miner, &mut lines)).await
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
    lines: &mut LineStream<S>,
) -> Flow {
    miner.session.switch_pool(route.credit.clone());
    if !miner.session.subscribed() {
        return Flow::Continue;
    }
    let mut jobs = route.jobs.clone();
    let current = jobs.borrow_and_update().clone();
    let Some(job) = current else {
        return Flow::Continue;
    };
    let clean = MiningJob {
        clean: true,
        ..job.notify()
    };
    send(lines, &ServerMessage::Notify(clean).to_line()).await
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(lines: &mut LineStream<S>, line: &str) -> Flow {
    match lines.write_line(line).await {
        Ok(()) => Flow::Continue,
        Err(_) => Flow::Close,
    }
}

/// Sends a job's shared notify line, after the difficulty that applies from it when one
/// is pending. The common case (no new difficulty) allocates nothing per miner.
async fn send_job<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    miner: &mut Miner,
    lines: &mut LineStream<S>,
    jobs: &mut watch::Receiver<Option<Arc<Job>>>,
    job: &Job,
) -> Flow {
    let before = miner.session.on_job(job.id);
    if !before.is_empty() {
        // Boxed: the rarely taken path's state is not part of every idle miner's task.
        if let Flow::Close = Box::pin(carry_out(shared, miner, lines, jobs, before)).await {
            return Flow::Close;
        }
    }
    let flow = send(lines, job.notify_line()).await;
    if let Some(seen) = job.block_seen_at() {
        shared.counters.notified(seen.elapsed());
    }
    flow
}

async fn handle_line<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    miner: &mut Miner,
    lines: &mut LineStream<S>,
    jobs: &mut watch::Receiver<Option<Arc<Job>>>,
    line: &str,
) -> Flow {
    let line = line.trim();
    if line.is_empty() {
        return Flow::Continue;
    }
    let request_line: Request = match serde_json::from_str(line) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(parent: &shared.span, remote = %miner.peer, %error, "disconnecting a miner that sent malformed JSON");
            send(
                lines,
                &error_line(&Value::Null, codes::OTHER, "malformed JSON"),
            )
            .await;
            return Flow::Close;
        }
    };
    let request = MinerRequest::from_request(&request_line);
    if matches!(request, MinerRequest::Subscribe { .. }) && miner.extranonce1.is_none() {
        match shared.allocate_extranonce1() {
            Some(lease) => {
                miner.session.assign_extranonce1(lease.value());
                miner.extranonce1 = Some(lease);
            }
            None => {
                shared.counters.extranonce1_refused();
                tracing::warn!(parent: &shared.span, remote = %miner.peer, "refusing a miner: every extranonce1 value is held by a live connection");
                let refusal = error_line(
                    &request_line.id,
                    codes::OTHER,
                    "the pool is full: every extranonce1 value is held by a connected miner; try again later or another port",
                );
                send(lines, &refusal).await;
                return Flow::Close;
            }
        }
    }
    let view = PoolView {
        extranonce2_size: shared.extranonce2_size(),
        version_mask: shared.version_mask(),
        // Only a suggested difficulty reads it; it costs a lock on the job registry.
        network_difficulty: if matches!(request, MinerRequest::SuggestDifficulty(_)) {
            shared.network_difficulty()
        } else {
            None
        },
        stopped: shared.stopped.is_cancelled(),
        unix_time: unix_time(),
    };
    let outputs = miner
        .session
        .handle(request_line.id, request, Instant::now(), &view);
    carry_out(shared, miner, lines, jobs, outputs).await
}

/// Carries out a session's outputs in order, until one closes the connection.
async fn carry_out<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    miner: &mut Miner,
    lines: &mut LineStream<S>,
    jobs: &mut watch::Receiver<Option<Arc<Job>>>,
    outputs: Vec<Output>,
) -> Flow {
    for output in outputs {
        let flow = match output {
            Output::Send(line) => send(lines, &line).await,
            Output::SendCurrentJob => {
                // Marked seen, so the job watch does not send this job a second time.
                let current = jobs.borrow_and_update().clone();
                match current {
                    Some(job) => send(lines, job.notify_line()).await,
                    None => Flow::Continue,
                }
            }
            Output::Authorize {
                id,
                login,
                credited,
                password,
            } => {
                let ok = shared
                    .authorizer
                    .authorize(&credited, &password, miner.peer.ip())
                    .instrument(shared.span.clone())
                    .await;
                if !ok {
                    tracing::info!(parent: &shared.span, remote = %miner.peer, worker = login, "authorisation refused");
                }
                let reply = miner.session.authorized(&id, login, ok);
                send(lines, &reply).await
            }
            Output::CheckShare {
                id,
                submit,
                credited,
                state,
            } => check_share(shared, miner, lines, &id, submit, credited, state).await,
            Output::Difficulty { worker, difficulty } => {
                shared.events.send(PoolEvent::Difficulty(DifficultyEvent {
                    worker,
                    difficulty,
                }));
                Flow::Continue
            }
            Output::UnknownMethod(method) => {
                tracing::info!(parent: &shared.span, remote = %miner.peer, method, "unknown stratum method");
                Flow::Continue
            }
        };
        if let Flow::Close = flow {
            return Flow::Close;
        }
    }
    Flow::Continue
}

/// Unix time now, in seconds.
fn unix_time() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// Checks a share the session passed on, reports it, answers it, and counts the verdict.
async fn check_share<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    miner: &mut Miner,
    lines: &mut LineStream<S>,
    id: &Value,
    submit: SubmitRequest,
    credited: String,
    state: MinerState,
) -> Flow {
    let arrived = Instant::now();
    let SubmitRequest {
        worker,
        job_id,
        extranonce2,
        ntime,
        nonce,
        version_bits,
    } = &submit;
    let job = JobId::parse(job_id).and_then(|job_id| shared.job(job_id));
    let height = job.as_ref().map_or(0, |job| job.height());
    let submitted_job = job.clone();
    let submission = Submission {
        job_id,
        extranonce2,
        ntime,
        nonce,
        version_bits: version_bits.as_deref(),
    };
    let result = match (job.as_deref(), &shared.hashes) {
        // Memory-hard hashes go to the blocking pool, several shares per pass, so the
        // reactor threads keep serving other miners; the checks around them run here.
        (Some(job), Some(hashes)) => {
            let first_seen = |key| job.record_share(key);
            match prepare_share(job, &submission, &state, &shared.hasher, first_seen) {
                Ok(prepared) => match hashes.hash(prepared.header).await {
                    Ok(hash) => finish_share(job, &state, &shared.hasher, &prepared, &hash),
                    Err(stopped) => {
                        tracing::error!(parent: &shared.span, remote = %miner.peer, error = %stopped, "a share could not be checked");
                        let reply =
                            error_line(id, codes::OTHER, &format!("share not checked: {stopped}"));
                        return send(lines, &reply).await;
                    }
                },
                Err(reject) => Err(reject),
            }
        }
        (job, _) => validate_share(job, &submission, &state, &shared.hasher, |key| {
            job.is_some_and(|job| job.record_share(key))
        }),
    };
    shared.counters.share_checked(arrived.elapsed());

    let forward = match (&result, submitted_job) {
        (Ok(share), Some(job)) if share.forward => {
            Extranonce::from_hex(extranonce2, job.extranonce2_size).map(|extranonce2| Forward {
                job,
                extranonce1: state.extranonce1,
                extranonce2,
                ntime: ntime.to_owned(),
                nonce: nonce.to_owned(),
                version_bits: version_bits.clone(),
            })
        }
        _ => None,
    };
    let refused = |reason: &NotRecorded| {
        error_line(id, codes::OTHER, &format!("share not recorded: {reason}"))
    };
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
                Err(_) => refused(&NotRecorded::WriterStopped),
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
    let flow = send(lines, &reply).await;

    // While the pool has withdrawn its work (upstream lost, a chain fault), shares for the
    // withdrawn jobs are the pool's doing, not the miner's: they count towards no ban.
    let withdrawn = matches!(result, Err(Reject::JobNotFound)) && shared.jobs.latest().is_none();
    let banned = !withdrawn
        && miner.session.share_checked(
            result.is_ok(),
            Instant::now(),
            || shared.network_difficulty(),
            shared.options.banning.as_ref(),
        );
    if banned {
        tracing::warn!(parent: &shared.span, remote = %miner.peer, worker, "banning an IP for too many invalid shares");
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
            share.difficulty,
            Some(share.share_difficulty),
            share.block.as_ref().map(|b| b.hash),
            None,
        ),
        Err(reject) => {
            let reached = match reject {
                Reject::LowDifficulty { share_difficulty } => {
                    Difficulty::new(*share_difficulty).ok()
                }
                _ => None,
            };
            (
                miner.session.difficulty(),
                reached,
                None,
                Some(reject.clone()),
            )
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
    if matches!(result, Ok(ValidShare { block: Some(_), .. })) {
        shared.counters.block_found();
    }
    match result {
        // The block's share is reported with the daemons' verdict, as NOMP does. Only one
        // block per parent is submitted at a time: until the next job reaches the miners,
        // every further candidate on that parent would be a stale duplicate, and on an
        // easy chain there can be thousands a second.
        Ok(ValidShare {
            block: Some(candidate),
            ..
        }) if shared.claim_parent(candidate) => {
            shared.submissions.spawn(
                submit_block(Arc::clone(shared), event, candidate.clone(), forward, ack)
                    .instrument(shared.span.clone()),
            );
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
            .spawn(forward_share(Arc::clone(shared), forward).instrument(shared.span.clone()));
    }
}
