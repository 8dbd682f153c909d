//! Rebuild when a migration changes: `sqlx::migrate!` embeds the files, and cargo does not see
//! them otherwise.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
