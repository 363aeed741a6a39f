//! Every bad input gets node-stratum-pool's answer, over a raw TCP connection.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hashing::{Algorithm, HashOptions, PowHasher, Target};
use serde_json::{Value, json};
use stratum_core::{MiningJob, PoolEvent};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, Lines, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;

/// Any byte stream to the pool: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A miner speaking raw JSON lines.
struct Raw {
    lines: Lines<BufReader<ReadHalf<Box<dyn Io>>>>,
    write: WriteHalf<Box<dyn Io>>,
    next_id: u64,
    job: Option<MiningJob>,
    extranonce1: Vec<u8>,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        Raw::over(TcpStream::connect(addr).await.unwrap())
    }

    /// After `preamble` (a PROXY header) has been written to a fresh connection.
    async fn connect_with(addr: SocketAddr, preamble: &[u8]) -> Raw {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(preamble).await.unwrap();
        Raw::over(stream)
    }

    fn over(stream: impl Io + 'static) -> Raw {
        let boxed: Box<dyn Io> = Box::new(stream);
        let (read, write) = tokio::io::split(boxed);
        Raw {
            lines: BufReader::new(read).lines(),
            write,
            next_id: 1,
            job: None,
            extranonce1: Vec::new(),
        }
    }

    async fn send_line(&mut self, text: &str) -> std::io::Result<()> {
        self.write.write_all(text.as_bytes()).await?;
        self.write.write_all(b"\n").await
    }

    /// The next line, or `None` when the server closed the connection.
    async fn next_message(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("no answer");
        let value: Value = serde_json::from_str(&line.ok()??).unwrap();
        if value["method"] == "mining.notify" {
            self.job = MiningJob::from_params(&value["params"]);
        }
        Some(value)
    }

    /// Sends a request and returns the answer with its id, recording notifications.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send_line(&json!({"id": id, "method": method, "params": params}).to_string())
            .await
            .unwrap();
        loop {
            let message = self.next_message().await.expect("connection closed");
            if message["id"] == id {
                return message;
            }
        }
    }

    async fn subscribe(&mut self) {
        let answer = self.call("mining.subscribe", json!(["raw"])).await;
        self.extranonce1 = hex::decode(answer["result"][1].as_str().unwrap()).unwrap();
        while self.job.is_none() {
            self.next_message().await.expect("no job after subscribing");
        }
    }

    /// A nonce whose hash does (or does not) meet `target` for extranonce2 `en2`.
    fn nonce_where(&self, en2: &[u8], meets: bool, target: Target) -> u32 {
        let hasher = PowHasher::new(Algorithm::Sha256d, &HashOptions::default()).unwrap();
        let job = self.job.as_ref().unwrap();
        (0u32..)
            .find(|n| {
                let hash = hasher
                    .hash(&job.header(&hasher, &self.extranonce1, en2, job.ntime, *n))
                    .unwrap();
                target.is_met_by(&hash) == meets
            })
            .unwrap()
    }

    fn submit_params(&self, worker: &str, en2: &str, ntime: u32, nonce: u32) -> Value {
        let job = self.job.as_ref().unwrap();
        json!([
            worker,
            job.job_id,
            en2,
            format!("{ntime:08x}"),
            format!("{nonce:08x}")
        ])
    }

    /// Whether the server closes the connection within `within` (reading past any lines).
    async fn is_closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match tokio::time::timeout(deadline - Instant::now(), self.lines.next_line()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(_) => return true,
                Err(_) => return false,
            }
        }
        false
    }
}

fn error_of(answer: &Value) -> (i64, String) {
    (
        answer["error"][0].as_i64().unwrap(),
        answer["error"][1].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_node_stratum_pool_answers() {
    // A share difficulty no random hash reaches: only block candidates are valid.
    let mut pool =
        common::start(|o| o.ports[0].difficulty = hashing::Difficulty::new(1e12).unwrap()).await;
    let worker = pool.pair.other_node().new_address();
    let mut raw = Raw::connect(pool.pool.ports[0]).await;

    let unknown = raw.call("mining.nonsense", json!([])).await;
    assert_eq!(error_of(&unknown), (20, "unknown method".into()));
    let early = raw
        .call(
            "mining.submit",
            json!([worker, "1", "00000000", "00000000", "00000000"]),
        )
        .await;
    assert_eq!(error_of(&early), (25, "not subscribed".into()));

    raw.subscribe().await;
    let job = raw.job.clone().unwrap();
    let unauthorised = raw
        .call(
            "mining.submit",
            raw.submit_params(&worker, "00000001", job.ntime, 0),
        )
        .await;
    assert_eq!(error_of(&unauthorised), (24, "unauthorized worker".into()));
    assert_eq!(
        raw.call("mining.authorize", json!([worker, "x"])).await["result"],
        true
    );

    let short = raw
        .call(
            "mining.submit",
            raw.submit_params(&worker, "0001", job.ntime, 0),
        )
        .await;
    assert_eq!(
        error_of(&short),
        (20, "incorrect size of extranonce2".into())
    );
    let mut unknown_job = raw.submit_params(&worker, "00000001", job.ntime, 0);
    unknown_job[1] = json!("abcdef");
    assert_eq!(
        error_of(&raw.call("mining.submit", unknown_job).await),
        (21, "job not found".into())
    );
    let stale_time = raw
        .call(
            "mining.submit",
            raw.submit_params(&worker, "00000001", job.ntime - 1, 0),
        )
        .await;
    assert_eq!(error_of(&stale_time), (20, "ntime out of range".into()));

    let network = job.bits.target().unwrap();
    let en2 = [0u8, 0, 0, 2];
    let low = raw.nonce_where(&en2, false, network);
    let answer = raw
        .call(
            "mining.submit",
            raw.submit_params(&worker, "00000002", job.ntime, low),
        )
        .await;
    let (code, message) = error_of(&answer);
    assert_eq!(code, 23);
    assert!(message.starts_with("low difficulty share of "), "{message}");

    // On regtest a valid share is a block, whose new job soon retires this one: send the
    // share twice in one write so the copy is judged against the same job.
    let block = raw.nonce_where(&en2, true, network);
    let params = raw.submit_params(&worker, "00000002", job.ntime, block);
    let twice = format!(
        "{}\n{}",
        json!({"id": 50, "method": "mining.submit", "params": params}),
        json!({"id": 51, "method": "mining.submit", "params": params})
    );
    raw.send_line(&twice).await.unwrap();
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let message = raw.next_message().await.unwrap();
        if message["id"] == 50 || message["id"] == 51 {
            answers.push(message);
        }
    }
    assert_eq!(answers[0]["result"], true, "{}", answers[0]);
    assert_eq!(answers[0]["error"], Value::Null);
    assert_eq!(error_of(&answers[1]), (22, "duplicate share".into()));

    let transactions = raw.call("mining.get_transactions", json!([])).await;
    assert_eq!(error_of(&transactions).0, 20);
    let configure = raw
        .call(
            "mining.configure",
            json!([["version-rolling"], {"version-rolling.mask": "ffffffff"}]),
        )
        .await;
    assert_eq!(
        configure["result"],
        json!({"version-rolling": true, "version-rolling.mask": "1fffe000"})
    );

    // Each share, valid or not, became an event; the block candidate was submitted.
    let block_event = common::next_event(&mut pool.pool, Duration::from_secs(20), |e| {
        matches!(e, PoolEvent::Block(_))
    })
    .await;
    let PoolEvent::Block(block_event) = block_event else {
        unreachable!()
    };
    assert!(block_event.accepted, "{block_event:?}");

    raw.send_line("{this is not json").await.unwrap();
    let answer = loop {
        let message = raw
            .next_message()
            .await
            .expect("an error before the disconnect");
        if message.get("method").is_none() {
            break message;
        }
    };
    assert_eq!(error_of(&answer), (20, "malformed JSON".into()));
    assert!(raw.is_closed_within(Duration::from_secs(2)).await);
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_kb_line_without_newline_is_a_flood_and_disconnects() {
    let pool = common::start(|_| {}).await;
    let mut raw = Raw::connect(pool.pool.ports[0]).await;
    // The server may close before all of it is written; either way the connection ends.
    let _ = raw.write.write_all(&vec![b'a'; 100 * 1024]).await;
    assert!(raw.is_closed_within(Duration::from_secs(5)).await);
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_invalid_shares_bans_the_ip_until_the_ban_expires() {
    let pool = common::start(|o| o.banning = Some(common::quick_bans())).await;
    let worker = pool.pair.other_node().new_address();
    let mut raw = Raw::connect(pool.pool.ports[0]).await;
    raw.subscribe().await;
    raw.call("mining.authorize", json!([worker, "x"])).await;
    let ntime = raw.job.as_ref().unwrap().ntime;
    for _ in 0..4 {
        let answer = raw
            .call("mining.submit", raw.submit_params(&worker, "01", ntime, 0))
            .await;
        assert_eq!(error_of(&answer).0, 20);
    }
    // The fifth invalid share reaches the check threshold: answered, then banned.
    raw.send_line(&json!({"id": 99, "method": "mining.submit", "params": raw.submit_params(&worker, "01", ntime, 0)}).to_string())
        .await
        .unwrap();
    assert!(raw.is_closed_within(Duration::from_secs(3)).await);
    let banned_at = Instant::now();
    assert_eq!(
        pool.pool.handle().banned(),
        vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );

    let mut refused = Raw::connect(pool.pool.ports[0]).await;
    assert!(
        refused.is_closed_within(Duration::from_secs(1)).await,
        "a banned IP is refused at connect"
    );

    tokio::time::sleep(
        Duration::from_secs(2).saturating_sub(banned_at.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let mut welcome = Raw::connect(pool.pool.ports[0]).await;
    welcome.subscribe().await;
    assert!(welcome.job.is_some(), "served again after the ban expired");
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_dropped_after_the_connection_timeout() {
    let pool = common::start(|o| o.connection_timeout = Duration::from_secs(1)).await;
    let mut raw = Raw::connect(pool.pool.ports[0]).await;
    raw.subscribe().await;
    let started = Instant::now();
    assert!(raw.is_closed_within(Duration::from_secs(4)).await);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "closed too early: {waited:?}"
    );
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_header_names_the_miner_and_bans_follow_that_address() {
    let mut pool = common::start(|o| {
        o.proxy_protocol = true;
        o.banning = Some(common::quick_bans());
    })
    .await;
    let worker = pool.pair.other_node().new_address();
    let port = pool.pool.ports[0];

    // Version 2 header, IPv4 203.0.113.7:4444, with the subscribe in the same segment.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend([
        0x21, 0x11, 0, 12, 203, 0, 113, 7, 127, 0, 0, 1, 0x11, 0x5c, 0x0d, 0x05,
    ]);
    let mut miner = Raw::connect_with(port, &v2).await;
    miner.subscribe().await;
    miner.call("mining.authorize", json!([worker, "x"])).await;
    let ntime = miner.job.as_ref().unwrap().ntime;
    let share = miner
        .call(
            "mining.submit",
            miner.submit_params(&worker, "01", ntime, 0),
        )
        .await;
    assert_eq!(error_of(&share).0, 20);
    let event = common::next_event(&mut pool.pool, Duration::from_secs(5), |e| {
        matches!(e, PoolEvent::Share(_))
    })
    .await;
    let PoolEvent::Share(share) = event else {
        unreachable!()
    };
    assert_eq!(share.ip, "203.0.113.7".parse::<std::net::IpAddr>().unwrap());

    // Enough invalid shares ban 203.0.113.7, not the proxy's own 127.0.0.1.
    for _ in 0..4 {
        let _ = miner
            .send_line(&json!({"id": 50, "method": "mining.submit", "params": miner.submit_params(&worker, "01", ntime, 0)}).to_string())
            .await;
    }
    assert!(miner.is_closed_within(Duration::from_secs(3)).await);
    assert_eq!(
        pool.pool.handle().banned(),
        vec!["203.0.113.7".parse::<std::net::IpAddr>().unwrap()]
    );
    let v1_banned = b"PROXY TCP4 203.0.113.7 127.0.0.1 5000 3333\r\n";
    let mut refused = Raw::connect_with(port, v1_banned).await;
    assert!(
        refused.is_closed_within(Duration::from_secs(2)).await,
        "banned behind the proxy"
    );
    let v1_other = b"PROXY TCP4 198.51.100.1 127.0.0.1 5000 3333\r\n";
    let mut other = Raw::connect_with(port, v1_other).await;
    other.subscribe().await;
    assert!(
        other.job.is_some(),
        "another address behind the same proxy is served"
    );

    // A miner that skips the header is dropped.
    let mut plain = Raw::connect(port).await;
    // The server may drop it before the write completes; either way it ends.
    let _ = plain
        .send_line(r#"{"id":1,"method":"mining.subscribe","params":[]}"#)
        .await;
    assert!(plain.is_closed_within(Duration::from_secs(2)).await);
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_port_serves_stratum_to_a_client_that_trusts_its_certificate() {
    use std::sync::Arc;
    use stratum_core::rustls::{ClientConfig, RootCertStore, pki_types::ServerName};

    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config =
        stratum_core::tls_config_from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
            .unwrap();
    let pool = common::start(|o| o.ports[0].tls = Some(config)).await;
    let port = pool.pool.ports[0];

    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(port).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut miner = Raw::over(tls);
    miner.subscribe().await;
    assert_eq!(miner.extranonce1.len(), 4);
    let worker = pool.pair.other_node().new_address();
    let answer = miner.call("mining.authorize", json!([worker, "x"])).await;
    assert_eq!(answer["result"], true);

    // Plain stratum on the TLS port gets nothing but a closed connection.
    let mut plain = Raw::connect(port).await;
    // The server may drop it before the write completes; either way it ends.
    let _ = plain
        .send_line(r#"{"id":1,"method":"mining.subscribe","params":[]}"#)
        .await;
    assert!(plain.is_closed_within(Duration::from_secs(3)).await);
    pool.cancel.cancel();
}

/// Reads messages until the next `mining.set_difficulty` and returns its value.
async fn next_difficulty(raw: &mut Raw) -> f64 {
    loop {
        let message = raw.next_message().await.expect("connection closed");
        if message["method"] == "mining.set_difficulty" {
            return message["params"][0].as_f64().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggest_difficulty_never_goes_below_the_ports_floor_and_reject_labels_stay_fixed() {
    let fixed = 1e12;
    let mut pool = common::start(|o| {
        o.ports[0].difficulty = hashing::Difficulty::new(fixed).unwrap();
        let mut vardiff_port = o.ports[0].clone();
        vardiff_port.difficulty = hashing::Difficulty::new(1e9).unwrap();
        vardiff_port.vardiff = Some(stratum_core::VardiffOptions {
            target_time: 15.0,
            retarget_time: 90.0,
            variance_percent: 30.0,
            min_diff: 1e8,
            max_diff: 1e10,
            x2_mode: false,
        });
        o.ports.push(vardiff_port);
    })
    .await;
    let worker = pool.pair.other_node().new_address();
    let mut fixed_port = Raw::connect(pool.pool.ports[0]).await;
    let mut vardiff_port = Raw::connect(pool.pool.ports[1]).await;
    for raw in [&mut fixed_port, &mut vardiff_port] {
        raw.subscribe().await;
        assert_eq!(
            raw.call("mining.authorize", json!([worker, "x"])).await["result"],
            true
        );
        // A miner asking for a difficulty every random nonce meets.
        let answer = raw.call("mining.suggest_difficulty", json!([1e-300])).await;
        assert_eq!(answer["result"], true);
    }
    // The suggestion applies from the next job on.
    pool.pair.mine_on_other(1);
    assert_eq!(next_difficulty(&mut fixed_port).await, fixed);
    assert_eq!(next_difficulty(&mut vardiff_port).await, 1e8, "minDiff");
    // The job sent with the difficulty is the one to mine.
    while fixed_port.next_message().await.unwrap()["method"] != "mining.notify" {}

    // Random nonces stay low-difficulty shares; each reaches another difficulty, and every
    // one is counted under the one label.
    let network = fixed_port.job.as_ref().unwrap().bits.target().unwrap();
    for n in 0..5u8 {
        let en2 = [0u8, 0, 1, n];
        let nonce = fixed_port.nonce_where(&en2, false, network);
        let params = fixed_port.submit_params(
            &worker,
            &hex::encode(en2),
            fixed_port.job.as_ref().unwrap().ntime,
            nonce,
        );
        let answer = fixed_port.call("mining.submit", params).await;
        let (code, message) = error_of(&answer);
        assert_eq!(code, 23, "{message}");
    }
    let counters = pool.pool.handle().counters();
    assert_eq!(
        counters.invalid_shares.keys().copied().collect::<Vec<_>>(),
        ["low_difficulty"]
    );
    assert_eq!(counters.invalid_shares["low_difficulty"], 5);
    for kind in counters.invalid_shares.keys() {
        assert!(stratum_core::Reject::KINDS.contains(kind));
    }
    pool.cancel.cancel();
    // Every event was sent on; drain them so the pool can stop.
    while pool.pool.events.try_recv().is_some() {}
}
