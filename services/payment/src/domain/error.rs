//! Everything payment can refuse, with its stable problem code, mapped to HTTP in one place.

use kernel::IllegalTransition;
use web::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{0}")]
    NotFound(String),
    #[error("the order is {0}")]
    OrderNotPending(String),
    #[error("a free order completes without a payment")]
    NothingToPay,
    #[error("another payment for this order is being created; retry")]
    PaymentInProgress,
    /// The order's exchange-rate quote expired: it is re-quoted (when `requoted`, the amount
    /// is the new one to show the learner) and the intent is created again.
    #[error("{}", if *requoted {
        format!("the exchange rate of this order expired; it is now {total} (minor units of {currency}); create the payment again")
    } else {
        "the exchange rate of this order expired and is being re-quoted; retry in a minute".to_string()
    })]
    QuoteExpired {
        total: i64,
        currency: String,
        requoted: bool,
    },
    /// The department's processor does not take the order's currency.
    #[error("{processor} does not take {currency}; it takes {}", supported.join(", "))]
    CurrencyNotSupported {
        processor: String,
        currency: String,
        supported: Vec<String>,
    },
    #[error("send a processor payment-method token, never card data")]
    CardDataRefused,
    /// The velocity check held the learner's attempts for a billing-admin's review.
    #[error(
        "too many declined payment attempts; a billing administrator reviews them before you can pay again"
    )]
    ReviewRequired,
    #[error("the payment processor is unavailable: {0}")]
    ProcessorUnavailable(String),
    #[error("the payment processor refused the request: {0}")]
    ProcessorRefused(String),
    #[error("the refund exceeds what remains of the capture ({remaining})")]
    RefundExceedsCaptured { remaining: kernel::Money },
    #[error("{0}")]
    InvalidRefund(String),
    #[error("only a captured payment can be refunded; this one is {0}")]
    PaymentNotCaptured(String),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    /// Data or configuration that must be right is not: never defaulted.
    #[error("{0}")]
    Corrupt(String),
}

impl PaymentError {
    pub fn code(&self) -> &'static str {
        use PaymentError::*;
        match self {
            NotFound(_) => "not_found",
            OrderNotPending(_) => "order_not_pending",
            NothingToPay => "nothing_to_pay",
            PaymentInProgress => "payment_in_progress",
            QuoteExpired { .. } => "quote_expired",
            CardDataRefused => "card_data_refused",
            CurrencyNotSupported { .. } => "currency_not_supported",
            ReviewRequired => "payment_review_required",
            ProcessorUnavailable(_) => "processor_unavailable",
            ProcessorRefused(_) => "processor_refused",
            RefundExceedsCaptured { .. } => "refund_exceeds_captured",
            InvalidRefund(_) => "invalid_refund",
            PaymentNotCaptured(_) => "payment_not_captured",
            Illegal(_) => "illegal_transition",
            Db(_) | Corrupt(_) => "internal",
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> ApiError {
        use PaymentError::*;
        let detail = e.to_string();
        let code = e.code();
        match e {
            NotFound(_) => ApiError::not_found(detail),
            OrderNotPending(_)
            | NothingToPay
            | PaymentInProgress
            | PaymentNotCaptured(_)
            | Illegal(_) => ApiError::conflict(code, detail),
            RefundExceedsCaptured { remaining } => ApiError::rule(code, detail)
                .with_field("amount")
                .with("remaining", serde_json::json!(remaining.amount_minor())),
            InvalidRefund(_) => ApiError::rule(code, detail).with_field("amount"),
            CardDataRefused => ApiError::rule(code, detail).with_field("paymentMethod"),
            CurrencyNotSupported { supported, .. } => ApiError::rule(code, detail)
                .with_field("currency")
                .with("supported", serde_json::json!(supported)),
            ReviewRequired => ApiError::new(actix_web::http::StatusCode::FORBIDDEN, code, detail),
            ProcessorUnavailable(_) => ApiError::unavailable(code, detail),
            ProcessorRefused(_) => {
                ApiError::new(actix_web::http::StatusCode::BAD_GATEWAY, code, detail)
            }
            QuoteExpired {
                total,
                currency,
                requoted,
            } => ApiError::conflict(code, detail)
                .with("total", serde_json::json!(total))
                .with("currency", serde_json::json!(currency))
                .with("requoted", serde_json::json!(requoted)),
            Db(e) => e.into(),
            Corrupt(_) => ApiError::internal(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(PaymentError, u16, &str)> = vec![
            (PaymentError::NotFound("x".into()), 404, "not_found"),
            (
                PaymentError::OrderNotPending("failed".into()),
                409,
                "order_not_pending",
            ),
            (PaymentError::NothingToPay, 409, "nothing_to_pay"),
            (PaymentError::CardDataRefused, 422, "card_data_refused"),
            (
                PaymentError::CurrencyNotSupported {
                    processor: "square".into(),
                    currency: "EUR".into(),
                    supported: vec!["USD".into()],
                },
                422,
                "currency_not_supported",
            ),
            (
                PaymentError::ProcessorUnavailable("x".into()),
                503,
                "processor_unavailable",
            ),
            (
                PaymentError::ProcessorRefused("x".into()),
                502,
                "processor_refused",
            ),
            (
                PaymentError::RefundExceedsCaptured {
                    remaining: kernel::Money::new(0, kernel::Currency::USD),
                },
                422,
                "refund_exceeds_captured",
            ),
            (
                PaymentError::InvalidRefund("x".into()),
                422,
                "invalid_refund",
            ),
            (
                PaymentError::PaymentNotCaptured("pending".into()),
                409,
                "payment_not_captured",
            ),
        ];
        for (e, status, code) in cases {
            let api: ApiError = e.into();
            assert_eq!(api.status_code().as_u16(), status);
            assert_eq!(api.code, code);
        }
    }
}
