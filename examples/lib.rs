//! Small programs that embed the nomp-rs crates; each is a file beside this one.
//!
//! - `hash_header`: hash a block header with any supported algorithm and show its
//!   difficulty: `cargo run -p nomp-examples --example hash_header -- scrypt <header hex>`.
