//! The `payout` schema: the revenue ledger (append-only, enforced by triggers), its deliveries
//! to the Payout Platform, and the enrollments the reports count.

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
        // One row per paid course line (`revenue`) and per refund of one (`reversal`, negative
        // amounts). Amounts in the order's currency and in the settlement currency.
        "CREATE TABLE ledger_entries (
            seq                 BIGSERIAL UNIQUE,
            id                  UUID PRIMARY KEY,
            kind                TEXT NOT NULL CHECK (kind IN ('revenue', 'reversal')),
            reverses            UUID REFERENCES ledger_entries (id),
            refund_id           UUID,
            refund_reason       TEXT,
            line_full           BOOLEAN NOT NULL DEFAULT false,
            order_id            UUID NOT NULL,
            order_number        TEXT NOT NULL,
            order_item_id       UUID NOT NULL,
            payment_id          UUID,
            transaction_id      TEXT NOT NULL,
            course_id           UUID NOT NULL,
            lms_course_id       TEXT NOT NULL,
            course_name         TEXT NOT NULL,
            department_id       TEXT NOT NULL,
            learner_id          TEXT NOT NULL,
            instructor_id       TEXT NOT NULL,
            content_creator_id  TEXT NOT NULL,
            currency            TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            gross_minor         BIGINT NOT NULL,
            fee_minor           BIGINT NOT NULL,
            net_minor           BIGINT NOT NULL,
            platform_minor      BIGINT NOT NULL,
            creator_minor       BIGINT NOT NULL,
            instructor_minor    BIGINT NOT NULL,
            platform_bps        INT NOT NULL,
            creator_bps         INT NOT NULL,
            instructor_bps      INT NOT NULL,
            settlement_currency TEXT NOT NULL CHECK (settlement_currency ~ '^[A-Z]{3}$'),
            exchange_rate       NUMERIC NOT NULL CHECK (exchange_rate > 0),
            s_gross_minor       BIGINT NOT NULL,
            s_fee_minor         BIGINT NOT NULL,
            s_net_minor         BIGINT NOT NULL,
            s_platform_minor    BIGINT NOT NULL,
            s_creator_minor     BIGINT NOT NULL,
            s_instructor_minor  BIGINT NOT NULL,
            -- What the order's payment captured (the same on every entry of the order), so the
            -- ledger can prove its entries make exactly that.
            captured_minor      BIGINT NOT NULL,
            s_captured_minor    BIGINT NOT NULL,
            recorded_at         TIMESTAMPTZ NOT NULL,
            created_at          TIMESTAMPTZ NOT NULL,
            CHECK (net_minor = gross_minor - fee_minor),
            CHECK (platform_minor + creator_minor + instructor_minor = net_minor),
            CHECK (s_net_minor = s_gross_minor - s_fee_minor),
            CHECK (s_platform_minor + s_creator_minor + s_instructor_minor = s_net_minor),
            CHECK (platform_bps + creator_bps + instructor_bps = 10000),
            CHECK ((kind = 'revenue') = (reverses IS NULL AND refund_id IS NULL)),
            CHECK (kind = 'revenue' OR gross_minor <= 0)
        )",
        "CREATE UNIQUE INDEX ledger_revenue_once ON ledger_entries (order_item_id, course_id)
            WHERE kind = 'revenue'",
        "CREATE UNIQUE INDEX ledger_reversal_once ON ledger_entries (refund_id, reverses)
            WHERE kind = 'reversal'",
        "CREATE INDEX ledger_order ON ledger_entries (order_id)",
        "CREATE INDEX ledger_item ON ledger_entries (order_item_id)",
        "CREATE INDEX ledger_reverses ON ledger_entries (reverses) WHERE reverses IS NOT NULL",
        "CREATE INDEX ledger_course ON ledger_entries (course_id, recorded_at)",
        "CREATE INDEX ledger_creator ON ledger_entries (content_creator_id, recorded_at)",
        "CREATE INDEX ledger_instructor ON ledger_entries (instructor_id, recorded_at)",
        "CREATE INDEX ledger_recorded ON ledger_entries (recorded_at, seq)",
        // Append-only: the database itself refuses to change or remove an entry.
        "CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             RAISE EXCEPTION 'ledger entries are append-only (% refused)', TG_OP
                 USING ERRCODE = 'integrity_constraint_violation';
         END $$",
        "CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger_entries
            FOR EACH ROW EXECUTE FUNCTION ledger_append_only()",
        "CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger_entries
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()",
        // One webhook per entry to the Payout Platform: one stable id, retried, parked, redriven.
        "CREATE TABLE deliveries (
            entry_id           UUID PRIMARY KEY REFERENCES ledger_entries (id),
            idempotency_id     UUID NOT NULL UNIQUE,
            status             TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts           INT NOT NULL DEFAULT 0,
            next_attempt_at    TIMESTAMPTZ NOT NULL,
            last_error         TEXT,
            payout_entry_id    TEXT,
            delivered_at       TIMESTAMPTZ,
            updated_at         TIMESTAMPTZ NOT NULL
        )",
        "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending'",
        // Registrations as their events tell them: the reports' enrollment and learner counts.
        "CREATE TABLE enrollments (
            registration_id UUID PRIMARY KEY,
            user_id         TEXT NOT NULL,
            course_id       UUID NOT NULL,
            department_id   TEXT NOT NULL,
            status          TEXT NOT NULL,
            enrolled_at     TIMESTAMPTZ,
            cancelled_at    TIMESTAMPTZ,
            changed_at      TIMESTAMPTZ NOT NULL
        )",
        "CREATE INDEX enrollments_course ON enrollments (course_id, enrolled_at)",
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
