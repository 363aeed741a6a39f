//! Share accounting and payouts.
//!
//! This crate will hold the `ShareStore` trait with its embedded and Redis (NOMP key layout)
//! backends, the share writer that spools to disk while a store is down, the PROP payment
//! processor with orphan-round merging, and the payment journal that makes payouts
//! exactly-once.
