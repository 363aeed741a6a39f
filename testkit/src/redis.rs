use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::binaries::system_binary;
use crate::process::{ServerProcess, free_port, with_port_retries};

/// Waits are for the server's own readiness signal; this only ends one that never comes,
/// and is generous so that a loaded machine makes tests slower, not failing.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A private `redis-server` on a free loopback port: in memory only ([`RedisServer::start`])
/// or with an append-only file synced on every write ([`RedisServer::start_durable`]).
///
/// [`RedisServer::stop`] and [`RedisServer::start_again`] simulate an outage on the same port.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    durable: bool,
    process: Option<ServerProcess>,
}

impl RedisServer {
    /// Starts a server without persistence and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        RedisServer::start_with(false)
    }

    /// Starts a server whose data survives [`RedisServer::stop`] (a kill): every write is
    /// in its append-only file (`appendfsync always`) before it is answered.
    pub fn start_durable() -> RedisServer {
        RedisServer::start_with(true)
    }

    fn start_with(durable: bool) -> RedisServer {
        with_port_retries("redis-server", || {
            let dir =
                TempDir::with_prefix("nomp-redis-").expect("testkit: cannot create a temp dir");
            let port = free_port();
            let process = launch(port, &dir, durable)?;
            Ok(RedisServer {
                port,
                dir,
                durable,
                process: Some(process),
            })
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Kills the server (its data is lost unless it was started durable).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server again on the same port after [`RedisServer::stop`].
    pub fn start_again(&mut self) {
        assert!(
            self.process.is_none(),
            "testkit: redis-server is already running"
        );
        let process = launch(self.port, &self.dir, self.durable).unwrap_or_else(|log| {
            panic!(
                "testkit: redis-server did not start again on port {}:\n{log}",
                self.port
            )
        });
        self.process = Some(process);
    }
}

fn launch(port: u16, dir: &TempDir, durable: bool) -> Result<ServerProcess, String> {
    let mut command = Command::new(system_binary("redis-server", "redis-server"));
    let appendonly: &[&str] = if durable {
        &["--appendonly", "yes", "--appendfsync", "always"]
    } else {
        &["--appendonly", "no"]
    };
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--daemonize", "no"])
        .args(appendonly)
        .arg("--dir")
        .arg(dir.path());
    let mut process = ServerProcess::spawn("redis-server", command, &dir.path().join("redis.log"));
    match process.wait_for("ready", START_TIMEOUT, || ping(port).then_some(())) {
        Some(()) => Ok(process),
        None => Err(process.log_tail()),
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// A Redis Sentinel group on private ports: a primary, two replicas and three sentinels
/// (quorum 2) that fail over a master they cannot reach for a second. With two replicas,
/// the new master has a replica again soon after a failover. Everything is a real
/// `redis-server` (the sentinels run as `redis-server --sentinel`).
#[derive(Debug)]
pub struct RedisSentinelGroup {
    /// The data servers, by port; whichever the sentinels name is master.
    servers: Vec<(u16, Option<ServerProcess>)>,
    sentinels: Vec<(u16, ServerProcess)>,
    /// Removed (with every server's data) when the group is dropped.
    _dir: TempDir,
}

/// The master's name in the sentinels' configuration.
const MASTER_NAME: &str = "nomp";

impl RedisSentinelGroup {
    /// Starts the primary, the replicas (waiting until they are in sync) and the sentinels
    /// (waiting until each knows both replicas and the other two sentinels).
    pub fn start() -> RedisSentinelGroup {
        let dir =
            TempDir::with_prefix("nomp-sentinel-").expect("testkit: cannot create a temp dir");
        let primary = free_port();
        let replicas = [free_port(), free_port()];
        let mut servers = Vec::new();
        let roles = [
            (primary, None),
            (replicas[0], Some(primary)),
            (replicas[1], Some(primary)),
        ];
        for (port, replica_of) in roles {
            let data = dir.path().join(port.to_string());
            std::fs::create_dir_all(&data).expect("testkit: cannot create a data dir");
            let mut command = Command::new(system_binary("redis-server", "redis-server"));
            command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&data);
            if let Some(master) = replica_of {
                command.args(["--replicaof", "127.0.0.1", &master.to_string()]);
            }
            let mut process =
                ServerProcess::spawn("redis-server", command, &data.join("redis.log"));
            let ready = process.wait_for("in sync", START_TIMEOUT, || {
                let info = query(port, &["INFO", "replication"]).ok()?;
                let in_sync = replica_of.is_none() || info.contains("master_link_status:up");
                in_sync.then_some(())
            });
            assert!(
                ready.is_some(),
                "testkit: redis-server on {port} exited:\n{}",
                process.log_tail()
            );
            servers.push((port, Some(process)));
        }
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let conf = dir.path().join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 10000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    dir.path().display()
                ),
            )
            .expect("testkit: cannot write a sentinel config");
            let mut command = Command::new(system_binary("redis-server", "redis-server"));
            command.arg(&conf).arg("--sentinel");
            let process = ServerProcess::spawn(
                "redis-sentinel",
                command,
                &dir.path().join(format!("sentinel-{port}.log")),
            );
            sentinels.push((port, process));
        }
        for (port, process) in &mut sentinels {
            let port = *port;
            let ready = process.wait_for("aware of its peers", START_TIMEOUT, || {
                let known = query(port, &["SENTINEL", "REPLICAS", MASTER_NAME]).ok()?;
                let peers = query(port, &["SENTINEL", "SENTINELS", MASTER_NAME]).ok()?;
                let knows_replica = replicas.iter().all(|r| known.contains(&r.to_string()));
                let knows_peers = peers.matches("127.0.0.1").count() >= 2;
                (knows_replica && knows_peers).then_some(())
            });
            assert!(
                ready.is_some(),
                "testkit: a sentinel on {port} exited:\n{}",
                process.log_tail()
            );
        }
        RedisSentinelGroup {
            servers,
            sentinels,
            _dir: dir,
        }
    }

    /// The master's name to ask the sentinels for.
    pub fn master_name(&self) -> &'static str {
        MASTER_NAME
    }

    /// The sentinels' ports (127.0.0.1).
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|(port, _)| *port).collect()
    }

    /// The port of the server the sentinels name master now.
    pub fn master_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|(port, _)| {
            let answer =
                query(*port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME]).ok()?;
            answer.lines().filter_map(|l| l.parse().ok()).next()
        })
    }

    /// `redis://127.0.0.1:<port>/` of data server `port`.
    pub fn url(port: u16) -> String {
        format!("redis://127.0.0.1:{port}/")
    }

    /// Kills the master (SIGKILL); returns its port.
    pub fn kill_master(&mut self) -> u16 {
        let master = self
            .master_port()
            .expect("testkit: no sentinel names a master");
        for (port, process) in &mut self.servers {
            if *port == master {
                *process = None;
            }
        }
        master
    }

    /// Waits until the sentinels name a master other than `old`, it answers as master, and
    /// the remaining replica follows it.
    pub fn wait_for_failover(&mut self, old: u16) -> u16 {
        let ports = self.sentinel_ports();
        let (_, watcher) = &mut self.sentinels[0];
        let new = watcher.wait_for("failed over", Duration::from_secs(600), || {
            ports.iter().find_map(|port| {
                let answer =
                    query(*port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME]).ok()?;
                let new: u16 = answer.lines().filter_map(|l| l.parse().ok()).next()?;
                let info = query(new, &["INFO", "replication"]).ok()?;
                let serving = info.contains("role:master") && info.contains("connected_slaves:1");
                (new != old && serving).then_some(new)
            })
        });
        new.expect("testkit: a sentinel exited while waiting for the failover")
    }
}

/// Runs one command on the server (or sentinel) at `port`; its answer as text, one line per
/// element of an array answer (nested arrays flattened).
fn query(port: u16, args: &[&str]) -> Result<String, String> {
    let client =
        ::redis::Client::open(format!("redis://127.0.0.1:{port}/")).map_err(|e| e.to_string())?;
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .map_err(|e| e.to_string())?;
    let mut command = ::redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    let value: ::redis::Value = command.query(&mut connection).map_err(|e| e.to_string())?;
    let mut text = String::new();
    flatten(&value, &mut text);
    Ok(text)
}

fn flatten(value: &::redis::Value, text: &mut String) {
    match value {
        ::redis::Value::Array(items) | ::redis::Value::Set(items) => {
            for item in items {
                flatten(item, text);
            }
        }
        ::redis::Value::BulkString(bytes) => {
            text.push_str(&String::from_utf8_lossy(bytes));
            text.push('\n');
        }
        ::redis::Value::SimpleString(line) => {
            text.push_str(line);
            text.push('\n');
        }
        ::redis::Value::Int(n) => {
            text.push_str(&n.to_string());
            text.push('\n');
        }
        _ => {}
    }
}
