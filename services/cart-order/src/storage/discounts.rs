//! Discount codes, their use counters and redemptions. A use is reserved by checkout (a guarded
//! update that refuses past the limits), consumed when the order completes and released when it
//! fails or expires; each move happens once, guarded by the redemption's status.

use crate::domain::discount::{Applicable, Discount, DiscountKind, Refusal, Uses, code_key};
use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

/// A discount code; admins see it as it is stored (`DiscountView` in the API document).
#[derive(Debug, Clone, FromQueryResult, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DiscountView)]
pub struct DiscountRow {
    pub id: Uuid,
    pub code: String,
    /// `null`: every department.
    pub department_id: Option<String>,
    /// `percentage` or `fixed`.
    pub discount_type: String,
    pub discount_value: i64,
    pub currency: Option<String>,
    pub max_uses: Option<i64>,
    pub max_uses_per_user: Option<i64>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub is_active: bool,
    /// `all`, `courses`, `programs` or `subscriptions`.
    pub applicable_to: String,
    pub course_ids: Vec<Uuid>,
    pub program_ids: Vec<Uuid>,
    pub min_purchase: Option<i64>,
    /// Pending orders holding a use (released if they fail or expire).
    pub reserved_count: i64,
    /// Orders that completed with the code.
    pub used_count: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, code, department_id, discount_type, discount_value, currency, max_uses, \
    max_uses_per_user, valid_from, valid_until, is_active, applicable_to, course_ids, program_ids, \
    min_purchase, reserved_count, used_count, created_by, created_at, updated_at";

impl DiscountRow {
    /// The code's rules; a stored value the domain does not know is corrupt data, never a default.
    pub fn rules(&self) -> Result<Discount, DbErr> {
        let corrupt = |what: &str| DbErr::Custom(format!("discount {}: bad {what}", self.id));
        Ok(Discount {
            code: self.code.clone(),
            department_id: self.department_id.clone(),
            kind: DiscountKind::parse(&self.discount_type).ok_or_else(|| corrupt("type"))?,
            value: self.discount_value,
            currency: self
                .currency
                .as_deref()
                .map(kernel::Currency::parse)
                .transpose()
                .map_err(|_| corrupt("currency"))?,
            max_uses: self.max_uses,
            max_uses_per_user: self.max_uses_per_user,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            is_active: self.is_active,
            applicable_to: Applicable::parse(&self.applicable_to)
                .ok_or_else(|| corrupt("applicableTo"))?,
            course_ids: self.course_ids.clone(),
            program_ids: self.program_ids.clone(),
            min_purchase: self.min_purchase,
        })
    }

    /// Uses taken so far by every learner.
    pub fn taken(&self) -> i64 {
        self.reserved_count + self.used_count
    }
}

fn values(d: &Discount) -> Vec<sea_orm::Value> {
    vec![
        d.code.trim().to_string().into(),
        code_key(&d.code).into(),
        d.department_id.clone().into(),
        d.kind.as_str().into(),
        d.value.into(),
        d.currency.map(|c| c.code().to_string()).into(),
        d.max_uses.into(),
        d.max_uses_per_user.into(),
        d.valid_from.into(),
        d.valid_until.into(),
        d.is_active.into(),
        d.applicable_to.as_str().into(),
        d.course_ids.clone().into(),
        d.program_ids.clone().into(),
        d.min_purchase.into(),
    ]
}

/// Saves a new code (a unique violation: the code is taken, case-insensitively).
pub async fn insert_discount(
    c: &impl ConnectionTrait,
    id: Uuid,
    d: &Discount,
    by: &str,
    now: DateTime<Utc>,
) -> Result<DiscountRow, DbErr> {
    let mut v = values(d);
    v.extend([id.into(), by.into(), now.into()]);
    DiscountRow::find_by_statement(pg(
        &format!(
            "INSERT INTO discount_codes (code, code_key, department_id, discount_type, discount_value, currency,
                max_uses, max_uses_per_user, valid_from, valid_until, is_active, applicable_to, course_ids,
                program_ids, min_purchase, id, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)
             RETURNING {COLS}"
        ),
        v,
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

/// Replaces a code's rules (its code and department stay). With `amount_changes`, only while
/// no order ever took a use (checked in the same statement, so a checkout reserving meanwhile
/// wins); `None` when that, or the code, no longer holds.
pub async fn update_discount(
    c: &impl ConnectionTrait,
    id: Uuid,
    d: &Discount,
    amount_changes: bool,
    now: DateTime<Utc>,
) -> Result<Option<DiscountRow>, DbErr> {
    let mut v = values(d);
    v.extend([id.into(), now.into(), amount_changes.into()]);
    DiscountRow::find_by_statement(pg(
        &format!(
            "UPDATE discount_codes SET discount_type = $4, discount_value = $5, currency = $6, max_uses = $7,
                max_uses_per_user = $8, valid_from = $9, valid_until = $10, is_active = $11, applicable_to = $12,
                course_ids = $13, program_ids = $14, min_purchase = $15, updated_at = $17
             WHERE id = $16 AND code = $1 AND code_key = $2 AND department_id IS NOT DISTINCT FROM $3
               AND (NOT $18 OR (reserved_count + used_count = 0
                    AND NOT EXISTS (SELECT 1 FROM discount_redemptions WHERE discount_id = $16)))
             RETURNING {COLS}"
        ),
        v,
    ))
    .one(c)
    .await
}

pub async fn discount(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<DiscountRow>, DbErr> {
    DiscountRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM discount_codes WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// The code a learner typed, case-insensitively.
pub async fn discount_by_code(
    c: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<DiscountRow>, DbErr> {
    DiscountRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM discount_codes WHERE code_key = $1"),
        vec![code_key(code).into()],
    ))
    .one(c)
    .await
}

/// Codes newest first. `departments`: `None` for every code (a billing-admin), otherwise the
/// codes of those departments only.
pub async fn list_discounts(
    c: &impl ConnectionTrait,
    departments: Option<&[String]>,
    active: Option<bool>,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<DiscountRow>, DbErr> {
    let mut w = db::Filters::new();
    w.add_opt(
        "department_id = ANY(?)",
        departments.map(<[String]>::to_vec),
    )
    .add_opt("is_active = ?", active)
    .add_opt("id < ?", cursor);
    DiscountRow::find_by_statement(w.query(
        &format!("{COLS} FROM discount_codes"),
        "ORDER BY id DESC",
        limit + 1,
    ))
    .all(c)
    .await
}

/// Deletes a code no order ever carried; false when one did (it can only be deactivated).
pub async fn delete_unused_discount(c: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    // The code's row lock: a checkout reserving a use (which updates that row) goes first or after.
    c.execute_raw(pg(
        "SELECT 1 FROM discount_codes WHERE id = $1 FOR UPDATE",
        vec![id.into()],
    ))
    .await?;
    c.execute_raw(pg(
        "DELETE FROM discount_user_uses WHERE discount_id = $1
           AND NOT EXISTS (SELECT 1 FROM discount_redemptions WHERE discount_id = $1)",
        vec![id.into()],
    ))
    .await?;
    Ok(c.execute_raw(pg(
        "DELETE FROM discount_codes WHERE id = $1
           AND NOT EXISTS (SELECT 1 FROM discount_redemptions WHERE discount_id = $1)",
        vec![id.into()],
    ))
    .await?
    .rows_affected()
        == 1)
}

/// Whether any order ever carried the code (pending, completed or failed).
pub async fn carried(c: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    #[derive(FromQueryResult)]
    struct Any {
        any: bool,
    }
    Ok(Any::find_by_statement(pg(
        "SELECT EXISTS (SELECT 1 FROM discount_redemptions WHERE discount_id = $1) AS any",
        vec![id.into()],
    ))
    .one(c)
    .await?
    .is_some_and(|a| a.any))
}

/// Uses of `discount` so far, in all and by `user` (when known).
pub async fn uses(
    c: &impl ConnectionTrait,
    row: &DiscountRow,
    user: Option<&str>,
) -> Result<Uses, DbErr> {
    #[derive(FromQueryResult)]
    struct N {
        n: i64,
    }
    let by_user = match user {
        None => None,
        Some(u) => Some(
            N::find_by_statement(pg(
                "SELECT COALESCE((SELECT reserved_count + used_count FROM discount_user_uses
                                  WHERE discount_id = $1 AND user_id = $2), 0) AS n",
                vec![row.id.into(), u.into()],
            ))
            .one(c)
            .await?
            .map_or(0, |n| n.n),
        ),
    };
    Ok(Uses {
        total: row.taken(),
        by_user,
    })
}

/// A use for a new order, in the checkout's transaction. The guarded updates hold the code's
/// and the learner's counter rows until commit: checkouts of one limited code, and of one
/// learner, take turns; every other learner is untouched. `Err(Refusal)`: no use left (the
/// caller rolls back).
#[allow(clippy::too_many_arguments)]
pub async fn reserve(
    c: &impl ConnectionTrait,
    discount: Uuid,
    order: Uuid,
    user: &str,
    amount: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, DbErr> {
    #[derive(FromQueryResult)]
    struct Taken {
        is_active: bool,
        valid_until: Option<DateTime<Utc>>,
        full: bool,
    }
    // The code as it stands under its row lock: deactivated or ended meanwhile, or used up.
    // `NO KEY UPDATE`, as an UPDATE of non-key columns takes: concurrent checkouts already hold
    // the row's key-share lock (their order's foreign key), which `FOR UPDATE` would deadlock on.
    let Some(t) = Taken::find_by_statement(pg(
        "SELECT is_active, valid_until, max_uses IS NOT NULL AND reserved_count + used_count >= max_uses AS full
         FROM discount_codes WHERE id = $1 FOR NO KEY UPDATE",
        vec![discount.into()],
    ))
    .one(c)
    .await?
    else {
        return Ok(Err(Refusal::NotFound));
    };
    if !t.is_active {
        return Ok(Err(Refusal::Inactive));
    }
    if let Some(until) = t.valid_until.filter(|u| now >= *u) {
        return Ok(Err(Refusal::Expired(until)));
    }
    if t.full {
        return Ok(Err(Refusal::Exhausted));
    }
    c.execute_raw(pg(
        "UPDATE discount_codes SET reserved_count = reserved_count + 1 WHERE id = $1",
        vec![discount.into()],
    ))
    .await?;
    let mine = c
        .execute_raw(pg(
            "INSERT INTO discount_user_uses AS u (discount_id, user_id, reserved_count) VALUES ($1, $2, 1)
             ON CONFLICT (discount_id, user_id) DO UPDATE SET reserved_count = u.reserved_count + 1
             WHERE u.reserved_count + u.used_count <
                   COALESCE((SELECT max_uses_per_user FROM discount_codes WHERE id = $1), 9223372036854775807)",
            vec![discount.into(), user.into()],
        ))
        .await?;
    if mine.rows_affected() != 1 {
        return Ok(Err(Refusal::AlreadyUsed));
    }
    c.execute_raw(pg(
        "INSERT INTO discount_redemptions (order_id, discount_id, user_id, amount_minor, currency, status,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'reserved', $6, $6)",
        vec![
            order.into(),
            discount.into(),
            user.into(),
            amount.into(),
            currency.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(Ok(()))
}

/// Where an order's use of its code ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The order completed: the use counts for good.
    Consume,
    /// The order failed or expired: the use is given back.
    Release,
}

/// Moves the order's redemption (if any) and the counters with it, once: a repeated or late
/// signal finds the redemption already there and changes nothing. A failed order that is
/// paid after all takes its use back (the learner was charged the discounted price).
pub async fn settle(
    c: &impl ConnectionTrait,
    order: Uuid,
    to: Settle,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    #[derive(FromQueryResult)]
    struct Held {
        discount_id: Uuid,
        user_id: String,
        status: String,
    }
    let Some(held) = Held::find_by_statement(pg(
        "SELECT discount_id, user_id, status FROM discount_redemptions WHERE order_id = $1 FOR UPDATE",
        vec![order.into()],
    ))
    .one(c)
    .await?
    else {
        return Ok(());
    };
    // (new status, change of reserved, change of used)
    let (status, reserved, used): (&str, i64, i64) = match (to, held.status.as_str()) {
        (Settle::Consume, "reserved") => ("consumed", -1, 1),
        (Settle::Consume, "released") => ("consumed", 0, 1),
        (Settle::Release, "reserved") => ("released", -1, 0),
        _ => return Ok(()),
    };
    c.execute_raw(pg(
        "UPDATE discount_redemptions SET status = $2, updated_at = $3 WHERE order_id = $1",
        vec![order.into(), status.into(), now.into()],
    ))
    .await?;
    c.execute_raw(pg(
        "UPDATE discount_codes SET reserved_count = reserved_count + $2, used_count = used_count + $3
         WHERE id = $1",
        vec![held.discount_id.into(), reserved.into(), used.into()],
    ))
    .await?;
    c.execute_raw(pg(
        "UPDATE discount_user_uses SET reserved_count = reserved_count + $3, used_count = used_count + $4
         WHERE discount_id = $1 AND user_id = $2",
        vec![
            held.discount_id.into(),
            held.user_id.into(),
            reserved.into(),
            used.into(),
        ],
    ))
    .await?;
    Ok(())
}
