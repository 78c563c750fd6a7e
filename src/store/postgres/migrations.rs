//! Versioned schema migrations, applied at start.
//!
//! All of them run in ONE transaction that first takes a transaction-scoped advisory lock, so
//! replicas starting together apply each migration exactly once: the others wait on the lock, then
//! find the versions recorded in `mq_lease_schema` and apply nothing. A database whose newest
//! version this build does not know is refused (a newer build migrated it).

use tokio_postgres::Client;

/// `(version, sql)`, ascending. A new migration is a new file and a new line here; an applied
/// file is never edited.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    include_str!("../../../migrations/postgres/0001_init.sql"),
)];

/// The advisory lock key of the migrations ("mqlease1" as bytes).
const LOCK_KEY: i64 = 0x6d71_6c65_6173_6531;

/// Why migrating failed.
#[derive(Debug)]
pub(super) enum MigrateError {
    Db(tokio_postgres::Error),
    /// The database was migrated by a newer build.
    Newer {
        found: i32,
        known: i32,
    },
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Db(e)
    }
}

/// Applies the missing migrations; returns the versions it applied.
pub(super) async fn apply(client: &mut Client) -> Result<Vec<i32>, MigrateError> {
    let tx = client.transaction().await?;
    tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"))
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mq_lease_schema (\
           version integer PRIMARY KEY, \
           applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let applied: Vec<i32> = tx
        .query("SELECT version FROM mq_lease_schema", &[])
        .await?
        .iter()
        .map(|row| row.try_get::<_, i32>(0))
        .collect::<Result<_, _>>()?;
    let known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if let Some(&found) = applied.iter().max() {
        if found > known {
            return Err(MigrateError::Newer { found, known });
        }
    }
    let mut done = Vec::new();
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO mq_lease_schema (version) VALUES ($1)",
            &[version],
        )
        .await?;
        done.push(*version);
    }
    tx.commit().await?;
    if !done.is_empty() {
        log::info!("store: applied PostgreSQL schema migration(s) {done:?}");
    }
    Ok(done)
}
