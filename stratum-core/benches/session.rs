//! Inputs per second through the in-process miner session (the fuzz target's harness): a
//! typical connection (subscribe, authorise, ten shares hashed against a job, a suggested
//! difficulty, an unknown method) and a line of garbage.
//!
//! `cargo bench -p stratum-core --bench session`

use std::cell::Cell;

use divan::{Bencher, black_box};
use testkit::SessionHarness;

fn main() {
    divan::main();
}

/// A connection's bytes; `round` makes its nonces fresh, so no share is a duplicate.
fn typical(round: u32) -> String {
    let mut input = String::from(
        "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"bench\"]}\n\
         {\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"w.rig\",\"x\"]}\n",
    );
    for share in 0..10 {
        let nonce = round.wrapping_mul(10).wrapping_add(share);
        input.push_str(&format!(
            "{{\"id\":{},\"method\":\"mining.submit\",\"params\":[\"w.rig\",\"1\",\"00000000\",\"6553f164\",\"{nonce:08x}\"]}}\n",
            share + 3
        ));
    }
    input.push_str("{\"id\":20,\"method\":\"mining.suggest_difficulty\",\"params\":[64]}\n");
    input.push_str("{\"id\":21,\"method\":\"mining.bogus\",\"params\":[]}\n");
    input
}

#[divan::bench]
fn typical_connection(bencher: Bencher) {
    let harness = SessionHarness::new();
    let round = Cell::new(0);
    bencher
        .with_inputs(|| {
            round.set(round.get() + 1);
            typical(round.get())
        })
        .bench_local_refs(|input| harness.run(black_box(input.as_bytes())));
}

#[divan::bench]
fn garbage_line(bencher: Bencher) {
    let harness = SessionHarness::new();
    let input = b"\x00\xff{not json at all\n";
    bencher.bench_local(|| harness.run(black_box(input)));
}
