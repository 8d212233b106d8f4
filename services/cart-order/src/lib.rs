//! cart-order
