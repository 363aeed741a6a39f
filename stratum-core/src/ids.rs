//! Extranonce1 values and job ids, handed out by an allocator the pools that share miners
//! share.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    extranonce1: Arc<Extranonce1Space>,
    job: AtomicU64,
}

impl IdAllocator {
    /// An allocator for instance `instance_id` (only its low five bits are used).
    pub fn new(instance_id: u8) -> Self {
        let instance_id = instance_id & 0x1f;
        IdAllocator {
            instance_id,
            extranonce1: Extranonce1Space::new(
                EXTRANONCE1_SIZE,
                u64::from(instance_id) << 27,
                1 << 27,
            ),
            job: AtomicU64::new(1),
        }
    }

    /// An extranonce1 no live connection holds: the instance id in the top 5 bits, one of
    /// 2^27 values below; `None` while every one is held.
    pub fn allocate_extranonce1(&self) -> Option<Extranonce1Lease> {
        self.extranonce1.allocate()
    }

    /// A fresh job id: the instance id above a 32-bit counter.
    pub fn next_job_id(&self) -> JobId {
        let counter = self.job.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
        JobId(u64::from(self.instance_id) << 32 | counter)
    }
}

/// A space of extranonce1 values (`prefix` plus one of `capacity` counters, `size` bytes)
/// of which none is handed out twice while a connection holds it.
#[derive(Debug)]
pub struct Extranonce1Space {
    size: usize,
    prefix: u64,
    capacity: u64,
    live: Mutex<Live>,
}

#[derive(Debug, Default)]
struct Live {
    held: HashSet<u64>,
    /// Where the search for a free value starts: after the last one handed out, so a value
    /// just freed is the last to be reused.
    next: u64,
}

impl Extranonce1Space {
    /// `capacity` values of `size` bytes (at most 256^size), each `prefix | counter`.
    pub fn new(size: usize, prefix: u64, capacity: u64) -> Arc<Extranonce1Space> {
        let most = 1u64.checked_shl(8 * size as u32).unwrap_or(u64::MAX);
        Arc::new(Extranonce1Space {
            size,
            prefix,
            capacity: capacity.clamp(1, most),
            live: Mutex::default(),
        })
    }

    /// A value no live lease holds, held until the lease drops; `None` while all are held.
    pub fn allocate(self: &Arc<Self>) -> Option<Extranonce1Lease> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.held.len() as u64 >= self.capacity {
            return None;
        }
        let mut counter = live.next % self.capacity;
        while live.held.contains(&counter) {
            counter = (counter + 1) % self.capacity;
        }
        live.held.insert(counter);
        live.next = counter + 1;
        Some(Extranonce1Lease {
            value: Extranonce::from_counter(self.prefix | counter, self.size),
            counter,
            space: self.clone(),
        })
    }

    /// How many values live leases hold.
    pub fn in_use(&self) -> usize {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .held
            .len()
    }
}

/// An extranonce1 one connection holds; free again once this drops.
#[derive(Debug)]
pub struct Extranonce1Lease {
    value: Extranonce,
    counter: u64,
    space: Arc<Extranonce1Space>,
}

impl Extranonce1Lease {
    /// The value.
    pub fn value(&self) -> Extranonce {
        self.value
    }
}

impl Drop for Extranonce1Lease {
    fn drop(&mut self) {
        self.space
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .held
            .remove(&self.counter);
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
        let first = ids.allocate_extranonce1().unwrap();
        let second = ids.allocate_extranonce1().unwrap();
        assert_ne!(first.value(), second.value());
        assert_eq!(first.value().as_bytes()[0] >> 3, 3);
        assert_eq!(second.value().as_bytes()[0] >> 3, 3);
        assert_ne!(ids.next_job_id(), ids.next_job_id());
        assert_eq!(ids.next_job_id().0 >> 32, 3);
    }

    #[test]
    fn two_instances_never_share_an_extranonce1_or_a_job_id() {
        let (a, b) = (IdAllocator::new(1), IdAllocator::new(2));
        let mut held = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            for ids in [&a, &b] {
                let lease = ids.allocate_extranonce1().unwrap();
                assert!(seen.insert(lease.value()));
                held.push(lease);
            }
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

    #[test]
    fn a_full_space_refuses_until_a_value_is_freed_and_then_gives_that_one() {
        let space = Extranonce1Space::new(1, 0, 256);
        let mut live: Vec<Extranonce1Lease> = (0..256).map(|_| space.allocate().unwrap()).collect();
        assert!(space.allocate().is_none(), "all 256 held");
        let freed = live.swap_remove(17).value();
        assert_eq!(space.allocate().unwrap().value(), freed);
    }

    proptest::proptest! {
        /// Whatever the order of connects and disconnects, no two live leases share a value,
        /// and a lease is refused only while every value is held.
        #[test]
        fn no_two_live_connections_ever_share_an_extranonce1(
            steps in proptest::collection::vec(proptest::prelude::any::<(bool, u16)>(), 1..2000)
        ) {
            let space = Extranonce1Space::new(1, 0, 256);
            let mut live: Vec<Extranonce1Lease> = Vec::new();
            for (connect, pick) in steps {
                if connect || live.is_empty() {
                    match space.allocate() {
                        Some(lease) => {
                            proptest::prop_assert!(live.iter().all(|l| l.value() != lease.value()));
                            live.push(lease);
                        }
                        None => proptest::prop_assert_eq!(live.len(), 256),
                    }
                } else {
                    live.swap_remove(usize::from(pick) % live.len());
                }
                proptest::prop_assert_eq!(space.in_use(), live.len());
            }
        }
    }
}
