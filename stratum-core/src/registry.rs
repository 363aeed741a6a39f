//! The jobs a pool keeps for late shares, and the feed that makes a job current.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use crate::job::{Job, JobId};

/// Jobs kept for late shares; older ones answer "job not found".
const KEPT_JOBS: usize = 16;

/// The jobs shares may still be submitted against, newest last.
#[derive(Default)]
pub(crate) struct JobRegistry {
    kept: RwLock<Kept>,
}

#[derive(Default)]
struct Kept {
    jobs: HashMap<JobId, Arc<Job>>,
    order: VecDeque<JobId>,
}

impl Kept {
    fn clear(&mut self) {
        self.jobs.clear();
        self.order.clear();
    }
}

impl JobRegistry {
    /// The job `id`, if it is still kept.
    pub(crate) fn get(&self, id: JobId) -> Option<Arc<Job>> {
        self.read().jobs.get(&id).cloned()
    }

    /// The newest job.
    pub(crate) fn latest(&self) -> Option<Arc<Job>> {
        let kept = self.read();
        kept.jobs.get(kept.order.back()?).cloned()
    }

    fn insert(&self, job: Arc<Job>) {
        let mut kept = self.kept.write().unwrap_or_else(|p| p.into_inner());
        if job.clean {
            kept.clear();
        }
        kept.order.push_back(job.id);
        kept.jobs.insert(job.id, job);
        while kept.order.len() > KEPT_JOBS {
            if let Some(old) = kept.order.pop_front() {
                kept.jobs.remove(&old);
            }
        }
    }

    fn clear(&self) {
        self.kept.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Kept> {
        self.kept.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a work source (template polling, an upstream connection) publishes jobs through:
/// kept in the registry for shares, then sent to every connection. Connections see the
/// feed close when it is dropped (the source stopped).
pub(crate) struct JobFeed {
    registry: Arc<JobRegistry>,
    current: watch::Sender<Option<Arc<Job>>>,
}

impl JobFeed {
    /// A feed into `registry`, and the receiver connections follow.
    pub(crate) fn new(registry: Arc<JobRegistry>) -> (JobFeed, watch::Receiver<Option<Arc<Job>>>) {
        let (current, receiver) = watch::channel(None);
        (JobFeed { registry, current }, receiver)
    }

    /// Makes `job` the current job: kept for shares, then sent to every miner.
    pub(crate) fn publish(&self, job: Job) {
        let job = Arc::new(job);
        self.registry.insert(job.clone());
        tracing::debug!(job = %job.id, height = job.height(), clean = job.clean, "new job");
        self.current.send_replace(Some(job));
    }

    /// Forgets every job (upstream mode, when the upstream connection is lost: their
    /// shares could reach no one), so shares for them are answered "job not found".
    pub(crate) fn void(&self) {
        self.registry.clear();
        self.current.send_replace(None);
    }
}
