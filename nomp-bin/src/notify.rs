//! Operator notifications: the events that cost money, told to a webhook, ntfy, Telegram or
//! Discord, at most once per kind and pool per interval, never with a secret in the log.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use payments::PaymentReport;
use portal::PortalPool;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{NotificationsConfig, NotifyTarget};

/// Every kind of notice, as `notifications.events` names them.
pub(crate) const KINDS: [&str; 13] = [
    "block_found",
    "block_confirmed",
    "block_orphaned",
    "payment_sent",
    "payment_failed",
    "daemon_down",
    "daemon_back",
    "share_writer_failing",
    "share_writer_spooling",
    "share_writer_recovered",
    "chain_fault",
    "chain_clear",
    "worker_offline",
];

/// Notices waiting for delivery; beyond this they are refused with an ERROR.
const QUEUE: usize = 1024;
/// Each POST's timeout.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// A failed POST is tried again once after this.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// One notice, as the webhook target receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Notice {
    /// One of [`KINDS`].
    pub(crate) event: &'static str,
    /// The pool it is about.
    pub(crate) pool: String,
    /// What happened, in words.
    pub(crate) message: String,
    /// Unix seconds.
    pub(crate) time: u64,
    /// Notices of this kind held back by the rate limit since the last one sent.
    pub(crate) suppressed: u64,
    /// The facts, for scripts.
    pub(crate) details: Value,
}

/// Lets one notice per (pool, kind) through per interval, counting the rest.
#[derive(Debug)]
pub(crate) struct RateLimit {
    interval: Duration,
    last: HashMap<(String, &'static str), (Instant, u64)>,
}

impl RateLimit {
    pub(crate) fn new(interval: Duration) -> RateLimit {
        RateLimit {
            interval,
            last: HashMap::new(),
        }
    }

    /// `Some(held back since the last one)` if a notice of `kind` for `pool` may go now.
    pub(crate) fn admit(&mut self, pool: &str, kind: &'static str, now: Instant) -> Option<u64> {
        match self.last.get_mut(&(pool.to_owned(), kind)) {
            Some((sent, held)) if now.duration_since(*sent) < self.interval => {
                *held += 1;
                None
            }
            Some((sent, held)) => {
                *sent = now;
                Some(std::mem::take(held))
            }
            None => {
                self.last.insert((pool.to_owned(), kind), (now, 0));
                Some(0)
            }
        }
    }
}

/// Sends notices to the configured targets. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    events: BTreeSet<&'static str>,
    limit: Mutex<RateLimit>,
    queue: mpsc::Sender<Notice>,
    worker_offline: Option<Duration>,
}

impl Notifier {
    /// A notifier for `config`, delivering until `cancel`; `None` when notifications are off.
    pub(crate) fn start(
        config: &NotificationsConfig,
        cancel: CancellationToken,
    ) -> Option<Notifier> {
        if !config.enabled || config.targets.is_empty() {
            return None;
        }
        let wanted = config.events.clone();
        let events = KINDS
            .iter()
            .copied()
            .filter(|kind| match &wanted {
                Some(list) => list.iter().any(|w| w == kind),
                // Opt-in: told only when a window is set.
                None => *kind != "worker_offline" || config.worker_offline_minutes.is_some(),
            })
            .collect();
        let (queue, notices) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(config.targets.clone(), notices, cancel));
        Some(Notifier {
            inner: Arc::new(Inner {
                events,
                limit: Mutex::new(RateLimit::new(Duration::from_secs(config.min_interval))),
                queue,
                worker_offline: config
                    .worker_offline_minutes
                    .map(|minutes| Duration::from_secs(minutes.max(1) * 60)),
            }),
        })
    }

    /// Tells of `event` for `pool`, unless its kind is not wanted or was told too recently.
    pub(crate) fn tell(&self, event: &'static str, pool: &str, message: String, details: Value) {
        if !self.inner.events.contains(event) {
            return;
        }
        let admitted = self
            .inner
            .limit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(pool, event, Instant::now());
        let Some(suppressed) = admitted else {
            return;
        };
        let notice = Notice {
            event,
            pool: pool.to_owned(),
            message,
            time: unix_now(),
            suppressed,
            details,
        };
        if let Err(error) = self.inner.queue.try_send(notice) {
            tracing::error!(pool, event, %error, "a notification was not sent: the delivery queue is full or closed");
        }
    }

    /// Tells what a payment run reported.
    pub(crate) fn payment(&self, pool: &str, report: &PaymentReport) {
        let (event, message, details) = match report {
            PaymentReport::BlockConfirmed { height, hash } => (
                "block_confirmed",
                format!("block {height} confirmed; its round is paid into balances"),
                json!({ "height": height, "hash": hash }),
            ),
            PaymentReport::BlockOrphaned { height, hash } => (
                "block_orphaned",
                format!("block {height} was orphaned; its shares go back into the round"),
                json!({ "height": height, "hash": hash }),
            ),
            PaymentReport::Sent {
                id,
                txid,
                addresses,
                total,
            } => (
                "payment_sent",
                format!("paid {total} to {addresses} addresses in {txid}"),
                json!({ "run": id, "txid": txid, "addresses": addresses, "total": total.to_string() }),
            ),
            PaymentReport::Failed { reason } => (
                "payment_failed",
                format!("a payment run failed: {reason}"),
                json!({ "reason": reason }),
            ),
        };
        self.tell(event, pool, message, details);
    }

    /// Watches one pool's daemons, share writer, chain guard, blocks and (opt-in) workers
    /// until `cancel`, telling each change once.
    pub(crate) fn watch(&self, pool: PortalPool, cancel: CancellationToken) {
        let notifier = self.clone();
        let watching = async move {
            let name = pool.summary.name.clone();
            let mut blocks = pool.handle.blocks();
            let mut seen = Seen::default();
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    found = blocks.recv() => {
                        notifier.block(&name, found);
                        continue;
                    }
                    _ = ticks.tick() => {}
                }
                seen.daemons(&notifier, &name, &pool);
                seen.writer(&notifier, &name, &pool);
                seen.chain(&notifier, &name, &pool);
                if let Some(window) = notifier.inner.worker_offline {
                    seen.workers(&notifier, &name, &pool, window).await;
                }
            }
        };
        tokio::spawn(watching.in_current_span());
    }

    fn block(
        &self,
        pool: &str,
        found: Result<stratum_core::BlockEvent, tokio::sync::broadcast::error::RecvError>,
    ) {
        match found {
            Ok(block) if block.accepted => self.tell(
                "block_found",
                pool,
                format!("block {} found by {}", block.height, block.worker),
                json!({ "height": block.height, "hash": block.hash.to_string(), "worker": block.worker }),
            ),
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => self.tell(
                "block_found",
                pool,
                format!("{missed} blocks found faster than they could be told"),
                json!({ "missed": missed }),
            ),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {}
        }
    }
}

/// What a pool's watcher saw last, to tell changes only.
#[derive(Default)]
struct Seen {
    down: BTreeSet<String>,
    failing: bool,
    spooling: bool,
    faults: BTreeSet<&'static str>,
    workers: Option<BTreeSet<String>>,
    workers_read: Option<Instant>,
}

impl Seen {
    fn daemons(&mut self, notifier: &Notifier, name: &str, pool: &PortalPool) {
        let Some(daemons) = pool.handle.daemons() else {
            return;
        };
        for daemon in daemons.health() {
            let was_down = self.down.contains(&daemon.daemon);
            if !daemon.up && !was_down {
                notifier.tell(
                    "daemon_down",
                    name,
                    format!("daemon {} does not answer", daemon.daemon),
                    json!({ "daemon": daemon.daemon }),
                );
                self.down.insert(daemon.daemon);
            } else if daemon.up && was_down {
                notifier.tell(
                    "daemon_back",
                    name,
                    format!("daemon {} answers again", daemon.daemon),
                    json!({ "daemon": daemon.daemon }),
                );
                self.down.remove(&daemon.daemon);
            }
        }
    }

    fn writer(&mut self, notifier: &Notifier, name: &str, pool: &PortalPool) {
        let Some(writer) = &pool.writer else {
            return;
        };
        let status = writer.borrow().clone();
        let failing = status.at_risk();
        let reason = status.failure.clone().unwrap_or_default();
        if failing && !self.failing {
            notifier.tell(
                "share_writer_failing",
                name,
                format!(
                    "shares are held in memory only ({} now): {reason}",
                    status.held_events
                ),
                json!({ "held": status.held_events, "reason": reason }),
            );
        } else if status.spooling && !self.spooling && !failing {
            notifier.tell(
                "share_writer_spooling",
                name,
                format!("the share store fails; shares wait in the share log: {reason}"),
                json!({ "reason": reason }),
            );
        } else if (self.failing || self.spooling) && !failing && !status.spooling {
            notifier.tell(
                "share_writer_recovered",
                name,
                "the share writer stores every share again".into(),
                json!({}),
            );
        }
        self.failing = failing;
        self.spooling = status.spooling;
    }

    fn chain(&mut self, notifier: &Notifier, name: &str, pool: &PortalPool) {
        let Some(verdict) = pool.handle.chain_verdict() else {
            return;
        };
        let now: BTreeSet<&'static str> = verdict.faults.iter().map(|f| f.kind()).collect();
        for fault in verdict
            .faults
            .iter()
            .filter(|f| !self.faults.contains(f.kind()))
        {
            notifier.tell(
                "chain_fault",
                name,
                format!("chain guard: {fault}"),
                serde_json::to_value(fault).unwrap_or(Value::Null),
            );
        }
        if now.is_empty() && !self.faults.is_empty() {
            notifier.tell(
                "chain_clear",
                name,
                "chain guard: the daemons agree on a live chain again".into(),
                json!({}),
            );
        }
        self.faults = now;
    }

    async fn workers(
        &mut self,
        notifier: &Notifier,
        name: &str,
        pool: &PortalPool,
        window: Duration,
    ) {
        let Some(store) = &pool.store else {
            return;
        };
        // Read once per minute at most: a query over the window's samples.
        if self
            .workers_read
            .is_some_and(|at| at.elapsed() < Duration::from_secs(60).min(window))
        {
            return;
        }
        self.workers_read = Some(Instant::now());
        let since = unix_now().saturating_sub(window.as_secs()) * 1000;
        let samples = match store.hashrate_since(since).await {
            Ok(samples) => samples,
            Err(error) => {
                tracing::warn!(pool = name, %error, "worker offline check: the store does not answer");
                return;
            }
        };
        let active: BTreeSet<String> = samples
            .into_iter()
            .filter(|s| s.difficulty > 0.0)
            .map(|s| s.worker)
            .collect();
        if let Some(before) = &self.workers {
            for worker in before.difference(&active) {
                notifier.tell(
                    "worker_offline",
                    name,
                    format!(
                        "worker {worker} sent no share for {} minutes",
                        window.as_secs() / 60
                    ),
                    json!({ "worker": worker }),
                );
            }
        }
        self.workers = Some(active);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Posts each notice to every target, once more after a failure; a notice that still
/// fails is an ERROR naming the target by kind and host, never its URL or token.
async fn deliver(
    targets: Vec<NotifyTarget>,
    mut notices: mpsc::Receiver<Notice>,
    cancel: CancellationToken,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(POST_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    loop {
        let notice = tokio::select! {
            () = cancel.cancelled() => return,
            notice = notices.recv() => match notice { Some(n) => n, None => return },
        };
        for target in &targets {
            let post = Post::of(target, &notice);
            let mut outcome = send(&agent, &post).await;
            if outcome.is_err() {
                tokio::time::sleep(RETRY_AFTER).await;
                outcome = send(&agent, &post).await;
            }
            if let Err(error) = outcome {
                tracing::error!(
                    target = %describe(target),
                    event = notice.event,
                    pool = notice.pool,
                    error = redact(&error, target),
                    "a notification could not be delivered"
                );
            }
        }
    }
}

/// The notice's text for people.
fn text(notice: &Notice) -> String {
    let mut text = format!("[{}] {}", notice.pool, notice.message);
    if notice.suppressed > 0 {
        text.push_str(&format!(
            " (and {} more {} since the last notice)",
            notice.suppressed, notice.event
        ));
    }
    text
}

/// One HTTP POST, in the shape its target wants.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Post {
    url: String,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Post {
    /// The POST that tells `target` of `notice`.
    pub(crate) fn of(target: &NotifyTarget, notice: &Notice) -> Post {
        // Serialising a notice or a JSON value cannot fail: every map key is a string.
        let json_post = |url: String, body: Value| Post {
            url,
            headers: Vec::new(),
            content_type: "application/json",
            body: serde_json::to_vec(&body).unwrap_or_default(),
        };
        match target {
            NotifyTarget::Webhook { url } => json_post(
                url.clone(),
                serde_json::to_value(notice).unwrap_or_default(),
            ),
            NotifyTarget::Ntfy { url, token } => {
                let urgent = matches!(
                    notice.event,
                    "chain_fault" | "share_writer_failing" | "payment_failed" | "daemon_down"
                );
                let mut headers = vec![
                    ("Title", format!("nomp {}: {}", notice.pool, notice.event)),
                    ("Priority", if urgent { "high" } else { "default" }.into()),
                    ("Tags", notice.event.into()),
                ];
                if let Some(token) = token {
                    headers.push(("Authorization", format!("Bearer {token}")));
                }
                Post {
                    url: url.clone(),
                    headers,
                    content_type: "text/plain; charset=utf-8",
                    body: text(notice).into_bytes(),
                }
            }
            NotifyTarget::Telegram {
                bot_token,
                chat_id,
                api_url,
            } => json_post(
                format!(
                    "{}/bot{bot_token}/sendMessage",
                    api_url.trim_end_matches('/')
                ),
                json!({ "chat_id": chat_id, "text": text(notice) }),
            ),
            NotifyTarget::Discord { url } => {
                json_post(url.clone(), json!({ "content": text(notice) }))
            }
        }
    }
}

/// Sends `post` off the reactor (the client blocks); `Err` says why it did not land.
async fn send(agent: &ureq::Agent, post: &Post) -> Result<(), String> {
    let agent = agent.clone();
    let post = post.clone();
    let sent = tokio::task::spawn_blocking(move || {
        let mut request = agent.post(&post.url).content_type(post.content_type);
        for (name, value) in &post.headers {
            request = request.header(*name, value);
        }
        request
            .send(&post.body[..])
            .map(|response| response.status())
    })
    .await
    .map_err(|e| e.to_string())?;
    match sent {
        Ok(status) if status.is_success() => Ok(()),
        Ok(status) => Err(format!("HTTP {status}")),
        Err(error) => Err(error.to_string()),
    }
}

/// A target for the log: its kind and host only.
fn describe(target: &NotifyTarget) -> String {
    let (kind, url) = target_url(target);
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| "an unparsable URL".into());
    format!("{kind} at {host}")
}

fn target_url(target: &NotifyTarget) -> (&'static str, &str) {
    match target {
        NotifyTarget::Webhook { url } => ("webhook", url),
        NotifyTarget::Ntfy { url, .. } => ("ntfy", url),
        NotifyTarget::Telegram { api_url, .. } => ("telegram", api_url),
        NotifyTarget::Discord { url } => ("discord", url),
    }
}

/// `error` without the target's URL or token, should the client have quoted them.
fn redact(error: &str, target: &NotifyTarget) -> String {
    let mut secrets = vec![target_url(target).1.to_owned()];
    match target {
        NotifyTarget::Telegram { bot_token, .. } => secrets.push(bot_token.clone()),
        NotifyTarget::Ntfy {
            token: Some(token), ..
        } => secrets.push(token.clone()),
        _ => {}
    }
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(error.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "…")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notice_per_kind_and_pool_per_interval_and_the_rest_are_counted() {
        let mut limit = RateLimit::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(limit.admit("a", "daemon_down", start), Some(0));
        // Another pool, another kind: each its own allowance.
        assert_eq!(limit.admit("b", "daemon_down", start), Some(0));
        assert_eq!(limit.admit("a", "daemon_back", start), Some(0));
        for s in 1..=3 {
            let at = start + Duration::from_secs(s);
            assert_eq!(limit.admit("a", "daemon_down", at), None);
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(limit.admit("a", "daemon_down", later), Some(3));
        assert_eq!(limit.admit("a", "daemon_down", later), None);
    }

    #[test]
    fn the_log_names_a_target_by_kind_and_host_never_its_secret() {
        let telegram = NotifyTarget::Telegram {
            bot_token: "123:SECRET".into(),
            chat_id: "42".into(),
            api_url: "https://api.telegram.org".into(),
        };
        let discord = NotifyTarget::Discord {
            url: "https://discord.com/api/webhooks/1/SECRET".into(),
        };
        for target in [telegram, discord] {
            let said = describe(&target);
            assert!(!said.contains("SECRET"), "{said}");
            assert!(said.ends_with(".com") || said.ends_with(".org"), "{said}");
        }
    }

    #[test]
    fn each_target_gets_its_own_shape() {
        let notice = Notice {
            event: "chain_fault",
            pool: "btc".into(),
            message: "chain guard: stale".into(),
            time: 1,
            suppressed: 2,
            details: json!({}),
        };
        let ntfy = Post::of(
            &NotifyTarget::Ntfy {
                url: "https://ntfy.example/pool".into(),
                token: Some("tk".into()),
            },
            &notice,
        );
        assert!(ntfy.headers.contains(&("Priority", "high".into())));
        assert!(
            ntfy.headers
                .contains(&("Authorization", "Bearer tk".into()))
        );
        assert_eq!(
            String::from_utf8(ntfy.body).unwrap(),
            "[btc] chain guard: stale (and 2 more chain_fault since the last notice)"
        );
        let telegram = Post::of(
            &NotifyTarget::Telegram {
                bot_token: "1:abc".into(),
                chat_id: "-100".into(),
                api_url: "http://127.0.0.1:9/".into(),
            },
            &notice,
        );
        assert_eq!(telegram.url, "http://127.0.0.1:9/bot1:abc/sendMessage");
        let sent: Value = serde_json::from_slice(&telegram.body).unwrap();
        assert_eq!(sent["chat_id"], "-100");
        let discord = Post::of(
            &NotifyTarget::Discord {
                url: "http://127.0.0.1:9/hook".into(),
            },
            &notice,
        );
        let sent: Value = serde_json::from_slice(&discord.body).unwrap();
        assert!(
            sent["content"]
                .as_str()
                .unwrap()
                .starts_with("[btc] chain guard")
        );
        let webhook = Post::of(
            &NotifyTarget::Webhook {
                url: "http://127.0.0.1:9/".into(),
            },
            &notice,
        );
        let sent: Value = serde_json::from_slice(&webhook.body).unwrap();
        assert_eq!(sent["event"], "chain_fault");
        assert_eq!(sent["suppressed"], 2);
    }

    #[test]
    fn errors_are_logged_without_the_secrets_they_quote() {
        let target = NotifyTarget::Telegram {
            bot_token: "123:SECRET".into(),
            chat_id: "42".into(),
            api_url: "https://api.telegram.org".into(),
        };
        let said = redact(
            "connect https://api.telegram.org/bot123:SECRET/sendMessage",
            &target,
        );
        assert!(!said.contains("SECRET"), "{said}");
    }
}
