//! The `certificate` schema: what learners hold (from orders), the LMS completions received,
//! the criteria and templates admins set, the certificates and their audit trail.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_init::Migration),
            Box::new(runtime::OutboxHorizon {
                name: "m20261129_000002_outbox_horizon",
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
        // Courses as the catalog announces them: the department whose admins set criteria, the
        // LMS id completions name, the title certificates print.
        "CREATE TABLE courses (
            course_id      UUID PRIMARY KEY,
            lms_course_id  TEXT NOT NULL,
            title          TEXT NOT NULL,
            department_id  TEXT NOT NULL,
            changed_at     TIMESTAMPTZ NOT NULL
        )",
        "CREATE INDEX courses_lms ON courses (lms_course_id)",
        // One row per course a paid (or free) order line gave a learner; a program line gives
        // one per member course, each naming the program and all its courses.
        "CREATE TABLE holdings (
            order_item_id   UUID NOT NULL,
            course_id       UUID NOT NULL,
            order_id        UUID NOT NULL,
            user_id         TEXT NOT NULL,
            lms_course_id   TEXT NOT NULL,
            course_title    TEXT NOT NULL,
            department_id   TEXT NOT NULL,
            program_id      UUID,
            program_title   TEXT,
            program_courses JSONB,
            status          TEXT NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'refunded', 'rejected', 'cancelled')),
            acquired_at     TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (order_item_id, course_id),
            CHECK ((program_id IS NULL) = (program_courses IS NULL))
        )",
        "CREATE INDEX holdings_user_lms ON holdings (user_id, lms_course_id)",
        "CREATE INDEX holdings_user_program ON holdings (user_id, program_id)",
        // Lines refunded in full, so a refund that overtakes its order still ends the line.
        "CREATE TABLE refunded_lines (
            order_item_id  UUID PRIMARY KEY,
            refunded_at    TIMESTAMPTZ NOT NULL
        )",
        // Every completion webhook received (kept for audit, whatever it led to).
        "CREATE TABLE completions (
            id                    UUID PRIMARY KEY,
            user_id               TEXT NOT NULL,
            user_name             TEXT NOT NULL,
            lms_course_id         TEXT NOT NULL,
            enrollment_id         TEXT NOT NULL,
            completed_at          TIMESTAMPTZ NOT NULL,
            modules_completed     INT NOT NULL CHECK (modules_completed >= 0),
            modules_total         INT NOT NULL CHECK (modules_total >= 0),
            completed_module_ids  JSONB NOT NULL,
            assessment_id         TEXT,
            assessment_score      INT CHECK (assessment_score BETWEEN 0 AND 100),
            minutes_spent         INT NOT NULL CHECK (minutes_spent >= 0),
            outcome               TEXT NOT NULL
                                  CHECK (outcome IN ('issued', 'already_certified', 'below_criteria', 'no_registration')),
            detail                TEXT,
            certificate_id        UUID,
            received_at           TIMESTAMPTZ NOT NULL
        )",
        "CREATE INDEX completions_user_lms ON completions (user_id, lms_course_id)",
        "CREATE TABLE criteria (
            course_id       UUID PRIMARY KEY,
            department_id   TEXT NOT NULL,
            criteria        JSONB NOT NULL,
            updated_by      TEXT NOT NULL,
            updated_at      TIMESTAMPTZ NOT NULL
        )",
        "CREATE TABLE templates (
            id              UUID PRIMARY KEY,
            department_id   TEXT NOT NULL,
            design          JSONB NOT NULL,
            is_default      BOOLEAN NOT NULL,
            version         INT NOT NULL DEFAULT 1,
            created_by      TEXT NOT NULL,
            created_at      TIMESTAMPTZ NOT NULL,
            updated_at      TIMESTAMPTZ NOT NULL
        )",
        "CREATE UNIQUE INDEX templates_one_default ON templates (department_id) WHERE is_default",
        "CREATE INDEX templates_department ON templates (department_id, id)",
        "CREATE TABLE certificates (
            id               UUID PRIMARY KEY,
            number           TEXT NOT NULL UNIQUE,
            kind             TEXT NOT NULL CHECK (kind IN ('course', 'program')),
            user_id          TEXT NOT NULL,
            recipient_name   TEXT NOT NULL,
            course_id        UUID,
            program_id       UUID,
            description      TEXT NOT NULL,
            department_id    TEXT NOT NULL,
            template_id      UUID REFERENCES templates (id),
            percentage       INT,
            completed_at     TIMESTAMPTZ NOT NULL,
            issued_at        TIMESTAMPTZ NOT NULL,
            expires_at       TIMESTAMPTZ,
            issued_by        TEXT NOT NULL,
            issue_reason     TEXT,
            status           TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
            revoked_at       TIMESTAMPTZ,
            revoked_reason   TEXT,
            revoked_by       TEXT,
            CHECK ((kind = 'course') = (course_id IS NOT NULL AND program_id IS NULL)),
            CHECK ((kind = 'program') = (program_id IS NOT NULL AND course_id IS NULL)),
            CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
        )",
        // One course certificate per learner and course, one program certificate per learner
        // and program, ever.
        "CREATE UNIQUE INDEX certificates_course_once ON certificates (user_id, course_id)
            WHERE kind = 'course'",
        "CREATE UNIQUE INDEX certificates_program_once ON certificates (user_id, program_id)
            WHERE kind = 'program'",
        "CREATE INDEX certificates_user ON certificates (user_id, id DESC)",
        "CREATE TABLE audit (
            seq             BIGSERIAL PRIMARY KEY,
            certificate_id  UUID NOT NULL REFERENCES certificates (id),
            action          TEXT NOT NULL CHECK (action IN ('issued', 'revoked')),
            actor           TEXT NOT NULL,
            reason          TEXT,
            at              TIMESTAMPTZ NOT NULL
        )",
        "CREATE INDEX audit_certificate ON audit (certificate_id, seq)",
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
