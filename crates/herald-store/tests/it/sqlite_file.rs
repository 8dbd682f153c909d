//! What SQLite's backend does with its files.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_store::{ConnectOptions, Store};

use crate::support::{add_endpoint, add_tenant, new_delivery, new_event, t};

/// A migrated SQLite store in a directory of its own, and the path of its database file.
async fn open_store() -> (tempfile::TempDir, PathBuf, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.db");
    let url = format!("sqlite://{}", file.display());
    let store = herald_store::connect(&url, &ConnectOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    (dir, file, store)
}

/// The writer never checkpoints (a commit would wait for the copy); the store's own checkpointer
/// copies committed writes from the WAL into the database file shortly after, while the store
/// stays open.
#[tokio::test]
async fn committed_writes_reach_the_database_file_without_the_writer_checkpointing() {
    let (dir, file, store) = open_store().await;
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

/// Under continuous writes and reads the WAL keeps starting over instead of growing by every
/// page ever written: after 160 MiB have gone through it into the database file, it has stayed
/// near its 16 MiB bound (measured: about 20 MiB; 80 MiB when it was left to the checkpointer).
#[tokio::test]
async fn the_wal_starts_over_under_continuous_writes() {
    const MIB: u64 = 1024 * 1024;
    let (dir, file, store) = open_store().await;
    let tenant = add_tenant(store.as_ref()).await;
    let endpoint = add_endpoint(store.as_ref(), &tenant).await;
    let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let wal = dir.path().join("herald.db-wal");

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..8 {
        let (store, endpoint, done) = (store.clone(), endpoint.clone(), done.clone());
        tasks.spawn(async move {
            // 64 KiB of payload per event: the volume goes through quickly, in few statements.
            let filler = serde_json::json!("x".repeat(64 * 1024));
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let mut event = new_event(&endpoint.tenant_id);
                event.data.insert("filler".into(), filler.clone());
                event.data.insert("writer".into(), serde_json::json!(writer));
                let delivery = new_delivery(&event, &endpoint, t(0));
                store.publish(&event, std::slice::from_ref(&delivery), None).await.unwrap();
            }
        });
    }
    {
        // Readers hold snapshots of the WAL while they run.
        let (store, tenant, done) = (store.clone(), tenant.clone(), done.clone());
        tasks.spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                store.tenant(&herald_core::tenant::TenantRef::Id(tenant.id.clone())).await.unwrap();
            }
        });
    }
    let mut largest_wal = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while size(&file) < 160 * MIB {
        assert!(Instant::now() < deadline, "160 MiB were not written in time");
        largest_wal = largest_wal.max(size(&wal));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    while let Some(task) = tasks.join_next().await {
        task.unwrap();
    }
    assert!(
        largest_wal < 40 * MIB,
        "the WAL grew to {} MiB while 160 MiB went through it",
        largest_wal / MIB
    );
}

/// Herald's SQLite database is a file: an in-memory one is refused by name, not opened (the group
/// commit's own connection would open a second, empty database).
#[tokio::test]
async fn an_in_memory_database_is_refused() {
    for url in ["sqlite::memory:", "sqlite://:memory:", "sqlite://herald.db?mode=memory&cache=shared"] {
        let refused = herald_store::connect(url, &ConnectOptions::default()).await.err();
        assert!(
            matches!(&refused, Some(herald_store::StoreError::UnsupportedUrl(named)) if named == url),
            "{url}: {refused:?}"
        );
    }
}
