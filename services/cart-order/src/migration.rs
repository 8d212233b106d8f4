//! The `cart_order` schema.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261126_000001_init::Migration)]
    }
}

mod m20261126_000001_init {
    use sea_orm_migration::prelude::*;

    #[derive(DeriveMigrationName)]
    pub struct Migration;

    const SQL: &[&str] = &[
        // The catalog's prices as cart-order knows them (read model, fed by events).
        "CREATE TABLE catalog_prices (
            price_id         UUID PRIMARY KEY,
            course_id        UUID,
            program_id       UUID,
            department_id    TEXT NOT NULL,
            price_type       TEXT NOT NULL,
            currency         CHAR(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            amount_minor     BIGINT NOT NULL CHECK (amount_minor >= 0),
            billing_interval TEXT,
            active           BOOLEAN NOT NULL,
            effective_from   TIMESTAMPTZ NOT NULL,
            effective_until  TIMESTAMPTZ,
            changed_at       TIMESTAMPTZ NOT NULL,
            applied_count    INT NOT NULL DEFAULT 1
        )",
        "CREATE INDEX catalog_prices_course ON catalog_prices (course_id)",
        "CREATE INDEX catalog_prices_program ON catalog_prices (program_id)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let conn = manager.get_connection();
            db::execute_all(conn, bus::outbox::MIGRATION_SQL).await?;
            db::execute_all(conn, web::idempotency::MIGRATION_SQL).await?;
            db::execute_all(conn, SQL).await
        }
    }
}
