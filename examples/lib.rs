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

/// The CPU time (user and system) `process` (`"self"` or a process id) has used, read from
/// `/proc/<process>/stat`; `None` where that cannot be read (not Linux).
pub fn cpu_time(process: &str) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports CPU time in USER_HZ, 100 per second on every common build.
    Some(std::time::Duration::from_millis(ticks * 10))
}
