//! The PostgreSQL store against a real throw-away PostgreSQL cluster (tests/common/pg.rs).

mod common;

use common::pg::PgCluster;
use mq_lease_service::store::PgStore;

#[tokio::test]
async fn connect_creates_the_schema_and_load_all_on_a_new_database_is_empty() {
    let pg = PgCluster::start();

    let store = PgStore::connect(&pg.url()).await.unwrap();

    assert_eq!(store.load_all().await.unwrap(), Vec::new());
    assert_eq!(pg.psql("SELECT version FROM mq_lease_schema"), "1");
}
