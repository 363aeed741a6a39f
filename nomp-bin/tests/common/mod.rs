//! Helpers shared by the binary's tests.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers"
)]

use std::io::Write;
use std::process::{Command, Stdio};

/// What `nomp hash-password` prints for `password`.
pub(crate) fn hash_password(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nomp"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The body of the answer to `request`.
pub(crate) async fn text(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}
