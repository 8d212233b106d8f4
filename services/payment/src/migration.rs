//! The `payment` schema. Payments and their audit log are financial records: the database
//! itself refuses to delete them or to change an amount.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_init::Migration),
            Box::new(m20261128_000002_currency_text::Migration),
            Box::new(m20261128_000003_processor_fee::Migration),
            Box::new(m20261128_000004_refunds::Migration),
            Box::new(m20261128_000005_refund_requests::Migration),
            Box::new(m20261128_000006_line_refund_requests::Migration),
            Box::new(m20261128_000007_disputes::Migration),
            Box::new(m20261128_000008_stripe::Migration),
            Box::new(m20261128_000009_line_refunds::Migration),
            Box::new(m20261128_000010_payment_reviews::Migration),
            Box::new(m20261129_000011_velocity::Migration),
            Box::new(m20261129_000012_reconciliation::Migration),
            Box::new(m20261129_000013_subscriptions::Migration),
            Box::new(runtime::OutboxHorizon {
                name: "m20261129_000014_outbox_horizon",
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
        "CREATE TABLE payments (
            id                  UUID PRIMARY KEY,
            order_id            UUID NOT NULL,
            user_id             TEXT NOT NULL,
            processor           TEXT NOT NULL,
            processor_intent_id TEXT NOT NULL UNIQUE,
            client_secret       TEXT,
            amount_minor        BIGINT NOT NULL CHECK (amount_minor > 0),
            currency            CHAR(3) NOT NULL,
            status              TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'succeeded', 'failed', 'cancelled')),
            failure_reason      TEXT,
            transaction_id      TEXT,
            created_at          TIMESTAMPTZ NOT NULL,
            updated_at          TIMESTAMPTZ NOT NULL,
            processed_at        TIMESTAMPTZ
        )",
        // At most one live payment per order: a second intent waits for the first to fail.
        "CREATE UNIQUE INDEX payments_one_live_per_order ON payments (order_id) WHERE status <> 'failed' AND status <> 'cancelled'",
        "CREATE INDEX payments_user ON payments (user_id, id)",
        "CREATE FUNCTION payments_guard() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF TG_OP = 'DELETE' THEN
             RAISE EXCEPTION 'payments are never deleted';
           END IF;
           IF NEW.id <> OLD.id OR NEW.order_id <> OLD.order_id OR NEW.user_id <> OLD.user_id
              OR NEW.amount_minor <> OLD.amount_minor OR NEW.currency <> OLD.currency
              OR NEW.processor <> OLD.processor OR NEW.processor_intent_id <> OLD.processor_intent_id
              OR NEW.created_at <> OLD.created_at THEN
             RAISE EXCEPTION 'a payment''s identity and amount never change';
           END IF;
           IF OLD.status IN ('succeeded', 'failed', 'cancelled') AND NEW.status <> OLD.status THEN
             RAISE EXCEPTION 'a settled payment does not change status (% -> %)', OLD.status, NEW.status;
           END IF;
           RETURN NEW;
         END $$",
        "CREATE TRIGGER payments_immutable BEFORE UPDATE OR DELETE ON payments FOR EACH ROW EXECUTE FUNCTION payments_guard()",
        "CREATE TABLE payment_audit (
            id          BIGSERIAL PRIMARY KEY,
            payment_id  UUID NOT NULL REFERENCES payments (id),
            action      TEXT NOT NULL,
            actor       TEXT NOT NULL,
            from_status TEXT,
            to_status   TEXT,
            detail      JSONB NOT NULL DEFAULT '{}',
            at          TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
        "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
        "CREATE TRIGGER payment_audit_append_only BEFORE UPDATE OR DELETE ON payment_audit
         FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
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
    const CURRENCY_COLUMNS: &[(&str, &str)] = &[("payments", "currency")];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::currency_columns_to_text(manager.get_connection(), CURRENCY_COLUMNS).await
        }
    }
}

mod m20261128_000003_processor_fee {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000003_processor_fee"
        }
    }

    const SQL: &[&str] = &[
        // What the processor kept of a capture; the revenue ledger allocates it over the lines.
        "ALTER TABLE payments ADD COLUMN processor_fee_minor BIGINT CHECK (processor_fee_minor >= 0)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000004_refunds {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000004_refunds"
        }
    }

    const SQL: &[&str] = &[
        // A refund holds its share of the capture while `processing` or `succeeded`; the cap is
        // checked under the payment's row lock. `idempotency_key` (caller-scoped) makes a retried
        // request find its refund instead of making a second one.
        "CREATE TABLE refunds (
            id                  UUID PRIMARY KEY,
            payment_id          UUID NOT NULL REFERENCES payments (id),
            amount_minor        BIGINT NOT NULL CHECK (amount_minor > 0),
            currency            TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            status              TEXT NOT NULL CHECK (status IN ('processing', 'succeeded', 'failed')),
            reason              TEXT NOT NULL,
            approved_by         TEXT NOT NULL,
            idempotency_key     TEXT UNIQUE,
            processor_refund_id TEXT,
            failure_reason      TEXT,
            created_at          TIMESTAMPTZ NOT NULL,
            updated_at          TIMESTAMPTZ NOT NULL
        )",
        "CREATE INDEX refunds_payment ON refunds (payment_id, status)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000005_refund_requests {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000005_refund_requests"
        }
    }

    const SQL: &[&str] = &[
        // Learners ask, billing-admins decide (ADR-001). One open request per order.
        "CREATE TABLE refund_requests (
            id              UUID PRIMARY KEY,
            payment_id      UUID NOT NULL REFERENCES payments (id),
            order_id        UUID NOT NULL,
            user_id         TEXT NOT NULL,
            amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
            currency        TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            reason          TEXT NOT NULL,
            status          TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'rejected')),
            requested_by    TEXT NOT NULL,
            decided_by      TEXT,
            decision_reason TEXT,
            refund_id       UUID REFERENCES refunds (id),
            created_at      TIMESTAMPTZ NOT NULL,
            updated_at      TIMESTAMPTZ NOT NULL
        )",
        "CREATE UNIQUE INDEX refund_requests_one_open_per_order ON refund_requests (order_id)
             WHERE status = 'requested'",
        "CREATE INDEX refund_requests_queue ON refund_requests (status, id)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000006_line_refund_requests {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000006_line_refund_requests"
        }
    }

    const SQL: &[&str] = &[
        // A rejected registration asks for the refund of its own line (REG-009): one request per
        // registration; a learner's request for the whole order stays one open per order.
        "ALTER TABLE refund_requests ADD COLUMN registration_id UUID UNIQUE",
        "DROP INDEX refund_requests_one_open_per_order",
        "CREATE UNIQUE INDEX refund_requests_one_open_per_order ON refund_requests (order_id)
             WHERE status = 'requested' AND registration_id IS NULL",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000007_disputes {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000007_disputes"
        }
    }

    const SQL: &[&str] = &[
        // A chargeback on a captured payment: recorded once, shown to billing-admins.
        "ALTER TABLE payments ADD COLUMN dispute_id TEXT, ADD COLUMN dispute_reason TEXT,
             ADD COLUMN disputed_at TIMESTAMPTZ",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000008_stripe {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000008_stripe"
        }
    }

    const SQL: &[&str] = &[
        // How the learner paid (from the processor's charge), and the number of confirmation
        // attempts: each attempt is one idempotent request to the processor.
        "ALTER TABLE payments ADD COLUMN method_type TEXT CHECK (method_type IN ('card', 'google_pay')),
             ADD COLUMN confirm_attempts INT NOT NULL DEFAULT 0 CHECK (confirm_attempts >= 0)",
        // One customer per learner at each processor account, created once.
        "CREATE TABLE processor_customers (
            account     TEXT NOT NULL,
            user_id     TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            created_at  TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (account, user_id)
        )",
        // A processor refund is recorded once, whoever made it (us, or the processor's dashboard).
        "CREATE UNIQUE INDEX refunds_processor_refund ON refunds (processor_refund_id)
             WHERE processor_refund_id IS NOT NULL",
        "CREATE INDEX refunds_in_flight ON refunds (updated_at) WHERE status = 'processing'",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000009_line_refunds {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000009_line_refunds"
        }
    }

    const SQL: &[&str] = &[
        // What each order line cost, recorded with the payment: refunds are split over these.
        "CREATE TABLE payment_lines (
            payment_id    UUID NOT NULL REFERENCES payments (id),
            order_item_id UUID NOT NULL,
            position      INT NOT NULL,
            amount_minor  BIGINT NOT NULL CHECK (amount_minor >= 0),
            PRIMARY KEY (payment_id, order_item_id)
        )",
        // Each refund's exact split over the lines (largest remainder; sums to the refund).
        "CREATE TABLE refund_lines (
            refund_id     UUID NOT NULL REFERENCES refunds (id),
            order_item_id UUID NOT NULL,
            amount_minor  BIGINT NOT NULL CHECK (amount_minor > 0),
            PRIMARY KEY (refund_id, order_item_id)
        )",
        "CREATE INDEX refund_lines_item ON refund_lines (order_item_id)",
        "ALTER TABLE refund_requests ADD COLUMN order_item_ids UUID[] NOT NULL DEFAULT '{}'",
        // Each processor event id is applied once, however often the processor delivers it.
        "CREATE TABLE processor_events (
            processor   TEXT NOT NULL,
            event_id    TEXT NOT NULL,
            event_type  TEXT NOT NULL,
            received_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (processor, event_id)
        )",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000010_payment_reviews {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000010_payment_reviews"
        }
    }

    const SQL: &[&str] = &[
        // Learners whose declined attempts tripped the velocity check: one open review each,
        // cleared by a billing-admin (declines before the clearing no longer count).
        "CREATE TABLE payment_reviews (
            id         UUID PRIMARY KEY,
            user_id    TEXT NOT NULL,
            reason     TEXT NOT NULL,
            declines   BIGINT NOT NULL,
            status     TEXT NOT NULL CHECK (status IN ('open', 'cleared')),
            created_at TIMESTAMPTZ NOT NULL,
            cleared_by TEXT,
            cleared_at TIMESTAMPTZ
        )",
        "CREATE UNIQUE INDEX payment_reviews_one_open ON payment_reviews (user_id) WHERE status = 'open'",
        "CREATE INDEX payment_reviews_user ON payment_reviews (user_id, cleared_at)",
        "CREATE INDEX payment_audit_declines ON payment_audit (payment_id, at) WHERE action = 'declined'",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261129_000011_velocity {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261129_000011_velocity"
        }
    }

    const SQL: &[&str] = &[
        // The client address of the payment's current confirmation attempt.
        "ALTER TABLE payments ADD COLUMN attempt_ip TEXT",
        // Every declined attempt, with what the velocity check counts it by: the learner, the
        // card (when the processor names it) and the client address. Successes never remove one.
        "CREATE TABLE payment_declines (
            payment_id       UUID NOT NULL REFERENCES payments (id),
            attempt          INT NOT NULL,
            user_id          TEXT NOT NULL,
            card_fingerprint TEXT,
            client_ip        TEXT,
            at               TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (payment_id, attempt)
        )",
        "CREATE INDEX payment_declines_user ON payment_declines (user_id, at)",
        "CREATE INDEX payment_declines_card ON payment_declines (card_fingerprint, at) WHERE card_fingerprint IS NOT NULL",
        "CREATE INDEX payment_declines_ip ON payment_declines (client_ip, at) WHERE client_ip IS NOT NULL",
        // A review holds a learner, a card or a client address; one open review per subject.
        "ALTER TABLE payment_reviews ADD COLUMN kind TEXT NOT NULL DEFAULT 'learner'
            CHECK (kind IN ('learner', 'card', 'ip'))",
        "ALTER TABLE payment_reviews ADD COLUMN subject TEXT",
        "UPDATE payment_reviews SET subject = user_id",
        "ALTER TABLE payment_reviews ALTER COLUMN subject SET NOT NULL",
        "DROP INDEX payment_reviews_one_open",
        "DROP INDEX payment_reviews_user",
        "CREATE UNIQUE INDEX payment_reviews_one_open ON payment_reviews (kind, subject) WHERE status = 'open'",
        "CREATE INDEX payment_reviews_subject ON payment_reviews (kind, subject, cleared_at)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261129_000012_reconciliation {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261129_000012_reconciliation"
        }
    }

    const SQL: &[&str] = &[
        // A comparison of one processor's charges and refunds over a period with ours.
        "CREATE TABLE reconciliation_runs (
            id           UUID PRIMARY KEY,
            processor    TEXT NOT NULL,
            period_from  TIMESTAMPTZ NOT NULL,
            period_to    TIMESTAMPTZ NOT NULL CHECK (period_to > period_from),
            started_by   TEXT NOT NULL,
            started_at   TIMESTAMPTZ NOT NULL,
            finished_at  TIMESTAMPTZ NOT NULL,
            compared     BIGINT NOT NULL,
            differences  BIGINT NOT NULL
        )",
        "CREATE INDEX reconciliation_runs_processor ON reconciliation_runs (processor, id)",
        // Every item compared in a run, matched or not: the CSV export lists them all.
        "CREATE TABLE reconciliation_items (
            run_id            UUID NOT NULL REFERENCES reconciliation_runs (id),
            seq               INT NOT NULL,
            finding           TEXT NOT NULL,
            kind              TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
            processor_id      TEXT,
            payment_id        UUID,
            refund_id         UUID,
            currency          TEXT NOT NULL,
            ours_amount_minor   BIGINT,
            theirs_amount_minor BIGINT,
            ours_fee_minor      BIGINT,
            theirs_fee_minor    BIGINT,
            ours_status       TEXT,
            theirs_status     TEXT,
            at                TIMESTAMPTZ,
            PRIMARY KEY (run_id, seq)
        )",
        "CREATE INDEX reconciliation_findings ON reconciliation_items (run_id) WHERE finding <> 'matched'",
        "CREATE INDEX payments_processor_created ON payments (processor, created_at)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261129_000013_subscriptions {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261129_000013_subscriptions"
        }
    }

    const SQL: &[&str] = &[
        // One department subscription of a learner. Period n ends at anchor_at + (n −
        // anchor_period) × the plan's interval (0 = the trial); `charging_*` is a renewal job's
        // claim on a period.
        "CREATE TABLE subscriptions (
            id                   UUID PRIMARY KEY,
            user_id              TEXT NOT NULL,
            department_id        TEXT NOT NULL,
            plan_id              UUID NOT NULL,
            plan_type            TEXT NOT NULL CHECK (plan_type IN ('monthly', 'quarterly', 'annual')),
            amount_minor         BIGINT NOT NULL CHECK (amount_minor > 0),
            currency             TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            processor            TEXT NOT NULL,
            payment_method       TEXT NOT NULL,
            status               TEXT NOT NULL CHECK (status IN
                ('incomplete', 'trialing', 'active', 'past_due', 'paused', 'cancelled')),
            period               INT NOT NULL CHECK (period >= 0),
            anchor_at            TIMESTAMPTZ NOT NULL,
            anchor_period        INT NOT NULL CHECK (anchor_period >= 0),
            current_period_start TIMESTAMPTZ NOT NULL,
            current_period_end   TIMESTAMPTZ NOT NULL,
            trial_end            TIMESTAMPTZ,
            cancel_at_period_end BOOLEAN NOT NULL DEFAULT false,
            cancelled_at         TIMESTAMPTZ,
            cancel_reason        TEXT,
            paused_at            TIMESTAMPTZ,
            paused_from          TEXT,
            grace_until          TIMESTAMPTZ,
            next_retry_at        TIMESTAMPTZ,
            last_failure         TEXT,
            charging_period      INT,
            charging_since       TIMESTAMPTZ,
            customer_email       TEXT,
            customer_name        TEXT,
            -- A plan change that takes effect at the next renewal.
            pending_plan_id      UUID,
            pending_plan_type    TEXT CHECK (pending_plan_type IN ('monthly', 'quarterly', 'annual')),
            pending_amount_minor BIGINT CHECK (pending_amount_minor > 0),
            created_at           TIMESTAMPTZ NOT NULL,
            updated_at           TIMESTAMPTZ NOT NULL
        )",
        // One live subscription per learner and department.
        "CREATE UNIQUE INDEX subscriptions_live ON subscriptions (user_id, department_id)
             WHERE status <> 'cancelled'",
        "CREATE INDEX subscriptions_user ON subscriptions (user_id, id)",
        "CREATE INDEX subscriptions_due ON subscriptions (current_period_end)
             WHERE status IN ('incomplete', 'trialing', 'active', 'past_due')",
        // One charge per subscription and period, whatever retries or concurrent jobs do: its
        // order and its payment (whose id is the processor's idempotency key) are made once.
        "CREATE TABLE subscription_charges (
            subscription_id UUID NOT NULL REFERENCES subscriptions (id),
            period          INT NOT NULL CHECK (period >= 1),
            order_id        UUID NOT NULL UNIQUE,
            payment_id      UUID NOT NULL UNIQUE,
            created_at      TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (subscription_id, period)
        )",
        // The courses a learner enrolled in through the subscription (revenue attribution).
        "CREATE TABLE subscription_enrollments (
            subscription_id UUID NOT NULL REFERENCES subscriptions (id),
            course_id       UUID NOT NULL,
            order_id        UUID NOT NULL,
            enrolled_at     TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (subscription_id, course_id)
        )",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}
