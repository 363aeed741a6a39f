//! The share writer: a pool's events into a share store, never lost.

use std::sync::Arc;

use async_trait::async_trait;
use pool_events::{BatchTarget, DurableWriter, EventReceiver, TargetError, WriterOptions};
use tokio_util::sync::CancellationToken;

use crate::batch::{Batch, Record};
use crate::error::StoreError;
use crate::store::ShareStore;

/// Writes a pool's share and block events to a share store.
#[derive(Debug)]
pub struct ShareWriter;

struct StoreTarget(Arc<dyn ShareStore>);

#[async_trait]
impl BatchTarget<Record> for StoreTarget {
    async fn write(&self, batch: &Batch) -> Result<(), TargetError> {
        self.0.apply(batch).await?;
        Ok(())
    }
}

impl ShareWriter {
    /// Starts writing `events` to `store` in batches (see [`DurableWriter::spawn`]): a
    /// batch the store has applied before is skipped by the store, so replays after an
    /// outage count nothing twice. Fails to start only if the share log cannot be opened.
    pub fn spawn(
        store: Arc<dyn ShareStore>,
        events: EventReceiver,
        options: WriterOptions,
        cancel: CancellationToken,
    ) -> Result<DurableWriter, StoreError> {
        DurableWriter::spawn(
            Arc::new(StoreTarget(store)),
            events,
            Record::from_event,
            options,
            cancel,
        )
        .map_err(StoreError::Writer)
    }
}
