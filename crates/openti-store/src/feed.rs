//! The change feed: after each commit the store publishes what changed, with the sequence
//! number the durable `changes` table gave it. The matcher learns of changes only from here.
//!
//! Readers that must see every write acknowledged so far (the ingest path: "a new IOC is
//! effective for the next event") read [`ChangeFeed::committed`] and wait until the matcher
//! has applied that sequence — no polling interval, no sleep.

use std::sync::Arc;

use openti_model::{AlertDefinition, IndicatorOfCompromise};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// One entity change, carrying the entity as committed so subscribers need no read-back.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    DefinitionUpserted(AlertDefinition),
    /// The definition and all its IOCs are gone.
    DefinitionDeleted(i64),
    /// Every definition (and so every IOC) of the tenant is gone.
    DefinitionsCleared,
    IocUpserted(IndicatorOfCompromise),
    IocDeleted(i64),
    /// Every IOC of one definition is gone.
    IocsOfDefinitionDeleted(i64),
    /// Every IOC of the tenant is gone.
    IocsCleared,
}

/// The changes of one committed transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeBatch {
    /// Sequence number of the transaction's last change.
    pub seq: i64,
    pub tenant_id: Uuid,
    pub changes: Vec<Change>,
}

/// Publishes committed change batches to every subscriber.
pub struct ChangeFeed {
    sender: broadcast::Sender<Arc<ChangeBatch>>,
    committed: watch::Sender<i64>,
}

impl ChangeFeed {
    pub fn new(initial_seq: i64) -> Self {
        // Large enough for bursts of bulk uploads; a subscriber that still lags reloads a snapshot.
        let (sender, _) = broadcast::channel(4096);
        let (committed, _) = watch::channel(initial_seq);
        ChangeFeed { sender, committed }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeBatch>> {
        self.sender.subscribe()
    }

    /// The sequence of the last committed change.
    pub fn committed(&self) -> i64 {
        *self.committed.borrow()
    }

    /// Called by the store right after a commit, in commit order.
    pub fn publish(&self, batch: ChangeBatch) {
        let seq = batch.seq;
        self.committed.send_if_modified(|current| {
            if seq > *current {
                *current = seq;
                true
            } else {
                false
            }
        });
        // No subscribers is fine (e.g. the CLI).
        let _ = self.sender.send(Arc::new(batch));
    }
}
