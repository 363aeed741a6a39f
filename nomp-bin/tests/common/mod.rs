//! Helpers shared by the binary's tests.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers"
)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What `nomp hash-password` prints for `password`.
pub(crate) fn hash_password(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nomp"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The body of the answer to `request`.
pub(crate) async fn text(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// How long a wait for progress the test itself causes may take before it counts as hung:
/// generous, so a loaded machine only makes tests slower, never failing. Tests wait for
/// signals (a log line, a count), and this only ends a wait that would never end.
pub(crate) const PATIENCE: Duration = Duration::from_secs(600);

/// A running `nomp` on a config directory; killed when dropped.
pub(crate) struct Nomp {
    child: Child,
    dir: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// Where this start's output begins in the log (restarts append to it).
    from: u64,
}

impl Nomp {
    /// Starts `nomp --config-dir dir`, its output appended to `dir/nomp.log`, and waits
    /// for it to say it is ready.
    pub(crate) fn start(dir: &Path) -> Nomp {
        Nomp::start_with(dir, &[])
    }

    /// Like [`Nomp::start`], with more arguments (`--data-dir …`).
    pub(crate) fn start_with(dir: &Path, args: &[&str]) -> Nomp {
        let nomp = Nomp::spawn_with(dir, args);
        nomp.wait_for_log("nomp ready");
        nomp
    }

    /// Starts it without waiting.
    pub(crate) fn spawn(dir: &Path) -> Nomp {
        Nomp::spawn_with(dir, &[])
    }

    /// Starts it with more arguments, without waiting.
    pub(crate) fn spawn_with(dir: &Path, args: &[&str]) -> Nomp {
        let path = dir.join("nomp.log");
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let from = log.metadata().unwrap().len();
        let child = Command::new(env!("CARGO_BIN_EXE_nomp"))
            .arg("--config-dir")
            .arg(dir)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        Nomp {
            child,
            dir: dir.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            log: path,
            from,
        }
    }

    /// This start's output so far.
    pub(crate) fn log(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&text[(self.from as usize).min(text.len())..]).into_owned()
    }

    /// Waits until this start has logged a line containing `needle`; fails at once,
    /// with the log, if the process exits first.
    pub(crate) fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_line(needle, |line| line.contains(needle))
    }

    /// Waits until this start has logged a line `matches` accepts (see `wait_for_log`).
    pub(crate) fn wait_for_line(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|line| matches(line)) {
                return line.to_owned();
            }
            assert!(
                !exited(self.child.id()),
                "nomp exited before logging {what:?}:\n{log}"
            );
            assert!(
                Instant::now() < deadline,
                "nomp never logged {what:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (`TERM`, `KILL`, …) and waits for the process to end.
    pub(crate) fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "nomp did not exit after SIG{signal}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, …) without waiting for anything.
    pub(crate) fn send(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// How many lines of this start's log contain `needle`.
    pub(crate) fn count_log(&self, needle: &str) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// SIGTERM, as a service manager stops it; its exit status.
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM")
    }

    /// Started again with the same arguments, once this one is gone (killed if needed).
    pub(crate) fn restart(mut self) -> Nomp {
        if self.child.try_wait().unwrap().is_none() {
            self.signal("KILL");
        }
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        Nomp::start_with(&self.dir, &args)
    }

    /// Whether the process has exited.
    pub(crate) fn has_exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

impl Drop for Nomp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `nomp <args>` against the config in `dir`, run to completion.
pub(crate) fn run_nomp(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nomp"))
        .arg("--config-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// A config directory for pools on `node` with `cli` as the CLI port: `(coin, stratum
/// port, extra fields)` per pool, each with its own coin file.
pub(crate) fn config_dir(
    node: &testkit::RegtestNode,
    cli: u16,
    pools: &[(&str, u16, String)],
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "config.json",
        &format!(r#"{{ "logColors": false, "cliPort": {cli}, "clustering": {{ "forks": 2 }} }}"#),
    );
    for (coin, port, extra) in pools {
        pool_files(dir.path(), node, coin, *port, extra);
    }
    dir
}

/// Writes a coin file and a pool file for `coin` on `node`, stratum on `port`; returns
/// the pool's address.
pub(crate) fn pool_files(
    dir: &Path,
    node: &testkit::RegtestNode,
    coin: &str,
    port: u16,
    extra: &str,
) -> String {
    let daemon = format!(
        r#"{{ "host": "127.0.0.1", "port": {}, "user": "{}", "password": "{}" }}"#,
        node.rpc_port(),
        node.rpc_user(),
        node.rpc_password()
    );
    write(
        dir,
        &format!("coins/{}.json", coin.to_lowercase()),
        &format!(
            r#"{{ "name": "{coin}", "symbol": "BSV", "algorithm": "sha256", "peerMagic": "dab5bffa" }}"#
        ),
    );
    let address = node.new_address();
    write(
        dir,
        &format!("pool_configs/{}.json", coin.to_lowercase()),
        &format!(
            r#"{{
                // {coin}, written by the test
                "enabled": true,
                "coin": "{}.json",
                "address": "{address}",
                "ports": {{ "{port}": {{ "diff": 0.000000001 }} }},
                "daemons": [ {daemon} ]{extra}
            }}"#,
            coin.to_lowercase(),
        ),
    );
    address
}

/// Whether process `pid` has ended: gone, or a zombie not yet reaped (which `kill -0` still
/// finds, so a pool that failed at start would be waited for until the deadline).
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, state)| state.trim_start().starts_with('Z'))
    })
}

/// A plain HTTP GET on 127.0.0.1: (status, body).
pub(crate) fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

/// Waits until `condition` holds, checking every 100 ms.
pub(crate) fn until(what: &str, condition: impl Fn() -> bool) {
    until_seen(what, || (condition(), String::new()));
}

/// Waits until `check` says yes; on giving up, shows the last thing it saw.
pub(crate) fn until_seen(what: &str, check: impl Fn() -> (bool, String)) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (done, seen) = check();
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never: {what}; last seen:\n{seen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A local HTTP server that answers every request 200 and keeps what it got: the stand-in
/// for webhook, ntfy, Telegram and Discord endpoints.
#[derive(Clone, Default)]
pub(crate) struct Receiver(std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>);

impl Receiver {
    /// Serves on a free port; returns it with the requests seen (path, headers, body).
    pub(crate) fn start() -> (u16, Receiver) {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Receiver::default();
        let keep = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = std::io::BufReader::new(stream);
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                keep.0.lock().unwrap().push((
                    path,
                    head,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        (port, seen)
    }

    /// The bodies of the requests to `path`.
    pub(crate) fn bodies(&self, path: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, _, body)| body.clone())
            .collect()
    }

    /// A `notifications` entry for `config.json` sending every kind, unthrottled, to this
    /// receiver's `/hook` as a webhook.
    pub(crate) fn webhook_config(port: u16) -> String {
        format!(
            r#""notifications": {{ "minInterval": 0, "targets": [ {{ "type": "webhook", "url": "http://127.0.0.1:{port}/hook" }} ] }}"#
        )
    }

    /// Whether a request to `path` carried `needle` (in its headers or body).
    pub(crate) fn got(&self, path: &str, needle: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            // Header names arrive in whatever case the client writes them.
            .any(|(p, head, body)| {
                p == path && (head.to_ascii_lowercase().contains(needle) || body.contains(needle))
            })
    }
}

/// What one miner connection was told, and what it sent.
#[derive(Debug)]
pub(crate) struct Told {
    pub(crate) worker: String,
    pub(crate) accepted: u64,
    pub(crate) submitted: u64,
    pub(crate) rejections: std::collections::BTreeMap<String, u64>,
}

impl Told {
    /// Stops the miner (its last answer in) and reads its counts.
    pub(crate) fn of(worker: &str, mut miner: testkit::TestMiner) -> Told {
        miner.stop();
        Told {
            worker: worker.to_owned(),
            accepted: miner.accepted(),
            submitted: miner.submitted(),
            rejections: miner.rejections(),
        }
    }

    /// Shares sent that got no answer (the pool was killed with them in flight).
    pub(crate) fn unanswered(&self) -> u64 {
        self.submitted - self.accepted - self.rejections.values().sum::<u64>()
    }

    pub(crate) fn not_recorded(&self) -> u64 {
        self.rejections
            .iter()
            .filter(|(message, _)| message.starts_with("share not recorded"))
            .map(|(_, count)| count)
            .sum()
    }
}

/// Checks each connection: every share it was told is accepted is stored (none lost), and
/// beyond those at most the ones that got no answer or were refused as not recorded (a
/// refused share may still reach the store later), so none is counted twice. Returns
/// (acknowledged, stored, sent).
pub(crate) fn account(
    told: &[Told],
    stored: &std::collections::BTreeMap<String, u64>,
) -> (u64, u64, u64) {
    let mut totals = (0, 0, 0);
    for connection in told {
        let kept = stored.get(&connection.worker).copied().unwrap_or(0);
        assert!(
            kept >= connection.accepted,
            "{}: {} acknowledged, only {kept} stored",
            connection.worker,
            connection.accepted
        );
        let most = connection.accepted + connection.unanswered() + connection.not_recorded();
        assert!(
            kept <= most,
            "{}: {kept} stored, at most {most} may be ({connection:?}): a share counted twice",
            connection.worker,
        );
        totals.0 += connection.accepted;
        totals.1 += kept;
        totals.2 += connection.submitted;
    }
    totals
}

/// Checks the journal against the wallet: the wallet sent exactly the transactions of the
/// runs the journal has done, and each address received exactly what those runs paid it.
/// Returns (runs paid, transactions, coins paid in satoshis).
pub(crate) fn paid_exactly_once(
    pair: &testkit::RegtestPair,
    store: &impl payments::PayoutStore,
) -> (usize, usize, i64) {
    // Confirmed by the node whose mempool has the payouts.
    let node = pair.pool_node();
    node.cli(&["generatetoaddress", "1", &node.new_address()]);
    pair.wait_for_sync();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let done = runtime.block_on(store.payment_history(10_000)).unwrap();
    let journalled: std::collections::BTreeSet<String> =
        done.iter().filter_map(|entry| entry.txid.clone()).collect();
    assert_eq!(
        journalled.len(),
        done.len(),
        "every paying run names its txid"
    );
    let listed = pair.pool_node().cli(&["listtransactions", "*", "100000"]);
    let sent: std::collections::BTreeSet<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|tx| tx["category"] == "send")
        .filter_map(|tx| tx["txid"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        sent, journalled,
        "the wallet sent exactly the journalled payouts"
    );
    let mut owed: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for entry in &done {
        for (address, amount) in &entry.settlement.payments {
            *owed.entry(address.clone()).or_default() += amount.to_sat();
        }
    }
    for (address, amount) in &owed {
        let received = pair
            .other_node()
            .cli(&["getreceivedbyaddress", address, "1"]);
        let received = coin_daemon::Amount::from_coin_str(&received.to_string()).unwrap();
        assert_eq!(received.to_sat(), *amount, "{address} was paid once");
    }
    (done.len(), sent.len(), owed.values().sum())
}

/// The metrics of contrib/ served only by front-ends sharing Redis with payments on.
pub(crate) const FRONT_END_METRICS: [&str; 2] = ["nomp_payment_lease_held", "nomp_front_ends"];

/// Every `nomp_…` metric the Grafana dashboard and the Prometheus rules in `contrib/` name.
pub(crate) fn contrib_metric_names() -> std::collections::BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib");
    let mut names = std::collections::BTreeSet::new();
    for file in ["grafana/nomp.json", "prometheus/nomp-alerts.yml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("nomp_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.insert(name);
        }
    }
    assert!(names.len() > 20, "{names:?}");
    names
}
