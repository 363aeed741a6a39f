//! The web portal.
//!
//! This crate will hold the axum web site and its NOMP-compatible JSON API, the stats job
//! and its history, live updates over server-sent events, the admin center and the
//! Prometheus metrics endpoint.
