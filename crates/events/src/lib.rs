//! The platform's events: protobuf types generated from `proto-events/`, the envelope carried in
//! NATS headers, and the subject names.
//!
//! # Layout
//! - [`commerce::v1`]: generated message types (package `commerce.v1`).
//! - [`Event`]: ties a message type to its stable type name (`commerce.v1.OrderCompleted`).
//! - [`Envelope`]: id, type, source, time and W3C `traceparent`, to and from NATS headers.
//! - [`subjects`]: subject names, relative to the deployment's subject prefix.
//! - [`fields`]: reading ids and times out of event fields, refusing unreadable ones.

pub mod envelope;
pub mod fields;
pub mod subjects;

pub use envelope::{Envelope, EnvelopeError};
pub use fields::FieldError;

#[allow(clippy::all, missing_docs)]
pub mod commerce {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/commerce.v1.rs"));
    }
}

/// A message type with a stable, versioned type name (the `ce-type` header).
pub trait Event: prost::Message + Default + Sized {
    const TYPE: &'static str;
}

macro_rules! events {
    ($($name:ident),* $(,)?) => {
        $(impl Event for commerce::v1::$name {
            const TYPE: &'static str = concat!("commerce.v1.", stringify!($name));
        })*
        /// Every event type name the platform defines.
        pub const ALL_TYPES: &[&str] = &[$(concat!("commerce.v1.", stringify!($name))),*];
    };
}

events!(
    CourseChanged,
    ProgramChanged,
    PriceChanged,
    DepartmentChanged,
    ExchangeRateChanged,
    OrderCreated,
    OrderCompleted,
    OrderFailed,
    OrderCancelled,
    OrderRefunded,
    PaymentSucceeded,
    PaymentFailed,
    PaymentCancelled,
    PaymentDisputed,
    RefundRequested,
    RefundIssued,
    RefundRejected,
    SubscriptionChanged,
    RegistrationChanged,
    RevenueRecorded,
    CertificateChanged,
);

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn round_trips_a_generated_message() {
        let e = commerce::v1::PriceChanged {
            price_id: "p1".into(),
            currency: "USD".into(),
            amount_minor: 4900,
            active: true,
            ..Default::default()
        };
        let bytes = e.encode_to_vec();
        let back = commerce::v1::PriceChanged::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(back, e);
        assert_eq!(
            <commerce::v1::PriceChanged as Event>::TYPE,
            "commerce.v1.PriceChanged"
        );
        assert_eq!(ALL_TYPES.len(), 21);
    }
}
