//! Extranonce1 values and job ids, handed out by an allocator the pools that share miners
//! share.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::coinbase::EXTRANONCE1_SIZE;
use crate::extranonce::Extranonce;
use crate::job::JobId;

/// Hands out extranonce1 values and job ids, unique among the pools that use it.
///
/// Pools a switching port moves miners between must share one: a moved miner then never
/// shares its extranonce1 with the new pool's own miners, and a share for a job of the
/// pool it just left can never name a job of its new pool. The instance id (0–31) goes in
/// the top five bits of every extranonce1 and above the 32-bit counter of every job id, so
/// front-ends sharing a store never hand out the same work or name a job alike.
#[derive(Debug)]
pub struct IdAllocator {
    instance_id: u8,
    extranonce1: AtomicU32,
    job: AtomicU64,
}

impl IdAllocator {
    /// An allocator for instance `instance_id` (only its low five bits are used).
    pub fn new(instance_id: u8) -> Self {
        IdAllocator {
            instance_id: instance_id & 0x1f,
            extranonce1: AtomicU32::new(0),
            job: AtomicU64::new(1),
        }
    }

    /// A fresh extranonce1: the instance id in the top 5 bits, a counter below (wrapping
    /// after 2^27 connections).
    pub fn next_extranonce1(&self) -> Extranonce {
        let counter = self.extranonce1.fetch_add(1, Ordering::Relaxed) & 0x07ff_ffff;
        let bytes: [u8; EXTRANONCE1_SIZE] =
            (u32::from(self.instance_id) << 27 | counter).to_be_bytes();
        Extranonce::from_slice(&bytes).expect("4 bytes fit")
    }

    /// The instance id.
    pub fn instance_id(&self) -> u8 {
        self.instance_id
    }

    /// A fresh job id: the instance id above a 32-bit counter.
    pub fn next_job_id(&self) -> JobId {
        let counter = self.job.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
        JobId(u64::from(self.instance_id) << 32 | counter)
    }
}

impl Default for IdAllocator {
    fn default() -> Self {
        IdAllocator::new(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_id_tops_every_extranonce1_and_ids_never_repeat() {
        let ids = IdAllocator::new(3);
        let first = ids.next_extranonce1();
        let second = ids.next_extranonce1();
        assert_ne!(first, second);
        assert_eq!(first.as_bytes()[0] >> 3, 3);
        assert_eq!(second.as_bytes()[0] >> 3, 3);
        assert_ne!(ids.next_job_id(), ids.next_job_id());
        assert_eq!(ids.next_job_id().0 >> 32, 3);
    }

    #[test]
    fn two_instances_never_share_an_extranonce1_or_a_job_id() {
        let (a, b) = (IdAllocator::new(1), IdAllocator::new(2));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(a.next_extranonce1()));
            assert!(seen.insert(b.next_extranonce1()));
        }
        let jobs: std::collections::HashSet<JobId> = (0..1000)
            .flat_map(|_| [a.next_job_id(), b.next_job_id()])
            .collect();
        assert_eq!(jobs.len(), 2000);
    }

    #[test]
    fn separate_allocators_are_independent() {
        let (a, b) = (IdAllocator::new(0), IdAllocator::new(0));
        assert_eq!(a.next_job_id(), b.next_job_id());
    }
}
