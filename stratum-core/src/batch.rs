//! Memory-hard share hashes on the blocking pool, the headers of shares that wait together
//! hashed in one pass ([`PowHasher::hash_many`]: four scrypt headers in one SIMD pass).
//!
//! At most one pass per core runs at a time; shares that arrive while every pass is busy
//! wait in the queue and go together into the next one, so batches fill exactly when the
//! pool is loaded, and a lone share on an idle pool is hashed at once, alone.

use std::sync::Arc;

use hashing::{PowHash, PowHasher};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// A header waiting for its hash.
struct Request {
    header: [u8; 80],
    answer: oneshot::Sender<PowHash>,
}

/// The queue of headers to hash; its task runs until the last handle is dropped.
pub(crate) struct HashBatcher {
    requests: mpsc::UnboundedSender<Request>,
}

/// The batcher's task is gone (it only ends when the pool is dropped, or if hashing
/// panicked): the share cannot be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pool's share hashing has stopped")]
pub(crate) struct HashingStopped;

impl HashBatcher {
    /// Starts the batcher on the current runtime with at most `passes` passes at once.
    pub(crate) fn start(hasher: PowHasher, passes: usize) -> HashBatcher {
        // Unbounded, yet bounded in practice: a connection waits for its share's hash
        // before it reads its next line, so the queue holds at most one per connection.
        let (requests, queue) = mpsc::unbounded_channel();
        // Not inside the caller's span: it logs nothing, and is woken for every share.
        tokio::spawn(run(
            Arc::new(hasher),
            queue,
            Arc::new(Semaphore::new(passes.max(1))),
        ));
        HashBatcher { requests }
    }

    /// The proof-of-work hash of `header`.
    pub(crate) async fn hash(&self, header: [u8; 80]) -> Result<PowHash, HashingStopped> {
        let (answer, hash) = oneshot::channel();
        self.requests
            .send(Request { header, answer })
            .map_err(|_| HashingStopped)?;
        hash.await.map_err(|_| HashingStopped)
    }
}

async fn run(
    hasher: Arc<PowHasher>,
    mut queue: mpsc::UnboundedReceiver<Request>,
    passes: Arc<Semaphore>,
) {
    while let Some(first) = queue.recv().await {
        let Ok(pass) = passes.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < PowHasher::LANES {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let hasher = hasher.clone();
        tokio::task::spawn_blocking(move || {
            let _pass = pass;
            let headers: Vec<&[u8]> = batch.iter().map(|r| &r.header[..]).collect();
            let hashes = hasher.hash_many(&headers).expect("headers are 80 bytes");
            for (request, hash) in batch.into_iter().zip(hashes) {
                // A closed answer is a connection that went away while its share was
                // hashed: its miner was never answered, so nothing it was told is lost.
                let _ = request.answer.send(hash);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use hashing::{Algorithm, HashOptions};

    use super::*;

    fn header(i: u8) -> [u8; 80] {
        let mut header = [7u8; 80];
        header[76] = i;
        header
    }

    #[tokio::test]
    async fn every_waiting_header_gets_its_own_hash() {
        let hasher = PowHasher::new(Algorithm::Scrypt, &HashOptions::default()).unwrap();
        let batcher = Arc::new(HashBatcher::start(hasher.clone(), 1));
        let tasks: Vec<_> = (0..11u8)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (i, batcher.hash(header(i)).await) })
            })
            .collect();
        for task in tasks {
            let (i, hash) = task.await.unwrap();
            assert_eq!(hash, Ok(hasher.hash(&header(i)).unwrap()), "header {i}");
        }
    }
}
