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
