//! The data directory: the embedded store, the share logs, and who owns them.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open data directory, locked for this process, with its stable instance id.
#[derive(Debug)]
pub(crate) struct DataDir {
    path: PathBuf,
    instance: String,
    /// Held open while the process runs: the lock goes with it.
    _lock: File,
}

/// The file whose lock says a process uses the directory.
const LOCK: &str = ".lock";
/// The file holding the directory's instance id.
const INSTANCE: &str = "instance-id";

impl DataDir {
    /// Opens (creating it if needed) and locks `path`. Fails when another process holds
    /// it: two processes sharing one embedded store and share logs would each think they
    /// own its payment lease and its logs.
    pub(crate) fn open(path: &Path) -> Result<DataDir, String> {
        std::fs::create_dir_all(path)
            .map_err(|e| format!("cannot create the data directory {}: {e}", path.display()))?;
        let lock_path = path.join(LOCK);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "another nomp is running with the data directory {} (it holds {}); stop it, or give this one its own --data-dir",
                    path.display(),
                    lock_path.display()
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", lock_path.display()));
            }
        }
        let instance = instance_id(path)?;
        Ok(DataDir {
            path: path.to_owned(),
            instance,
            _lock: lock,
        })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// This directory's id, the same at every start: the payment lease's owner, so a
    /// restarted nomp takes its own lease back at once, while another instance (another
    /// data directory) waits for it to expire.
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }
}

/// The instance id in `dir`, created (random, synced) at the first start.
fn instance_id(dir: &Path) -> Result<String, String> {
    let path = dir.join(INSTANCE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for an instance id: {e}"))?;
    let id = format!("nomp-{}", hex::encode(bytes));
    let written = File::create(&path)
        .and_then(|mut file| file.write_all(id.as_bytes()).and_then(|()| file.sync_all()));
    written.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_id_is_stable_and_a_second_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path()).unwrap();
        let id = first.instance().to_owned();
        assert!(id.starts_with("nomp-") && id.len() == 21, "{id}");
        let refused = DataDir::open(dir.path()).unwrap_err();
        assert!(refused.contains("another nomp is running"), "{refused}");
        drop(first);
        let again = DataDir::open(dir.path()).unwrap();
        assert_eq!(again.instance(), id, "the same id after a restart");
    }
}
