//! MPOS compatibility.
//!
//! This crate will hold the MySQL share sink that writes every share to MPOS's `shares`
//! table, worker authorisation through `pool_worker` (with `checkPassword` and
//! `autoCreateWorker`), and vardiff updates of `pool_worker.difficulty`.
