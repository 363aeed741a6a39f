use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

/// A small private filesystem (a tmpfs) that a test can fill up, make read-only and free
/// again: a real disk-full or read-only disk for the code under test, not a mock.
///
/// Mounting needs root (CI runs as root); without it, [`SmallDisk::mount`] panics and
/// says so. Unmounted when dropped.
#[derive(Debug)]
pub struct SmallDisk {
    /// Holds the mount point (`disk` inside it).
    dir: TempDir,
    filler: u32,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` (rounded up to pages) in a fresh temporary directory.
    pub fn mount(bytes: u64) -> SmallDisk {
        let dir = tempfile::tempdir().expect("testkit: cannot create a temporary directory");
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).expect("testkit: cannot create a mount point");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0777"),
                "tmpfs",
            ])
            .arg(&mount)
            .status();
        match status {
            Ok(status) if status.success() => {}
            other => panic!(
                "testkit: cannot mount a {bytes}-byte tmpfs at {} ({other:?}); the disk-full \
                 tests need root, as CI runs them (run `scripts/test.sh` as root)",
                mount.display()
            ),
        }
        SmallDisk { dir, filler: 0 }
    }

    /// The filesystem's root directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("disk")
    }

    /// Fills the filesystem to the last byte with a filler file: every later write fails
    /// with "No space left on device" until [`SmallDisk::free`].
    pub fn fill(&mut self) {
        self.filler += 1;
        let filler = self.path().join(format!(".filler-{}", self.filler));
        // dd stops at ENOSPC, which is the point: its exit status says nothing here.
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=4096"])
            .arg(format!("of={}", filler.display()))
            .output();
        // The last partial block may still fit.
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=1", "oflag=append", "conv=notrunc"])
            .arg(format!("of={}", filler.display()))
            .output();
    }

    /// Removes every filler file: the space is there again.
    pub fn free(&mut self) {
        for n in 1..=self.filler {
            let _ = std::fs::remove_file(self.path().join(format!(".filler-{n}")));
        }
        self.filler = 0;
    }

    /// Remounts read-only (`true`) or read-write (`false`).
    pub fn set_read_only(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let status = Command::new("mount")
            .args(["-o", mode])
            .arg(self.path())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "testkit: cannot {mode} {}",
            self.path().display()
        );
    }

    /// Bytes free on the filesystem.
    pub fn available(&self) -> u64 {
        let output = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .expect("testkit: cannot run df");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily, so an open file of a process still running cannot keep it mounted.
        // The temporary directory goes after this, with the fields.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}
