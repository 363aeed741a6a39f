use std::collections::HashSet;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where handed-out ports start: below the kernel's ephemeral range, so that no outgoing
/// connection (a test's client, a daemon's peer) can be given a port between the moment it
/// is handed out and the moment its server binds it.
const FIRST_PORT: u16 = 10_000;

/// Ports already handed out by this process, and the next one to try.
static HANDED_OUT: Mutex<Option<(HashSet<u16>, u16)>> = Mutex::new(None);

/// A free TCP port on 127.0.0.1 (and 0.0.0.0), never the same twice within one test
/// process. Taken below the ephemeral port range where the range leaves room (from
/// `FIRST_PORT`, at an offset of the process id so successive test binaries spread out);
/// otherwise one the kernel picks.
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let ephemeral = ephemeral_start();
    let (seen, next) = handed_out.get_or_insert_with(|| {
        let span = u32::from(ephemeral.saturating_sub(FIRST_PORT).max(1));
        let offset = u16::try_from(std::process::id() % span).unwrap_or(0);
        (HashSet::new(), FIRST_PORT + offset)
    });
    if ephemeral > FIRST_PORT + 1000 {
        for _ in FIRST_PORT..ephemeral {
            let port = *next;
            *next = if port + 1 >= ephemeral {
                FIRST_PORT
            } else {
                port + 1
            };
            let bindable = |host: &str| TcpListener::bind((host, port)).is_ok();
            if !seen.contains(&port) && bindable("127.0.0.1") && bindable("0.0.0.0") {
                seen.insert(port);
                return port;
            }
        }
    }
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("testkit: cannot bind a loopback port");
        if seen.insert(port) {
            return port;
        }
    }
}

/// The first port of the kernel's ephemeral range (Linux's default when unreadable).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A server child process whose output goes to a log file; killed and reaped on drop.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub(crate) fn spawn(name: &str, mut command: Command, log: &Path) -> ServerProcess {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("testkit: cannot open {}: {e}", log.display()));
        let err = out
            .try_clone()
            .expect("testkit: cannot duplicate a log file handle");
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("testkit: cannot start {name} ({command:?}): {e}"));
        ServerProcess {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        }
    }

    /// The operating-system process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has not exited yet.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Polls `probe` every 50 ms until it yields a value. Returns `None` when the process
    /// exits first; panics with the log's tail after `timeout`.
    pub(crate) fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = probe() {
                return Some(value);
            }
            if !self.is_running() {
                return None;
            }
            if Instant::now() > deadline {
                panic!(
                    "testkit: {} did not become {what} within {timeout:?}; log {}:\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; kills it after that.
    pub(crate) fn wait_or_kill(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// Kills (SIGKILL) and reaps the process.
    pub(crate) fn kill(&mut self) {
        if self.is_running() {
            // An error here means the process is already gone, which is what we want.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// The last lines of the log, for failure messages.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Asks the kernel to SIGKILL the child when the thread that spawned it exits, so a test
/// process that dies without running destructors leaves no server behind.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls prctl, which is
    // async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Runs `attempt` up to three times: a server can lose its port to another process between
/// [`free_port`] and its own bind, and then exits at start-up.
pub(crate) fn with_port_retries<T>(
    what: &str,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    let mut failures = Vec::new();
    for _ in 0..3 {
        match attempt() {
            Ok(server) => return server,
            Err(log) => failures.push(log),
        }
    }
    panic!(
        "testkit: {what} exited at start-up three times; last log:\n{}",
        failures.join("\n---\n")
    )
}
