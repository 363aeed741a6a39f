//! The service unit in `contrib/` is one systemd accepts without a warning, and what it runs
//! is this binary's own command line.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::path::Path;
use std::process::Command;

#[test]
fn the_systemd_unit_verifies_and_runs_commands_nomp_has() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/nomp.service"),
    )
    .unwrap();
    // Verified with this build in place of the installed binary, which must exist for
    // systemd-analyze to accept the unit.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nomp.service");
    let nomp = env!("CARGO_BIN_EXE_nomp");
    std::fs::write(&path, unit.replace("/usr/local/bin/nomp", nomp)).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze: {e}; scripts/install-deps.sh installs it (package systemd)")
        });
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{said}");
    assert!(said.trim().is_empty(), "warnings: {said}");

    // Every nomp command line of the unit parses: its subcommand exists with those flags.
    for line in unit.lines().filter(|l| l.starts_with("Exec")) {
        let command = line.split_once('=').unwrap().1;
        let mut words = command.split_whitespace();
        assert_eq!(words.next(), Some("/usr/local/bin/nomp"), "{line}");
        let args: Vec<&str> = words.collect();
        let output = Command::new(nomp)
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for needed in [
        "User=nomp",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(needed), "{needed}");
    }
    let files: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(files >= 65_535, "LimitNOFILE={files}");
}
