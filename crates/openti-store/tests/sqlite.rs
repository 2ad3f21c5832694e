//! The SQLite store against the store conformance suite, plus what only a file-backed store
//! can show: acknowledged writes survive reopening.

use std::sync::Arc;

use openti_store::conformance::{definition_draft, run_all};
use openti_store::sqlite::SqliteStore;
use openti_store::{Quotas, Store};

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    run_all(Arc::new(SqliteStore::in_memory().await.expect("in-memory store"))).await;
}

#[tokio::test]
async fn acknowledged_writes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openti.db");
    let (tenant, id) = {
        let store = SqliteStore::open(&path).await.unwrap();
        let tenant = store.create_tenant("durable", Quotas::default(), chrono::Utc::now()).await.unwrap().id;
        let id = store.create_definitions(tenant, &[definition_draft("Kept.")], "t", chrono::Utc::now()).await.unwrap()[0].id;
        (tenant, id)
        // dropped without any shutdown step
    };
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.get_definition(tenant, id).await.unwrap().map(|d| d.title), Some("Kept.".into()));
    assert!(store.feed().committed() > 0, "the change sequence continues after a restart");
}
