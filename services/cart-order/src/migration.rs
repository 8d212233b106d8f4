//! The `cart_order` schema.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_init::Migration),
            Box::new(m20261126_000002_orders::Migration),
            Box::new(m20261128_000003_currency_text::Migration),
            Box::new(m20261128_000004_refunds::Migration),
            Box::new(m20261128_000005_disputes::Migration),
            Box::new(m20261128_000006_line_refunds::Migration),
            Box::new(m20261128_000007_order_number_sequences::Migration),
            Box::new(m20261128_000008_order_contact::Migration),
            Box::new(m20261128_000009_discounts::Migration),
            Box::new(m20261128_000010_tax::Migration),
            Box::new(m20261128_000011_display_quotes::Migration),
            Box::new(m20261129_000012_subscription_orders::Migration),
            Box::new(runtime::OutboxHorizon {
                name: "m20261129_000013_outbox_horizon",
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
            runtime::migrate_infrastructure(conn).await?;
            db::execute_all(conn, SQL).await
        }
    }
}

mod m20261126_000002_orders {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    // Named explicitly: the derive would name every migration of this file alike.
    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261126_000002_orders"
        }
    }

    const SQL: &[&str] = &[
        "CREATE TABLE carts (
            id         UUID PRIMARY KEY,
            user_id    TEXT,
            session_id TEXT,
            status     TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'checked_out')),
            order_id   UUID,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            CHECK (user_id IS NOT NULL OR session_id IS NOT NULL)
        )",
        "CREATE UNIQUE INDEX carts_open_user ON carts (user_id) WHERE status = 'open' AND user_id IS NOT NULL",
        "CREATE UNIQUE INDEX carts_open_session ON carts (session_id) WHERE status = 'open' AND user_id IS NULL",
        "CREATE INDEX carts_expiry ON carts (expires_at) WHERE status = 'open'",
        // Lines snapshot the catalog at the time they were added (price, name, courses).
        "CREATE TABLE cart_items (
            id          UUID PRIMARY KEY,
            cart_id     UUID NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
            item_type   TEXT NOT NULL CHECK (item_type IN ('course', 'program', 'subscription')),
            item_id     UUID NOT NULL,
            name        TEXT NOT NULL,
            price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
            currency    CHAR(3) NOT NULL,
            snapshot    JSONB NOT NULL,
            added_at    TIMESTAMPTZ NOT NULL,
            UNIQUE (cart_id, item_type, item_id)
        )",
        "CREATE TABLE order_numbers (year INT PRIMARY KEY, last_value BIGINT NOT NULL)",
        "CREATE TABLE orders (
            id                      UUID PRIMARY KEY,
            order_number            TEXT NOT NULL UNIQUE,
            user_id                 TEXT NOT NULL,
            cart_id                 UUID NOT NULL UNIQUE,
            status                  TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'failed', 'refunded', 'cancelled')),
            currency                CHAR(3) NOT NULL,
            subtotal_minor          BIGINT NOT NULL,
            discount_code           TEXT,
            discount_minor          BIGINT NOT NULL DEFAULT 0,
            tax_minor               BIGINT NOT NULL DEFAULT 0,
            total_minor             BIGINT NOT NULL CHECK (total_minor >= 0),
            display_currency        CHAR(3) NOT NULL,
            display_total_minor     BIGINT NOT NULL,
            settlement_currency     CHAR(3) NOT NULL,
            settlement_total_minor  BIGINT NOT NULL,
            exchange_rate           NUMERIC(20, 10) NOT NULL,
            exchange_rate_at        TIMESTAMPTZ NOT NULL,
            payment_id              UUID,
            failure_reason          TEXT,
            created_at              TIMESTAMPTZ NOT NULL,
            updated_at              TIMESTAMPTZ NOT NULL,
            completed_at            TIMESTAMPTZ,
            failed_at               TIMESTAMPTZ,
            cancelled_at            TIMESTAMPTZ,
            CHECK (total_minor = subtotal_minor - discount_minor + tax_minor)
        )",
        "CREATE INDEX orders_user ON orders (user_id, id)",
        "CREATE INDEX orders_status ON orders (status, created_at)",
        "CREATE TABLE order_items (
            id             UUID PRIMARY KEY,
            order_id       UUID NOT NULL REFERENCES orders (id),
            position       INT NOT NULL,
            item_type      TEXT NOT NULL,
            item_id        UUID NOT NULL,
            name           TEXT NOT NULL,
            department_id  TEXT NOT NULL,
            price_minor    BIGINT NOT NULL,
            discount_minor BIGINT NOT NULL DEFAULT 0,
            tax_minor      BIGINT NOT NULL DEFAULT 0,
            course_ids     UUID[] NOT NULL,
            snapshot       JSONB NOT NULL,
            UNIQUE (order_id, position)
        )",
        "CREATE INDEX order_items_courses ON order_items USING GIN (course_ids)",
        // What each learner owns, for the "already owned" flag and refusal at checkout.
        "CREATE TABLE owned_courses (
            user_id   TEXT NOT NULL,
            course_id UUID NOT NULL,
            order_id  UUID NOT NULL,
            PRIMARY KEY (user_id, course_id)
        )",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000003_currency_text {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000003_currency_text"
        }
    }

    /// Currency codes as `TEXT` with a check: no more blank padding to trim.
    const CURRENCY_COLUMNS: &[(&str, &str)] = &[
        ("catalog_prices", "currency"),
        ("cart_items", "currency"),
        ("orders", "currency"),
        ("orders", "display_currency"),
        ("orders", "settlement_currency"),
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::currency_columns_to_text(manager.get_connection(), CURRENCY_COLUMNS).await
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
        // What the processor gave back of the order, never more than its total.
        "ALTER TABLE orders ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0
             CHECK (refunded_minor >= 0 AND refunded_minor <= total_minor)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000005_disputes {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000005_disputes"
        }
    }

    const SQL: &[&str] = &[
        // A chargeback on the order's payment, shown to billing-admins; it changes nothing else.
        "ALTER TABLE orders ADD COLUMN disputed_at TIMESTAMPTZ, ADD COLUMN dispute_reason TEXT",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000006_line_refunds {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000006_line_refunds"
        }
    }

    const SQL: &[&str] = &[
        // What has been refunded of each line (refunds are issued per line), never more than
        // the line cost.
        "ALTER TABLE order_items ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0
             CHECK (refunded_minor >= 0 AND refunded_minor <= price_minor - discount_minor + tax_minor)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000007_order_number_sequences {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000007_order_number_sequences"
        }
    }

    const SQL: &[&str] = &[
        // One sequence per year instead of one counter row every checkout locked until commit:
        // each year's sequence goes on from the counter's last value.
        "DO $$ DECLARE r record; BEGIN
           FOR r IN SELECT year, last_value FROM order_numbers LOOP
             EXECUTE format('CREATE SEQUENCE IF NOT EXISTS order_number_%s START %s', r.year, r.last_value + 1);
           END LOOP;
         END $$",
        "DROP TABLE order_numbers",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000008_order_contact {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000008_order_contact"
        }
    }

    // The learner's address and name from the token at checkout, for the emails about the order.
    const SQL: &[&str] =
        &["ALTER TABLE orders ADD COLUMN customer_email TEXT, ADD COLUMN customer_name TEXT"];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000009_discounts {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000009_discounts"
        }
    }

    const SQL: &[&str] = &[
        // Discount codes (CAT-004). `reserved_count` counts pending orders holding a use,
        // `used_count` completed ones; a checkout reserves under the row's lock only while
        // together they are below `max_uses`.
        "CREATE TABLE discount_codes (
            id                UUID PRIMARY KEY,
            code              TEXT NOT NULL,
            code_key          TEXT NOT NULL UNIQUE,
            department_id     TEXT,
            discount_type     TEXT NOT NULL CHECK (discount_type IN ('percentage', 'fixed')),
            discount_value    BIGINT NOT NULL CHECK (discount_value >= 0),
            currency          TEXT CHECK (currency ~ '^[A-Z]{3}$'),
            max_uses          BIGINT CHECK (max_uses >= 1),
            max_uses_per_user BIGINT CHECK (max_uses_per_user >= 1),
            valid_from        TIMESTAMPTZ NOT NULL,
            valid_until       TIMESTAMPTZ,
            is_active         BOOLEAN NOT NULL,
            applicable_to     TEXT NOT NULL CHECK (applicable_to IN ('all', 'courses', 'programs', 'subscriptions')),
            course_ids        UUID[] NOT NULL,
            program_ids       UUID[] NOT NULL,
            min_purchase      BIGINT CHECK (min_purchase >= 0),
            reserved_count    BIGINT NOT NULL DEFAULT 0 CHECK (reserved_count >= 0),
            used_count        BIGINT NOT NULL DEFAULT 0 CHECK (used_count >= 0),
            created_by        TEXT NOT NULL,
            created_at        TIMESTAMPTZ NOT NULL,
            updated_at        TIMESTAMPTZ NOT NULL,
            CHECK (valid_until IS NULL OR valid_until > valid_from)
        )",
        "CREATE INDEX discount_codes_department ON discount_codes (department_id, id)",
        // One learner's uses of a code: the per-user limit is a guarded update of this row,
        // so only that learner's checkouts wait on one another.
        "CREATE TABLE discount_user_uses (
            discount_id    UUID NOT NULL REFERENCES discount_codes (id),
            user_id        TEXT NOT NULL,
            reserved_count BIGINT NOT NULL DEFAULT 0 CHECK (reserved_count >= 0),
            used_count     BIGINT NOT NULL DEFAULT 0 CHECK (used_count >= 0),
            PRIMARY KEY (discount_id, user_id)
        )",
        // Which order took a use, and where that use stands: reserved while the order is
        // pending, consumed when it completes, released when it fails or expires.
        "CREATE TABLE discount_redemptions (
            order_id     UUID PRIMARY KEY REFERENCES orders (id),
            discount_id  UUID NOT NULL REFERENCES discount_codes (id),
            user_id      TEXT NOT NULL,
            amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
            currency     TEXT NOT NULL,
            status       TEXT NOT NULL CHECK (status IN ('reserved', 'consumed', 'released')),
            created_at   TIMESTAMPTZ NOT NULL,
            updated_at   TIMESTAMPTZ NOT NULL
        )",
        "CREATE INDEX discount_redemptions_code ON discount_redemptions (discount_id)",
        "ALTER TABLE carts ADD COLUMN discount_id UUID REFERENCES discount_codes (id) ON DELETE SET NULL",
        "ALTER TABLE orders ADD COLUMN discount_id UUID REFERENCES discount_codes (id)",
        "ALTER TABLE order_items ADD CONSTRAINT order_items_discount_bounded
             CHECK (discount_minor >= 0 AND discount_minor <= price_minor)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000010_tax {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000010_tax"
        }
    }

    const SQL: &[&str] = &[
        // Manual rates (ADR-002's fallback): one per department (or every department), country
        // and region (or the whole country).
        "CREATE TABLE tax_rates (
            id            UUID PRIMARY KEY,
            department_id TEXT,
            country       TEXT NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
            region        TEXT CHECK (region ~ '^[A-Z0-9]{1,3}$'),
            rate          NUMERIC(9, 6) NOT NULL CHECK (rate >= 0 AND rate <= 1),
            created_by    TEXT NOT NULL,
            created_at    TIMESTAMPTZ NOT NULL,
            updated_at    TIMESTAMPTZ NOT NULL
        )",
        "CREATE UNIQUE INDEX tax_rates_one_per_place
             ON tax_rates (COALESCE(department_id, ''), country, COALESCE(region, ''))",
        // Tax-exempt organisations: a learner's (the whole order) or a department's (its lines),
        // approved by a billing-admin, in a jurisdiction, until they expire.
        "CREATE TABLE tax_exemptions (
            id              UUID PRIMARY KEY,
            user_id         TEXT,
            department_id   TEXT,
            organisation    TEXT NOT NULL,
            exemption_type  TEXT NOT NULL CHECK (exemption_type IN ('wholesale', 'government', 'other')),
            country         TEXT NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
            region          TEXT,
            certificate_ref TEXT NOT NULL,
            expires_at      TIMESTAMPTZ NOT NULL,
            status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
            submitted_by    TEXT NOT NULL,
            created_at      TIMESTAMPTZ NOT NULL,
            reviewed_by     TEXT,
            reviewed_at     TIMESTAMPTZ,
            review_reason   TEXT,
            CHECK ((user_id IS NULL) <> (department_id IS NULL))
        )",
        "CREATE INDEX tax_exemptions_user ON tax_exemptions (user_id) WHERE status = 'approved'",
        "CREATE INDEX tax_exemptions_department ON tax_exemptions (department_id) WHERE status = 'approved'",
        "ALTER TABLE carts ADD COLUMN billing_address JSONB",
        // How the order's tax was decided, where, and under which exemptions.
        "ALTER TABLE orders ADD COLUMN tax_source TEXT, ADD COLUMN billing_address JSONB,
             ADD COLUMN tax_exemption_ids UUID[] NOT NULL DEFAULT '{}'",
        "ALTER TABLE order_items ADD CONSTRAINT order_items_tax_not_negative CHECK (tax_minor >= 0)",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261128_000011_display_quotes {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261128_000011_display_quotes"
        }
    }

    const SQL: &[&str] = &[
        // The currency the learner sees and pays in (ADR-003), when not the cart's.
        "ALTER TABLE carts ADD COLUMN display_currency TEXT CHECK (display_currency ~ '^[A-Z]{3}$')",
        // An order in a display currency holds its quote until then, and where the rate came from.
        "ALTER TABLE orders ADD COLUMN quote_expires_at TIMESTAMPTZ, ADD COLUMN exchange_rate_source TEXT",
        // Each line in the settlement currency, when the order was converted to a display one.
        "ALTER TABLE order_items ADD COLUMN settlement_price_minor BIGINT,
             ADD COLUMN settlement_discount_minor BIGINT, ADD COLUMN settlement_tax_minor BIGINT",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}

mod m20261129_000012_subscription_orders {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261129_000012_subscription_orders"
        }
    }

    const SQL: &[&str] = &[
        // A subscription's orders have no cart: `source_key` makes each once (a period's charge,
        // a course enrolled in through it), and their cart id is derived from it.
        "ALTER TABLE orders ADD COLUMN subscription_id UUID, ADD COLUMN source_key TEXT UNIQUE",
        "CREATE INDEX orders_subscription ON orders (subscription_id) WHERE subscription_id IS NOT NULL",
        // Which learners have a live subscription (from payment's subscription.* events): only
        // for them does adding a course ask payment whether a subscription covers it.
        "CREATE TABLE subscribers (
            subscription_id UUID PRIMARY KEY,
            user_id         TEXT NOT NULL,
            live            BOOLEAN NOT NULL,
            changed_at      TIMESTAMPTZ NOT NULL
        )",
        "CREATE INDEX subscribers_live ON subscribers (user_id) WHERE live",
    ];

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            db::execute_all(manager.get_connection(), SQL).await
        }
    }
}
