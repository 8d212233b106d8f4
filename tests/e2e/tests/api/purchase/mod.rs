//! The purchase flow end to end, through the gateway, against real Postgres and JetStream and a
//! fake LMS speaking the connector contract: cart → checkout → intent → confirm → order completed
//! → registrations → enrollment requests → LMS webhook → enrolled.
//!
//! One module per flow; the shop fixture is [`crate::helpers::shop::Shop`].

mod approval;
mod cart;
mod currency;
mod discounts;
mod happy_path;
mod lms;
mod payment;
mod tax;
