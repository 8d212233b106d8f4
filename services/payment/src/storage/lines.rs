//! Order lines as payment keeps them: what each cost (recorded with the payment) and each
//! refund's exact split over them.

use crate::domain::LineBalance;
use crate::storage::PaymentRow;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use db::stmt as pg;

/// Records the order's lines with its payment.
pub async fn record(
    c: &impl ConnectionTrait,
    payment_id: Uuid,
    lines: &[contracts::orders::PayableLine],
) -> Result<(), DbErr> {
    for (position, l) in lines.iter().enumerate() {
        let position = i32::try_from(position).map_err(|e| DbErr::Custom(e.to_string()))?;
        c.execute_raw(pg(
            "INSERT INTO payment_lines (payment_id, order_item_id, position, amount_minor)
             VALUES ($1, $2, $3, $4)",
            vec![
                payment_id.into(),
                l.order_item_id.into(),
                position.into(),
                l.amount.into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

#[derive(FromQueryResult)]
struct BalanceRow {
    order_item_id: Uuid,
    paid: i64,
    held: i64,
    refunded: i64,
}

/// Each line of the payment, in order, with what refunds hold of it (in flight or done).
pub async fn balances(
    c: &impl ConnectionTrait,
    payment: &PaymentRow,
) -> Result<Vec<LineBalance>, DbErr> {
    Ok(rows(c, payment.id)
        .await?
        .into_iter()
        .map(|r| LineBalance {
            order_item_id: r.order_item_id,
            paid: r.paid,
            held: r.held,
        })
        .collect())
}

async fn rows(c: &impl ConnectionTrait, payment_id: Uuid) -> Result<Vec<BalanceRow>, DbErr> {
    BalanceRow::find_by_statement(pg(
        "SELECT pl.order_item_id, pl.amount_minor AS paid,
             COALESCE(sum(rl.amount_minor) FILTER (WHERE r.status IN ('processing', 'succeeded')), 0)::bigint AS held,
             COALESCE(sum(rl.amount_minor) FILTER (WHERE r.status = 'succeeded'), 0)::bigint AS refunded
         FROM payment_lines pl
         LEFT JOIN refund_lines rl ON rl.order_item_id = pl.order_item_id
         LEFT JOIN refunds r ON r.id = rl.refund_id AND r.payment_id = pl.payment_id
         WHERE pl.payment_id = $1
         GROUP BY pl.order_item_id, pl.amount_minor, pl.position
         ORDER BY pl.position",
        vec![payment_id.into()],
    ))
    .all(c)
    .await
}

/// Records a refund's split.
pub async fn record_split(
    c: &impl ConnectionTrait,
    refund_id: Uuid,
    split: &[(Uuid, i64)],
) -> Result<(), DbErr> {
    for (line, amount) in split {
        c.execute_raw(pg(
            "INSERT INTO refund_lines (refund_id, order_item_id, amount_minor) VALUES ($1, $2, $3)",
            vec![refund_id.into(), (*line).into(), (*amount).into()],
        ))
        .await?;
    }
    Ok(())
}

/// One line of a refund that succeeded, with whether the line is now wholly refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLine {
    pub order_item_id: Uuid,
    pub amount_minor: i64,
    pub line_full: bool,
}

/// The refund's split, each line with whether succeeded refunds now cover all of it.
pub async fn issued(
    c: &impl ConnectionTrait,
    payment_id: Uuid,
    refund_id: Uuid,
) -> Result<Vec<IssuedLine>, DbErr> {
    #[derive(FromQueryResult)]
    struct Share {
        order_item_id: Uuid,
        amount_minor: i64,
    }
    let shares = Share::find_by_statement(pg(
        "SELECT order_item_id, amount_minor FROM refund_lines WHERE refund_id = $1",
        vec![refund_id.into()],
    ))
    .all(c)
    .await?;
    let lines = rows(c, payment_id).await?;
    shares
        .into_iter()
        .map(|s| {
            let line = lines
                .iter()
                .find(|l| l.order_item_id == s.order_item_id)
                .ok_or_else(|| {
                    DbErr::Custom(format!(
                        "refund {refund_id} names line {} its payment does not have",
                        s.order_item_id
                    ))
                })?;
            Ok(IssuedLine {
                order_item_id: s.order_item_id,
                amount_minor: s.amount_minor,
                line_full: line.refunded >= line.paid,
            })
        })
        .collect()
}
