//! `commerce.order.failed` / `commerce.order.cancelled` → the order's payment still waiting for
//! money is cancelled at its processor (a Stripe PaymentIntent can then never be captured for an
//! order nobody will fulfil), then recorded `cancelled` with `payment.cancelled`. The processor
//! is asked before the transaction opens; if the payment was captured meanwhile, the processor
//! says so and the capture is recorded instead (the order then completes after all).

use crate::processor::{IntentState, Processors};
use crate::storage;
use bus::{Delivery, HandlerError, HandlerFuture, PreparedHandler};
use events::Event;
use events::commerce::v1::{OrderCancelled, OrderFailed};
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;
use uuid::Uuid;

pub struct OrderClosedHandler {
    pub db: sea_orm::DatabaseConnection,
    pub processors: Processors,
    pub clock: Arc<dyn Clock>,
}

/// What the processor said of the order's open payment.
pub struct Cancelled {
    payment: Uuid,
    state: IntentState,
}

impl OrderClosedHandler {
    fn order_of(d: &Delivery) -> Result<Uuid, HandlerError> {
        let id = match d.envelope.event_type.as_str() {
            OrderFailed::TYPE => d.decode::<OrderFailed>()?.order_id,
            OrderCancelled::TYPE => d.decode::<OrderCancelled>()?.order_id,
            other => {
                return Err(HandlerError::permanent(format!(
                    "not an order closing: {other}"
                )));
            }
        };
        Ok(events::fields::uuid("order_id", &id)?)
    }

    async fn cancel(&self, d: &Delivery) -> Result<Option<Cancelled>, HandlerError> {
        let order = Self::order_of(d)?;
        let Some(p) = storage::live_for_order(&self.db, order).await? else {
            return Ok(None);
        };
        let settled = p.state()?.is_settled();
        Ok(self
            .processors
            .cancel_open(&p, settled)
            .await?
            .map(|state| Cancelled {
                payment: p.id,
                state,
            }))
    }

    async fn settle(
        &self,
        txn: &DatabaseTransaction,
        cancelled: Option<Cancelled>,
    ) -> Result<(), HandlerError> {
        if let Some(Cancelled { payment, state }) = cancelled {
            storage::settle_state(txn, payment, &state, "order-closed", self.clock.now()).await?;
        }
        Ok(())
    }
}

impl PreparedHandler for OrderClosedHandler {
    type Ready = Option<Cancelled>;

    fn prepare<'a>(
        &'a self,
        d: &'a Delivery,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Self::Ready, HandlerError>> + Send + 'a>>
    {
        Box::pin(self.cancel(d))
    }

    fn apply<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        _d: &'a Delivery,
        ready: Self::Ready,
    ) -> HandlerFuture<'a> {
        Box::pin(self.settle(txn, ready))
    }
}
