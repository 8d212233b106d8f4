//! The catalog schema. One migration per file would be the sea-orm habit; the catalog starts
//! with a single initial migration and adds files as it evolves.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_init::Migration),
            Box::new(m20261128_000002_currency_text::Migration),
            Box::new(runtime::OutboxHorizon {
                name: "m20261129_000003_outbox_horizon",
            }),
        ]
    }
}

mod m20261126_000001_init {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    // Named explicitly: the derive would name every migration of this file alike.
    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261126_000001_init"
        }
    }

    const SQL: &[&str] = &[
        "CREATE TABLE departments (
            id         TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            parent_id  TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
        "CREATE TABLE courses (
            id                UUID PRIMARY KEY,
            lms_course_id     TEXT NOT NULL UNIQUE,
            title             TEXT NOT NULL,
            description       TEXT NOT NULL DEFAULT '',
            department_id     TEXT NOT NULL,
            creator_id        TEXT NOT NULL,
            instructor_id     TEXT NOT NULL,
            approval_required BOOLEAN NOT NULL DEFAULT false,
            platform_bps      INT NOT NULL CHECK (platform_bps >= 0),
            creator_bps       INT NOT NULL CHECK (creator_bps >= 0),
            instructor_bps    INT NOT NULL CHECK (instructor_bps >= 0),
            available_from    TIMESTAMPTZ,
            available_until   TIMESTAMPTZ,
            published         BOOLEAN NOT NULL DEFAULT false,
            created_by        TEXT NOT NULL,
            created_at        TIMESTAMPTZ NOT NULL,
            updated_at        TIMESTAMPTZ NOT NULL,
            CHECK (platform_bps + creator_bps + instructor_bps = 10000),
            CHECK (available_until IS NULL OR available_from IS NULL OR available_until > available_from)
        )",
        "CREATE INDEX courses_department ON courses (department_id)",
        "CREATE TABLE programs (
            id              UUID PRIMARY KEY,
            title           TEXT NOT NULL,
            description     TEXT NOT NULL DEFAULT '',
            department_id   TEXT NOT NULL,
            available_from  TIMESTAMPTZ,
            available_until TIMESTAMPTZ,
            published       BOOLEAN NOT NULL DEFAULT false,
            created_by      TEXT NOT NULL,
            created_at      TIMESTAMPTZ NOT NULL,
            updated_at      TIMESTAMPTZ NOT NULL,
            CHECK (available_until IS NULL OR available_from IS NULL OR available_until > available_from)
        )",
        "CREATE TABLE program_courses (
            program_id UUID NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
            course_id  UUID NOT NULL REFERENCES courses (id),
            position   INT NOT NULL,
            PRIMARY KEY (program_id, position),
            UNIQUE (program_id, course_id)
        )",
        "CREATE TABLE prices (
            id               UUID PRIMARY KEY,
            course_id        UUID REFERENCES courses (id),
            program_id       UUID REFERENCES programs (id),
            department_id    TEXT NOT NULL,
            price_type       TEXT NOT NULL CHECK (price_type IN ('one-time', 'subscription', 'free')),
            currency         CHAR(3) NOT NULL,
            amount_minor     BIGINT NOT NULL CHECK (amount_minor >= 0),
            billing_interval TEXT CHECK (billing_interval IN ('monthly', 'quarterly', 'annual')),
            trial_days       INT CHECK (trial_days BETWEEN 0 AND 365),
            is_active        BOOLEAN NOT NULL DEFAULT true,
            effective_from   TIMESTAMPTZ NOT NULL,
            effective_until  TIMESTAMPTZ,
            created_by       TEXT NOT NULL,
            created_at       TIMESTAMPTZ NOT NULL,
            updated_at       TIMESTAMPTZ NOT NULL,
            CHECK (course_id IS NULL OR program_id IS NULL),
            CHECK (effective_until IS NULL OR effective_until > effective_from),
            CHECK ((price_type = 'free') = (amount_minor = 0))
        )",
        "CREATE INDEX prices_course ON prices (course_id) WHERE course_id IS NOT NULL",
        "CREATE INDEX prices_program ON prices (program_id) WHERE program_id IS NOT NULL",
        "CREATE INDEX prices_department ON prices (department_id)",
        // Price history is kept: a price is deactivated, never deleted.
        "CREATE FUNCTION prices_forbid_delete() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'prices are never deleted; deactivate them instead'; END $$",
        "CREATE TRIGGER prices_no_delete BEFORE DELETE ON prices
         FOR EACH ROW EXECUTE FUNCTION prices_forbid_delete()",
        "CREATE TABLE exchange_rates (
            currency   CHAR(3) PRIMARY KEY,
            rate       NUMERIC(20, 10) NOT NULL CHECK (rate > 0),
            updated_by TEXT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        )",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let conn = manager.get_connection();
            runtime::migrate_infrastructure(conn).await?;
            db::execute_all(conn, SQL).await
        }
    }
}

mod m20261128_000002_currency_text {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000002_currency_text"
        }
    }

    /// Currency codes as `TEXT` with a check, as in every other schema.
    const CURRENCY_COLUMNS: &[(&str, &str)] =
        &[("prices", "currency"), ("exchange_rates", "currency")];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::currency_columns_to_text(manager.get_connection(), CURRENCY_COLUMNS).await
        }
    }
}
