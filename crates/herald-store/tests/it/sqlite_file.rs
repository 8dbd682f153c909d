//! What SQLite's backend does with its files.

use std::time::{Duration, Instant};

use herald_store::ConnectOptions;

use crate::support::add_tenant;

/// The writer never checkpoints (a commit would wait for the copy); the store's own checkpointer
/// copies committed writes from the WAL into the database file shortly after, while the store
/// stays open.
#[tokio::test]
async fn committed_writes_reach_the_database_file_without_the_writer_checkpointing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.db");
    let url = format!("sqlite://{}", file.display());
    let store = herald_store::connect(&url, &ConnectOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let tenant = add_tenant(store.as_ref()).await;
    let id = tenant.id.to_string();
    let in_file = || String::from_utf8_lossy(&std::fs::read(&file).unwrap()).contains(&id);
    let wal = std::fs::read(dir.path().join("herald.db-wal")).unwrap();
    assert!(String::from_utf8_lossy(&wal).contains(&id), "the commit is in the WAL");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !in_file() {
        assert!(Instant::now() < deadline, "the tenant never reached the database file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
