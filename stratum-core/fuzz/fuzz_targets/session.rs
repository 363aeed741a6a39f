//! Fuzzes a miner session in-process: each input is the whole byte stream of one
//! connection, framed, read into typed requests and handled by the sans-IO session as the
//! server does (testkit's `SessionHarness`: no runtime, socket or daemon). Every line the
//! session sends must be JSON, and it must never panic.
//!
//! `cargo fuzz run session` (in stratum-core/), or without nightly:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run session`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use testkit::SessionHarness;

fn harness() -> &'static SessionHarness {
    static HARNESS: OnceLock<SessionHarness> = OnceLock::new();
    HARNESS.get_or_init(SessionHarness::new)
}

fuzz_target!(|data: &[u8]| {
    for line in harness().run(data) {
        if let Err(error) = serde_json::from_str::<serde_json::Value>(&line) {
            panic!("non-JSON line ({error}): {line}");
        }
    }
});
