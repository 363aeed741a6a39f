//! Small programs that embed the nomp-rs crates; each is a file beside this one.
//!
//! - `hash_header`: hash a block header with any supported algorithm and show its
//!   difficulty: `cargo run -p nomp-examples --example hash_header -- scrypt <header hex>`.

/// The resident memory of `process` (`"self"` or a process id) in KiB, read from
/// `/proc/<process>/status`; `None` where that cannot be read (not Linux).
pub fn resident_kib(process: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.split_whitespace().next()?.parse().ok()
}
