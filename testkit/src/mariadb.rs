use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::binaries::system_binary;
use crate::process::{ServerProcess, free_port, with_port_retries};

/// Waits are for the server's own readiness signal; this only ends one that never comes,
/// and is generous so that a loaded machine makes tests slower, not failing.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// The database every [`MariaDb`] creates.
const DATABASE: &str = "nomp_test";

/// A private `mariadbd` on a fresh data directory and a free loopback port, with the
/// database `nomp_test` created and `root` allowed in without a password over TCP.
///
/// [`MariaDb::stop`] and [`MariaDb::start_again`] restart it on the same port with its data.
#[derive(Debug)]
pub struct MariaDb {
    port: u16,
    dir: TempDir,
    process: Option<ServerProcess>,
}

impl MariaDb {
    /// Initialises a data directory, starts the server and creates the database.
    pub fn start() -> MariaDb {
        let dir = TempDir::with_prefix("nomp-mariadb-").expect("testkit: cannot create a temp dir");
        install_db(dir.path());
        let server = with_port_retries("mariadbd", || {
            let port = free_port();
            let process = launch(port, dir.path())?;
            Ok((port, process))
        });
        let (port, process) = server;
        let db = MariaDb {
            port,
            dir,
            process: Some(process),
        };
        run_sql(db.port, None, &format!("CREATE DATABASE {DATABASE}"));
        db
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The created database's name.
    pub fn database(&self) -> &str {
        DATABASE
    }

    /// `mysql://root@127.0.0.1:<port>/nomp_test`, as `mysql_async` takes it.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Runs SQL in the test database through the `mariadb` command-line client (as root),
    /// for test set-up such as loading a schema. Panics on failure.
    pub fn execute(&self, sql: &str) {
        run_sql(self.port, Some(DATABASE), sql);
    }

    /// Shuts the server down (SIGKILL; InnoDB recovers on the next start).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server again on the same port and data after [`MariaDb::stop`].
    pub fn start_again(&mut self) {
        assert!(
            self.process.is_none(),
            "testkit: mariadbd is already running"
        );
        let process = launch(self.port, self.dir.path()).unwrap_or_else(|log| {
            panic!(
                "testkit: mariadbd did not start again on port {}:\n{log}",
                self.port
            )
        });
        self.process = Some(process);
    }
}

fn run_sql(port: u16, database: Option<&str>, sql: &str) {
    let mut command = Command::new(system_binary("mariadb", "mariadb-client"));
    command
        .args(["--protocol=TCP", "-h", "127.0.0.1", "-u", "root"])
        .arg(format!("--port={port}"));
    if let Some(database) = database {
        command.arg(format!("--database={database}"));
    }
    let output = command
        .args(["-e", sql])
        .output()
        .expect("testkit: cannot run the mariadb client");
    assert!(
        output.status.success(),
        "testkit: mariadb rejected SQL {sql:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The server's own directory for temporary tables. With the shared `/tmp`, servers
/// bootstrapping at the same moment collide on temporary table names and one fails
/// ("Unknown table 'mysql.tmp_user_sys'"): 1 in 6 parallel installs did here.
fn tmpdir_arg(dir: &Path) -> String {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).expect("testkit: cannot create the mariadb tmpdir");
    format!("--tmpdir={}", tmp.display())
}

fn install_db(dir: &Path) {
    let mut command = Command::new(system_binary("mariadb-install-db", "mariadb-server"));
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(tmpdir_arg(dir))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
    if running_as_root() {
        command.arg("--user=root");
    }
    let output = command
        .output()
        .expect("testkit: cannot run mariadb-install-db");
    assert!(
        output.status.success(),
        "testkit: mariadb-install-db failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn launch(port: u16, dir: &Path) -> Result<ServerProcess, String> {
    let mut command = Command::new(system_binary("mariadbd", "mariadb-server"));
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(tmpdir_arg(dir))
        .arg(format!("--port={port}"))
        .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
        .args([
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
        ]);
    if running_as_root() {
        command.arg("--user=root");
    }
    let mut process = ServerProcess::spawn("mariadbd", command, &dir.join("mariadbd.log"));
    let ready = process.wait_for("ready", START_TIMEOUT, || admin_ping(port).then_some(()));
    match ready {
        Some(()) => Ok(process),
        None => Err(process.log_tail()),
    }
}

fn admin_ping(port: u16) -> bool {
    Command::new(system_binary("mariadb-admin", "mariadb-client"))
        .args(["--protocol=TCP", "-h", "127.0.0.1", "-u", "root"])
        .arg(format!("--port={port}"))
        .args(["--connect-timeout=1", "ping"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
