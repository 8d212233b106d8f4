//! The `notification` schema: what it knows of learners and orders (from events), and every send.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_init::Migration),
            Box::new(runtime::OutboundObservability {
                name: "m20261129_000002_outbound_observability",
                tables: &[crate::storage::DELIVERIES],
            }),
            Box::new(runtime::OutboxHorizon {
                name: "m20261129_000003_outbox_horizon",
            }),
        ]
    }
}

mod m20261128_000001_init {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000001_init"
        }
    }

    const SQL: &[&str] = &[
        // The address and name each learner's latest order carried (from the SSO token).
        "CREATE TABLE recipients (
            user_id     TEXT PRIMARY KEY,
            email       TEXT,
            name        TEXT,
            updated_at  TIMESTAMPTZ NOT NULL
        )",
        "CREATE TABLE orders (
            order_id      UUID PRIMARY KEY,
            order_number  TEXT NOT NULL,
            user_id       TEXT NOT NULL,
            -- The department of its first line: whose wording its emails use.
            department_id TEXT NOT NULL
        )",
        // The courses of each order, for the registration emails.
        "CREATE TABLE order_courses (
            order_id           UUID NOT NULL,
            course_id          UUID NOT NULL,
            lms_course_id      TEXT NOT NULL,
            title              TEXT NOT NULL,
            approval_required  BOOLEAN NOT NULL,
            department_id      TEXT NOT NULL,
            PRIMARY KEY (order_id, course_id)
        )",
        // One send per (what caused it, template, recipient), ever.
        "CREATE TABLE sends (
            id           UUID PRIMARY KEY,
            cause        TEXT NOT NULL,
            template     TEXT NOT NULL,
            user_id      TEXT NOT NULL,
            recipient    TEXT,
            subject      TEXT NOT NULL,
            html         TEXT NOT NULL,
            text         TEXT NOT NULL,
            -- A certificate whose PDF is attached (fetched from the certificate service at send).
            certificate_id UUID,
            status       TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'skipped')),
            reason       TEXT,
            created_at   TIMESTAMPTZ NOT NULL,
            updated_at   TIMESTAMPTZ NOT NULL,
            UNIQUE (cause, template, user_id)
        )",
        "CREATE INDEX sends_status ON sends (status, id DESC)",
        // What the provider said afterwards (delivered, bounced, dropped, complained).
        "ALTER TABLE sends ADD COLUMN provider_status TEXT, ADD COLUMN provider_at TIMESTAMPTZ",
        // Provider webhook events applied (SendGrid sg_event_id, Mailgun event id and tokens).
        "CREATE TABLE provider_events (
            id   TEXT PRIMARY KEY,
            at   TIMESTAMPTZ NOT NULL
        )",
        // A department's own wording of a template (validated when saved).
        "CREATE TABLE template_overrides (
            department_id  TEXT NOT NULL,
            template       TEXT NOT NULL,
            subject        TEXT NOT NULL,
            html           TEXT NOT NULL,
            text           TEXT NOT NULL,
            updated_by     TEXT NOT NULL,
            updated_at     TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (department_id, template)
        )",
        // Addresses that bounced hard or complained: later sends to them are skipped.
        "CREATE TABLE suppressions (
            email   TEXT PRIMARY KEY,
            reason  TEXT NOT NULL,
            at      TIMESTAMPTZ NOT NULL
        )",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let conn = manager.get_connection();
            runtime::migrate_infrastructure(conn).await?;
            db::execute_all(conn, SQL).await?;
            for sql in crate::storage::DELIVERIES.create_sql(Some("sends")) {
                conn.execute_unprepared(&sql).await?;
            }
            Ok(())
        }
    }
}
