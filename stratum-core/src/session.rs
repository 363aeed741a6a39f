//! A miner's session as a plain state machine: what it subscribed to, the workers it
//! authorised, its difficulty (and the job a new one applies from), vardiff, the ban tally
//! and the version mask. No IO and no clock of its own: the connection feeds it requests,
//! jobs and verdicts with the time, and carries out what it answers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use hashing::Difficulty;
use serde_json::{Value, json};

use crate::ban::{BanOptions, ShareTally};
use crate::extranonce::Extranonce;
use crate::job::JobId;
use crate::protocol::{
    Configured, MinerRequest, ServerMessage, SubmitRequest, Subscription, codes, error_line,
    result_line,
};
use crate::validate::MinerState;
use crate::vardiff::{Vardiff, VardiffOptions};

/// Maps a miner's login to the worker its shares are credited to; `None` refuses it.
pub type WorkerCredit = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a session knows of its port and pool when it starts.
#[derive(Clone)]
pub struct SessionOptions {
    /// The connection's extranonce1.
    pub extranonce1: Extranonce,
    /// The port's starting difficulty (and floor without vardiff).
    pub port_difficulty: Difficulty,
    /// The port's vardiff, if any.
    pub vardiff: Option<VardiffOptions>,
    /// On a switching port: how logins become the current pool's workers.
    pub credit: Option<WorkerCredit>,
}

/// What the pool is like at the moment of a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolView {
    /// extranonce2 bytes miners roll.
    pub extranonce2_size: usize,
    /// Version bits the pool lets miners roll (0: none).
    pub version_mask: u32,
    /// The network difficulty, once known: no suggested difficulty goes above it (only
    /// read for `mining.suggest_difficulty`).
    pub network_difficulty: Option<Difficulty>,
    /// The pool is stopping: shares are not counted.
    pub stopped: bool,
    /// Unix time now, for shares' ntime checks.
    pub unix_time: u32,
}

/// What the connection is to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this line.
    Send(String),
    /// Send the pool's current job (after a subscription).
    SendCurrentJob,
    /// Ask the pool's authorizer about `credited` (the worker `login` is credited to), then
    /// call [`Session::authorized`] with the answer.
    Authorize {
        /// The request id to answer.
        id: Value,
        /// The login as the miner sent it.
        login: String,
        /// The worker it is credited to.
        credited: String,
        /// The password.
        password: String,
    },
    /// Check the share against its job, report it, answer `id`, then call
    /// [`Session::share_checked`] with whether it was valid.
    CheckShare {
        /// The request id to answer.
        id: Value,
        /// The submission.
        submit: SubmitRequest,
        /// The worker it is credited to.
        credited: String,
        /// The state it is checked against.
        state: MinerState,
    },
    /// A worker's difficulty changed (for the pool's events).
    Difficulty {
        /// The worker.
        worker: String,
        /// Its new difficulty.
        difficulty: Difficulty,
    },
    /// A method the session does not know, the first time (for a log line).
    UnknownMethod(String),
}

/// One miner connection's protocol state.
pub struct Session {
    options: SessionOptions,
    started: Instant,
    subscribed: bool,
    authorized: HashSet<String>,
    difficulty: Difficulty,
    pending_difficulty: Option<Difficulty>,
    previous_difficulty: Option<(Difficulty, JobId)>,
    vardiff: Option<Vardiff>,
    tally: ShareTally,
    version_mask: u32,
    last_submit: Instant,
    unknown_method_seen: bool,
}

impl Session {
    /// A fresh session, connected at `now`.
    pub fn new(options: SessionOptions, now: Instant) -> Session {
        Session {
            difficulty: options.port_difficulty,
            vardiff: options.vardiff.map(Vardiff::new),
            options,
            started: now,
            subscribed: false,
            authorized: HashSet::new(),
            pending_difficulty: None,
            previous_difficulty: None,
            tally: ShareTally::default(),
            version_mask: 0,
            last_submit: now,
            unknown_method_seen: false,
        }
    }

    /// Whether the miner subscribed (and so gets jobs).
    pub fn subscribed(&self) -> bool {
        self.subscribed
    }

    /// The connection's extranonce1.
    pub fn extranonce1(&self) -> Extranonce {
        self.options.extranonce1
    }

    /// Gives the connection its extranonce1, for a session started before the pool chose
    /// one (a pool hands values out at subscription, so a connection that never subscribes
    /// holds none).
    pub fn assign_extranonce1(&mut self, extranonce1: Extranonce) {
        self.options.extranonce1 = extranonce1;
    }

    /// The difficulty shares of new jobs must meet.
    pub fn difficulty(&self) -> Difficulty {
        self.difficulty
    }

    /// When the miner last submitted a share (or connected): zombies are dropped after
    /// the pool's connection timeout.
    pub fn last_submit(&self) -> Instant {
        self.last_submit
    }

    /// The worker credited for `login`: itself, or its switching-port mapping.
    pub fn credited(&self, login: &str) -> Option<String> {
        match &self.options.credit {
            Some(credit) => credit(login),
            None => Some(login.to_owned()),
        }
    }

    /// Handles one request with request id `id`.
    pub fn handle(
        &mut self,
        id: Value,
        request: MinerRequest,
        now: Instant,
        pool: &PoolView,
    ) -> Vec<Output> {
        match request {
            MinerRequest::Subscribe { .. } => {
                self.subscribed = true;
                let result = Subscription {
                    extranonce1: self.options.extranonce1.as_bytes().to_vec(),
                    extranonce2_size: pool.extranonce2_size,
                }
                .to_result();
                vec![
                    Output::Send(result_line(&id, result)),
                    Output::Send(ServerMessage::SetDifficulty(self.difficulty.get()).to_line()),
                    Output::SendCurrentJob,
                ]
            }
            MinerRequest::Authorize { worker, password } => {
                let credited = if worker.is_empty() {
                    None
                } else {
                    self.credited(&worker)
                };
                match credited {
                    Some(credited) => vec![Output::Authorize {
                        id,
                        login: worker,
                        credited,
                        password,
                    }],
                    None => vec![Output::Send(result_line(&id, json!(false)))],
                }
            }
            MinerRequest::Submit(submit) => self.submit(id, Some(submit), now, pool),
            MinerRequest::MalformedSubmit => self.submit(id, None, now, pool),
            MinerRequest::GetTransactions => vec![Output::Send(error_line(
                &id,
                codes::OTHER,
                "mining.get_transactions is not supported",
            ))],
            MinerRequest::ExtranonceSubscribe => vec![Output::Send(result_line(&id, json!(true)))],
            MinerRequest::SuggestDifficulty(suggested) => {
                if let Some(suggested) = suggested {
                    self.pending_difficulty =
                        Some(self.clamp_to_port(suggested, pool.network_difficulty));
                }
                vec![Output::Send(result_line(&id, json!(suggested.is_some())))]
            }
            MinerRequest::Configure {
                extensions,
                version_rolling_mask,
                ..
            } => {
                let result = self.configure(&extensions, version_rolling_mask, pool.version_mask);
                vec![Output::Send(result_line(&id, result))]
            }
            MinerRequest::Unknown { method } => {
                let mut out = Vec::with_capacity(2);
                if !self.unknown_method_seen {
                    self.unknown_method_seen = true;
                    out.push(Output::UnknownMethod(method));
                }
                out.push(Output::Send(error_line(
                    &id,
                    codes::OTHER,
                    "unknown method",
                )));
                out
            }
        }
    }

    /// The authorizer's answer for an [`Output::Authorize`]: the reply to send.
    pub fn authorized(&mut self, id: &Value, login: String, ok: bool) -> String {
        if ok {
            self.authorized.insert(login);
        }
        result_line(id, json!(ok))
    }

    /// After an [`Output::CheckShare`]: counts the verdict for vardiff (retargets stay
    /// below `network_difficulty`, asked only then) and for bans (`banning`, the pool's)
    /// at `now`; true when the miner is to be banned and disconnected.
    pub fn share_checked(
        &mut self,
        valid: bool,
        now: Instant,
        network_difficulty: impl FnOnce() -> Option<Difficulty>,
        banning: Option<&BanOptions>,
    ) -> bool {
        let elapsed = now.saturating_duration_since(self.started);
        if let Some(vardiff) = &mut self.vardiff {
            let current = self.pending_difficulty.unwrap_or(self.difficulty);
            if let Some(next) = vardiff.on_share(elapsed, current, network_difficulty()) {
                self.pending_difficulty = Some(next);
            }
        }
        banning.is_some_and(|banning| self.tally.record(valid, banning))
    }

    /// A job is about to be sent: a pending difficulty applies from it on (the old one
    /// still for shares of earlier jobs). Returns what goes out before the job's own
    /// `mining.notify`, which the caller sends from the job's shared line; nothing, and no
    /// allocation, when the difficulty stays.
    pub fn on_job(&mut self, job: JobId) -> Vec<Output> {
        let mut out = Vec::new();
        if let Some(next) = self.pending_difficulty.take() {
            self.previous_difficulty = Some((self.difficulty, job));
            self.difficulty = next;
            for login in &self.authorized {
                if let Some(worker) = self.credited(login) {
                    out.push(Output::Difficulty {
                        worker,
                        difficulty: next,
                    });
                }
            }
            out.push(Output::Send(
                ServerMessage::SetDifficulty(next.get()).to_line(),
            ));
        }
        out
    }

    /// The miner moves to another pool of its switching port: logins map anew (those the
    /// new pool refuses are dropped) and shares of the old pool's jobs no longer count.
    pub fn switch_pool(&mut self, credit: Option<WorkerCredit>) {
        self.options.credit = credit;
        self.previous_difficulty = None;
        let credit = self.options.credit.clone();
        self.authorized
            .retain(|login| credit.as_ref().is_none_or(|c| c(login).is_some()));
    }

    fn submit(
        &mut self,
        id: Value,
        submit: Option<SubmitRequest>,
        now: Instant,
        pool: &PoolView,
    ) -> Vec<Output> {
        let error = |code, message: &str| vec![Output::Send(error_line(&id, code, message))];
        if !self.subscribed {
            return error(codes::NOT_SUBSCRIBED, "not subscribed");
        }
        if pool.stopped {
            return error(
                codes::OTHER,
                "the pool is restarting; this share is not counted",
            );
        }
        let Some(submit) = submit else {
            return error(
                codes::OTHER,
                "mining.submit needs worker, job id, extranonce2, ntime and nonce",
            );
        };
        if !self.authorized.contains(&submit.worker) {
            return error(codes::UNAUTHORIZED, "unauthorized worker");
        }
        self.last_submit = now;
        // Authorised logins always map (a switch drops those that do not).
        let credited = self
            .credited(&submit.worker)
            .unwrap_or_else(|| submit.worker.clone());
        let state = MinerState {
            extranonce1: self.options.extranonce1,
            difficulty: self.difficulty,
            previous_difficulty: self.previous_difficulty,
            version_mask: self.version_mask,
            now: pool.unix_time,
        };
        vec![Output::CheckShare {
            id,
            submit,
            credited,
            state,
        }]
    }

    /// A suggested difficulty within what the port allows: never below its floor
    /// (`minDiff` with vardiff, the port's difficulty on a fixed port), so no miner can make
    /// every random nonce a share; never above `maxDiff` with vardiff, nor above the
    /// network difficulty, so no single block share can be credited more than a block is
    /// worth.
    fn clamp_to_port(&self, suggested: Difficulty, network: Option<Difficulty>) -> Difficulty {
        let port = self.options.port_difficulty;
        let (floor, ceiling) = match &self.options.vardiff {
            Some(v) => (v.min_diff, v.max_diff),
            None => (port.get(), f64::INFINITY),
        };
        let ceiling = network.map_or(ceiling, |n| ceiling.min(n.get())).max(floor);
        Difficulty::new(suggested.get().clamp(floor, ceiling)).unwrap_or(port)
    }

    /// BIP310 `mining.configure`: version rolling within the pool's mask; other
    /// extensions off.
    fn configure(&mut self, extensions: &[String], requested: u32, pool_mask: u32) -> Value {
        let mut configured = Configured::default();
        for extension in extensions {
            if extension == "version-rolling" && pool_mask != 0 {
                self.version_mask = requested & pool_mask;
                configured.version_rolling = Some(self.version_mask);
            } else {
                configured.refused.push(extension.clone());
            }
        }
        configured.to_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(
            SessionOptions {
                extranonce1: Extranonce::from_slice(&[0, 0, 0, 7]).unwrap(),
                port_difficulty: Difficulty::new(8.0).unwrap(),
                vardiff: None,
                credit: None,
            },
            Instant::now(),
        )
    }

    const POOL: PoolView = PoolView {
        extranonce2_size: 4,
        version_mask: 0x1fff_e000,
        network_difficulty: None,
        stopped: false,
        unix_time: 1_700_000_000,
    };

    fn submit(worker: &str) -> MinerRequest {
        MinerRequest::Submit(SubmitRequest {
            worker: worker.into(),
            job_id: "1".into(),
            extranonce2: "00000000".into(),
            ntime: "6553f100".into(),
            nonce: "00000000".into(),
            version_bits: None,
        })
    }

    fn error_code(outputs: &[Output]) -> i64 {
        let [Output::Send(line)] = outputs else {
            panic!("one line: {outputs:?}")
        };
        let value: Value = serde_json::from_str(line).unwrap();
        value["error"][0].as_i64().unwrap()
    }

    #[test]
    fn shares_need_a_subscription_then_an_authorised_worker() {
        let mut s = session();
        let now = Instant::now();
        assert_eq!(
            error_code(&s.handle(json!(1), submit("w"), now, &POOL)),
            codes::NOT_SUBSCRIBED
        );
        let subscribed = s.handle(
            json!(2),
            MinerRequest::Subscribe { agent: None },
            now,
            &POOL,
        );
        assert!(matches!(subscribed.last(), Some(Output::SendCurrentJob)));
        assert_eq!(
            error_code(&s.handle(json!(3), submit("w"), now, &POOL)),
            codes::UNAUTHORIZED
        );
        let asked = s.handle(
            json!(4),
            MinerRequest::Authorize {
                worker: "w".into(),
                password: "x".into(),
            },
            now,
            &POOL,
        );
        let [Output::Authorize { login, .. }] = &asked[..] else {
            panic!("{asked:?}")
        };
        s.authorized(&json!(4), login.clone(), true);
        let checked = s.handle(json!(5), submit("w"), now, &POOL);
        let [
            Output::CheckShare {
                state, credited, ..
            },
        ] = &checked[..]
        else {
            panic!("{checked:?}")
        };
        assert_eq!(credited, "w");
        assert_eq!(state.difficulty.get(), 8.0);
        assert_eq!(state.now, POOL.unix_time);
    }

    #[test]
    fn a_suggested_difficulty_applies_from_the_next_job_and_the_old_one_before() {
        let mut s = session();
        let now = Instant::now();
        s.handle(
            json!(1),
            MinerRequest::Subscribe { agent: None },
            now,
            &POOL,
        );
        let suggest = MinerRequest::SuggestDifficulty(Difficulty::new(64.0).ok());
        s.handle(json!(2), suggest, now, &POOL);
        assert_eq!(s.difficulty().get(), 8.0, "not before the next job");
        let sent = s.on_job(JobId(9));
        assert!(
            matches!(&sent[..], [Output::Send(line)] if line.contains("mining.set_difficulty")),
            "{sent:?}"
        );
        assert_eq!(s.difficulty().get(), 64.0);
        assert_eq!(
            s.previous_difficulty.map(|(d, job)| (d.get(), job)),
            Some((8.0, JobId(9)))
        );
        // Below the port's floor is raised to it.
        let low = MinerRequest::SuggestDifficulty(Difficulty::new(0.001).ok());
        s.handle(json!(3), low, now, &POOL);
        s.on_job(JobId(10));
        assert_eq!(s.difficulty().get(), 8.0);
        assert!(s.on_job(JobId(11)).is_empty(), "the difficulty stays");
    }

    #[test]
    fn version_rolling_is_granted_within_the_pools_mask() {
        let mut s = session();
        let configure = MinerRequest::Configure {
            extensions: vec!["version-rolling".into(), "minimum-difficulty".into()],
            version_rolling_mask: 0xffff_ffff,
            min_bit_count: Some(2),
        };
        let [Output::Send(line)] = &s.handle(json!(1), configure, Instant::now(), &POOL)[..] else {
            panic!()
        };
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["result"]["version-rolling.mask"], "1fffe000");
        assert_eq!(value["result"]["minimum-difficulty"], false);
    }

    #[test]
    fn an_unknown_method_is_an_error_and_logged_once() {
        let mut s = session();
        let unknown = || MinerRequest::Unknown {
            method: "mining.bogus".into(),
        };
        let first = s.handle(json!(1), unknown(), Instant::now(), &POOL);
        assert!(matches!(first[0], Output::UnknownMethod(_)));
        let second = s.handle(json!(2), unknown(), Instant::now(), &POOL);
        assert_eq!(error_code(&second), codes::OTHER);
    }
}
