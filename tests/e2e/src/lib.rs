//! End-to-end scenarios across services (see tests/).
