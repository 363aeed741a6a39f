//! The hash functions chained algorithms are built from, where no maintained crate has
//! them: each a one-call function over a byte slice, checked against its designers' test
//! vectors and, through the chains, against node-multi-hashing's outputs.

mod aes;
mod blake;
mod bmw;
mod cubehash;
mod echo;
mod fugue;
mod hamsi;
mod luffa;
mod shavite;
mod simd;

pub(crate) use blake::{blake256, blake512};
pub(crate) use bmw::bmw512;
pub(crate) use cubehash::cubehash512;
pub(crate) use echo::echo512;
pub(crate) use fugue::{fugue256, fugue512};
pub(crate) use hamsi::hamsi512;
pub(crate) use luffa::luffa512;
pub(crate) use shavite::shavite512;
pub(crate) use simd::simd512;
