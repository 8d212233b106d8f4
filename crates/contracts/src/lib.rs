//! The internal HTTP contracts between services, defined once and used by both sides: the
//! serving service serializes these types, the calling one deserializes them. Each has a
//! round-trip test, so a field renamed on one side cannot pass unnoticed.
//!
//! # Layout
//! - [`catalog`]: `GET /internal/v1/catalog/items/{type}/{id}` (catalog → cart-order).
//! - [`orders`]: `GET /internal/v1/orders/{id}` (cart-order → payment).

pub mod catalog;
pub mod orders;
pub mod subscriptions;
