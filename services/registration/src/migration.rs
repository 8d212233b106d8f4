//! The `registration` schema.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_init::Migration),
            Box::new(m20261128_000002_currency_text::Migration),
            Box::new(m20261128_000003_unenrollments::Migration),
            Box::new(m20261128_000004_line_refunds::Migration),
            Box::new(m20261129_000005_subscriptions::Migration),
            Box::new(runtime::OutboundObservability {
                name: "m20261129_000006_outbound_observability",
                tables: &[crate::storage::DELIVERIES, crate::storage::UNENROLLMENTS],
            }),
            Box::new(runtime::OutboxHorizon {
                name: "m20261129_000007_outbox_horizon",
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
        "CREATE TABLE registrations (
            id                UUID PRIMARY KEY,
            user_id           TEXT NOT NULL,
            registration_type TEXT NOT NULL CHECK (registration_type IN ('course', 'program')),
            course_id         UUID NOT NULL,
            lms_course_id     TEXT NOT NULL,
            course_title      TEXT NOT NULL,
            program_id        UUID,
            department_id     TEXT NOT NULL,
            order_id          UUID NOT NULL,
            order_number      TEXT NOT NULL,
            order_item_index  INT NOT NULL,
            approval_required BOOLEAN NOT NULL,
            status            TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'enrolled', 'cancelled')),
            reviewed_by       TEXT,
            reviewed_at       TIMESTAMPTZ,
            rejection_reason  TEXT,
            enrollment_id     TEXT,
            instructor_id     TEXT NOT NULL,
            creator_id        TEXT NOT NULL,
            gross_minor       BIGINT NOT NULL,
            currency          CHAR(3) NOT NULL,
            purchased_at      TIMESTAMPTZ NOT NULL,
            created_at        TIMESTAMPTZ NOT NULL,
            updated_at        TIMESTAMPTZ NOT NULL,
            UNIQUE (order_id, order_item_index, course_id)
        )",
        "CREATE INDEX registrations_user ON registrations (user_id, id)",
        "CREATE INDEX registrations_queue ON registrations (status, department_id, id)",
        // One enrollment request per registration, delivered with retries; one idempotency id for
        // every attempt.
        "CREATE TABLE deliveries (
            registration_id   UUID PRIMARY KEY REFERENCES registrations (id),
            idempotency_id    UUID NOT NULL UNIQUE,
            status            TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts          INT NOT NULL DEFAULT 0,
            next_attempt_at   TIMESTAMPTZ NOT NULL,
            last_error        TEXT,
            lms_enrollment_id TEXT,
            delivered_at      TIMESTAMPTZ,
            updated_at        TIMESTAMPTZ NOT NULL
        )",
        "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending'",
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

    /// Currency codes as `TEXT` with a check: no more blank padding to trim.
    const CURRENCY_COLUMNS: &[(&str, &str)] = &[("registrations", "currency")];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::currency_columns_to_text(manager.get_connection(), CURRENCY_COLUMNS).await
        }
    }
}

mod m20261128_000003_unenrollments {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000003_unenrollments"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let conn = manager.get_connection();
            for sql in crate::storage::UNENROLLMENTS.create_sql(Some("registrations")) {
                conn.execute_unprepared(&sql).await?;
            }
            Ok(())
        }
    }
}

mod m20261128_000004_line_refunds {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000004_line_refunds"
        }
    }

    const SQL: &[&str] = &[
        // The order line a registration came from: refunds are issued per line.
        "ALTER TABLE registrations ADD COLUMN order_item_id UUID",
        "CREATE INDEX registrations_line ON registrations (order_item_id)",
        // Lines wholly refunded; a refund that overtakes the order's completion leaves its mark
        // here so that no registration (and no enrollment) is made for the line afterwards.
        "CREATE TABLE refunded_lines (
            order_item_id UUID PRIMARY KEY,
            order_id      UUID NOT NULL,
            refunded_at   TIMESTAMPTZ NOT NULL
        )",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261129_000005_subscriptions {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261129_000005_subscriptions"
        }
    }

    const SQL: &[&str] = &[
        // A course enrolled in through a department subscription (ENR-005): its access ends
        // with the subscription's.
        "ALTER TABLE registrations DROP CONSTRAINT registrations_registration_type_check,
             ADD CONSTRAINT registrations_registration_type_check
                 CHECK (registration_type IN ('course', 'program', 'subscription')),
             ADD COLUMN subscription_id UUID",
        "CREATE INDEX registrations_subscription ON registrations (subscription_id)
             WHERE subscription_id IS NOT NULL",
        // Subscriptions whose access ended: an enrollment through one that reaches us afterwards
        // makes no registration.
        "CREATE TABLE ended_subscriptions (
            subscription_id UUID PRIMARY KEY,
            ended_at        TIMESTAMPTZ NOT NULL
        )",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}
