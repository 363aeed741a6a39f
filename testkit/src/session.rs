//! A miner session driven in-process, for fuzzing and property tests: bytes in, the lines
//! the server would send out, with no runtime, socket or daemon. Requests are framed as the
//! server frames them (newline-separated, at most `MAX_LINE_LENGTH` bytes, UTF-8), read into
//! typed requests, handled by [`Session`], and its effects carried out at once: every
//! worker is authorised, and shares are checked against one real job.

use std::time::Instant;

use coin_daemon::BlockTemplate;
use hashing::{Algorithm, Difficulty, HashOptions, PowHasher};
use serde_json::json;
use stratum_core::protocol::{
    MAX_LINE_LENGTH, MinerRequest, Request, codes, error_line, result_line,
};
use stratum_core::{
    AddressFormat, BanOptions, CoinbaseOptions, Extranonce, Job, JobId, Output, PoolView, Session,
    SessionOptions, Submission, output_script, validate_share,
};

use crate::StandInDaemon;

/// One job and hasher shared by every input.
pub struct SessionHarness {
    job: Job,
    hasher: PowHasher,
    bans: BanOptions,
}

impl SessionHarness {
    /// A harness whose job has mainnet bits (no share is a block) and no transactions.
    pub fn new() -> SessionHarness {
        // The stand-in daemon's mainnet-shaped template, at a fixed time so that shares'
        // ntime checks do not depend on the clock.
        let mut template: BlockTemplate =
            serde_json::from_value(StandInDaemon::mainnet_template(0))
                .expect("the stand-in's template decodes");
        template.cur_time = 1_700_000_000;
        let format = AddressFormat::bitcoin();
        let script =
            output_script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &format).expect("a valid address");
        let job = Job::new(
            JobId(1),
            &template,
            &CoinbaseOptions::new(script, format),
            true,
            template.cur_time,
        )
        .expect("a valid template");
        SessionHarness {
            job,
            hasher: PowHasher::new(Algorithm::Sha256d, &HashOptions::default())
                .expect("sha256d takes no options"),
            bans: BanOptions {
                duration: std::time::Duration::from_secs(1),
                invalid_percent: 50.0,
                check_threshold: 5,
                purge_interval: std::time::Duration::from_secs(60),
            },
        }
    }

    /// The lines a connection sending `input` would be sent, until it would be closed.
    pub fn run(&self, input: &[u8]) -> Vec<String> {
        let now = Instant::now();
        let mut session = Session::new(
            SessionOptions {
                extranonce1: Extranonce::from_slice(&[0, 0, 0, 1]).expect("4 bytes"),
                port_difficulty: Difficulty::ONE,
                vardiff: None,
                credit: None,
            },
            now,
        );
        let view = PoolView {
            extranonce2_size: 4,
            version_mask: 0x1fff_e000,
            network_difficulty: None,
            stopped: false,
            unix_time: 1_700_000_100,
        };
        let mut sent = Vec::new();
        let mut rest = input;
        // The last piece without a newline is a line too, as at end of stream.
        while !rest.is_empty() {
            let (line, next) = match rest.iter().position(|b| *b == b'\n') {
                Some(end) => (&rest[..end], &rest[end + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            if line.len() > MAX_LINE_LENGTH {
                break;
            }
            let Ok(line) = std::str::from_utf8(line) else {
                break;
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Ok(request) = serde_json::from_str::<Request>(line) else {
                sent.push(error_line(
                    &serde_json::Value::Null,
                    codes::OTHER,
                    "malformed JSON",
                ));
                break;
            };
            let typed = MinerRequest::from_request(&request);
            let mut closed = false;
            for output in session.handle(request.id, typed, now, &view) {
                match output {
                    Output::Send(line) => sent.push(line),
                    Output::SendCurrentJob => sent.push(self.job.notify_line().to_owned()),
                    Output::Authorize { id, login, .. } => {
                        sent.push(session.authorized(&id, login, true));
                    }
                    Output::CheckShare {
                        id, submit, state, ..
                    } => {
                        let job = JobId::parse(&submit.job_id)
                            .filter(|id| *id == self.job.id)
                            .map(|_| &self.job);
                        let submission = Submission {
                            job_id: &submit.job_id,
                            extranonce2: &submit.extranonce2,
                            ntime: &submit.ntime,
                            nonce: &submit.nonce,
                            version_bits: submit.version_bits.as_deref(),
                        };
                        let verdict =
                            validate_share(job, &submission, &state, &self.hasher, |key| {
                                job.is_some_and(|job| job.record_share(key))
                            });
                        sent.push(match &verdict {
                            Ok(_) => result_line(&id, json!(true)),
                            Err(reject) => error_line(&id, reject.code(), &reject.to_string()),
                        });
                        closed |=
                            session.share_checked(verdict.is_ok(), now, || None, Some(&self.bans));
                    }
                    Output::Difficulty { .. } | Output::UnknownMethod(_) => {}
                }
            }
            if closed {
                break;
            }
        }
        sent
    }
}

impl Default for SessionHarness {
    fn default() -> Self {
        SessionHarness::new()
    }
}
