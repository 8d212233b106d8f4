//! Subject names. Every name here is relative: the bus adds the deployment's prefix (empty in
//! production, unique per test run) so that tests never see each other's messages.

pub const COURSE_CREATED: &str = "commerce.catalog.course.created";
pub const COURSE_UPDATED: &str = "commerce.catalog.course.updated";
pub const PROGRAM_CREATED: &str = "commerce.catalog.program.created";
pub const PROGRAM_UPDATED: &str = "commerce.catalog.program.updated";
pub const PRICE_CREATED: &str = "commerce.catalog.price.created";
pub const PRICE_DEACTIVATED: &str = "commerce.catalog.price.deactivated";
pub const DEPARTMENT_UPDATED: &str = "commerce.catalog.department.updated";
pub const EXCHANGE_RATE_UPDATED: &str = "commerce.catalog.exchange-rate.updated";
/// All price events, for consumers.
pub const PRICE_ALL: &str = "commerce.catalog.price.>";
/// Every course event (created, updated).
pub const COURSE_ALL: &str = "commerce.catalog.course.>";
/// Every catalog event.
pub const CATALOG_ALL: &str = "commerce.catalog.>";

pub const ORDER_CREATED: &str = "commerce.order.created";
pub const ORDER_COMPLETED: &str = "commerce.order.completed";
pub const ORDER_FAILED: &str = "commerce.order.failed";
pub const ORDER_CANCELLED: &str = "commerce.order.cancelled";
pub const ORDER_REFUNDED: &str = "commerce.order.refunded";
pub const PAYMENT_SUCCEEDED: &str = "commerce.payment.succeeded";
pub const PAYMENT_FAILED: &str = "commerce.payment.failed";
pub const PAYMENT_DISPUTED: &str = "commerce.payment.disputed";
pub const PAYMENT_CANCELLED: &str = "commerce.payment.cancelled";
pub const REFUND_REQUESTED: &str = "commerce.refund.requested";
pub const REFUND_ISSUED: &str = "commerce.refund.issued";
pub const REFUND_REJECTED: &str = "commerce.refund.rejected";
/// A ledger entry (revenue or reversal) recorded by payout.
pub const REVENUE_RECORDED: &str = "commerce.revenue.recorded";
/// Every refund event (requested, issued, rejected).
pub const REFUND_ALL: &str = "commerce.refund.>";
/// A certificate issued or revoked (`CertificateChanged`).
pub const CERTIFICATE_ISSUED: &str = "commerce.certificate.issued";
pub const CERTIFICATE_REVOKED: &str = "commerce.certificate.revoked";
/// Every registration change (`commerce.registration.<status>`).
pub const REGISTRATION_ALL: &str = "commerce.registration.>";

/// Inbound webhooks relayed by the gateway: `inbound.lms.<name>` and `inbound.processor.<name>`.
pub const INBOUND_LMS: &str = "inbound.lms";
pub const INBOUND_PROCESSOR: &str = "inbound.processor";
/// Dead letters: `deadletter.<consumer>`.
pub const DEAD_LETTER: &str = "deadletter";

/// All payment events, for consumers.
pub const PAYMENT_ALL: &str = "commerce.payment.>";
/// Processor webhooks of every processor.
pub const INBOUND_PROCESSOR_ALL: &str = "inbound.processor.>";
/// The LMS's enrollment-status webhook.
pub const INBOUND_LMS_ENROLLMENT_STATUS: &str = "inbound.lms.enrollment-status";
/// The LMS's course-completion webhook.
pub const INBOUND_LMS_COMPLETION: &str = "inbound.lms.lms-completion";

/// `commerce.registration.<status>`: one subject per registration status.
pub fn registration(status: &str) -> String {
    format!("commerce.registration.{status}")
}

/// `commerce.subscription.<event>`: one subject per subscription event (`renewed`, `ended`, …).
pub fn subscription(event: &str) -> String {
    format!("commerce.subscription.{event}")
}

/// Every subscription event.
pub const SUBSCRIPTION_ALL: &str = "commerce.subscription.>";

/// The processor a relayed webhook subject names (`inbound.processor.stripe` → `stripe`).
pub fn processor_of(subject: &str) -> Option<&str> {
    subject
        .strip_prefix(INBOUND_PROCESSOR)?
        .strip_prefix('.')
        .filter(|p| !p.is_empty() && !p.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reads_subjects() {
        assert_eq!(registration("enrolled"), "commerce.registration.enrolled");
        assert_eq!(processor_of("inbound.processor.sandbox"), Some("sandbox"));
        assert_eq!(processor_of("inbound.processor."), None);
        assert_eq!(processor_of("inbound.lms.enrollment-status"), None);
    }
}
