//! Postgres access for one service: a connection bound to the service's own schema, its
//! migrations, and a factory of throw-away databases for tests.
//!
//! Entities and SQL stay schema-less; the schema is bound through `search_path`, so the same code
//! serves every deployment shape (one database with a schema per service, or a database each).

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

pub use sea_orm;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid schema name `{0}`: use lowercase letters, digits and underscores")]
    BadSchema(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// How to reach Postgres and how many connections a service may hold.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit())
}

/// Connects to `schema` (created if missing); every pooled connection has it as `search_path`.
pub async fn connect(settings: &DbSettings, schema: &str) -> Result<DatabaseConnection, DbError> {
    if !valid_schema(schema) {
        return Err(DbError::BadSchema(schema.to_string()));
    }
    {
        let bootstrap = Database::connect(options(settings, 1)).await?;
        // Only create a missing schema: a production role granted just its own schema has no
        // CREATE right on the database, and Postgres checks that right before IF NOT EXISTS.
        let exists = bootstrap
            .query_one_raw(stmt(
                "SELECT 1 AS one FROM information_schema.schemata WHERE schema_name = $1",
                vec![schema.into()],
            ))
            .await?
            .is_some();
        if !exists {
            bootstrap
                .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .await?;
        }
        bootstrap.close().await?;
    }
    let mut opts = options(settings, settings.max_connections);
    opts.set_schema_search_path(schema.to_string());
    Ok(Database::connect(opts).await?)
}

fn options(settings: &DbSettings, max: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(settings.url.clone());
    opts.max_connections(max)
        .min_connections(0)
        .connect_timeout(settings.connect_timeout)
        .acquire_timeout(settings.connect_timeout)
        .sqlx_logging(false);
    opts
}

/// Connects to the service's schema and brings it up to date.
pub async fn connect_and_migrate<M: MigratorTrait>(
    settings: &DbSettings,
    schema: &str,
) -> Result<DatabaseConnection, DbError> {
    let db = connect(settings, schema).await?;
    M::up(&db, None).await?;
    Ok(db)
}

/// True when the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

/// Runs raw SQL statements in order (migrations use it for DDL that reads best as SQL).
pub async fn execute_all(conn: &impl ConnectionTrait, statements: &[&str]) -> Result<(), DbErr> {
    for s in statements {
        conn.execute_unprepared(s).await?;
    }
    Ok(())
}

/// Turns ISO 4217 columns into `TEXT` with a three-letter check. `CHAR(3)` padded values with
/// blanks that every reader had to trim; a `TEXT` column holds exactly the code.
pub async fn currency_columns_to_text(
    conn: &impl ConnectionTrait,
    columns: &[(&str, &str)],
) -> Result<(), DbErr> {
    for (table, column) in columns {
        conn.execute_unprepared(&format!(
            "ALTER TABLE {table} ALTER COLUMN {column} TYPE TEXT USING rtrim({column})"
        ))
        .await?;
        conn.execute_unprepared(&format!(
            "ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_iso4217 CHECK ({column} ~ '^[A-Z]{{3}}$')"
        ))
        .await?;
    }
    Ok(())
}

/// A statement with positional `$n` parameters for Postgres.
pub fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, values)
}

/// Whether `e` is a unique-constraint violation (a duplicate the caller should answer as 409).
pub fn is_unique_violation(e: &DbErr) -> bool {
    e.to_string().contains("duplicate key value")
}

/// Creates a fresh, uniquely named database on the server of `admin_url` and returns its URL.
/// Each test gets its own database, so tests run in parallel without sharing state.
pub async fn create_test_database(admin_url: &str) -> Result<String, DbError> {
    let name = format!("cc_test_{}", uuid::Uuid::now_v7().simple());
    let admin = Database::connect(options(
        &DbSettings {
            url: admin_url.to_string(),
            max_connections: 1,
            connect_timeout: Duration::from_secs(10),
        },
        1,
    ))
    .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    admin.close().await?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    Ok(format!("{base}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        assert!(valid_schema("cart_order"));
        assert!(!valid_schema("Catalog"));
        assert!(!valid_schema("a;drop"));
        assert!(!valid_schema(""));
        assert!(!valid_schema("1abc"));
    }
}

/// `WHERE` conditions with positional parameters, added one at a time: each `?` in a condition
/// becomes the next `$n`.
#[derive(Debug, Default)]
pub struct Filters {
    clauses: Vec<String>,
    values: Vec<sea_orm::Value>,
}

impl Filters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `clause` (with one `?`) bound to `value`.
    pub fn add(&mut self, clause: &str, value: impl Into<sea_orm::Value>) -> &mut Self {
        self.values.push(value.into());
        self.clauses
            .push(clause.replace('?', &format!("${}", self.values.len())));
        self
    }

    /// Adds `clause` only when `value` is present.
    pub fn add_opt<T: Into<sea_orm::Value>>(
        &mut self,
        clause: &str,
        value: Option<T>,
    ) -> &mut Self {
        if let Some(v) = value {
            self.add(clause, v);
        }
        self
    }

    /// `SELECT {select} WHERE … {order} LIMIT $n` with its values.
    pub fn query(mut self, select: &str, order: &str, limit: u64) -> Statement {
        self.values
            .push(i64::try_from(limit).unwrap_or(i64::MAX).into());
        let conditions = if self.clauses.is_empty() {
            "TRUE".to_string()
        } else {
            self.clauses.join(" AND ")
        };
        stmt(
            &format!(
                "SELECT {select} WHERE {conditions} {order} LIMIT ${}",
                self.values.len()
            ),
            self.values,
        )
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn numbers_parameters_in_order() {
        let mut f = Filters::new();
        f.add("a = ?", 1i64)
            .add_opt::<i64>("b = ?", None)
            .add_opt("c = ANY(?)", Some(vec![1i64, 2]));
        let s = f.query("x FROM t", "ORDER BY id", 10);
        assert_eq!(
            s.sql,
            "SELECT x FROM t WHERE a = $1 AND c = ANY($2) ORDER BY id LIMIT $3"
        );
        assert_eq!(s.values.map(|v| v.0.len()), Some(3));
    }
}
