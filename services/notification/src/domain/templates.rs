//! The ten emails (the spec's template table): subject, HTML and plain-text bodies rendered by
//! minijinja, HTML-escaped by default. Pure: no I/O.

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

/// Which email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    OrderConfirmation,
    PaymentFailed,
    RegistrationPending,
    RegistrationApproved,
    RegistrationRejected,
    EnrollmentWelcome,
    RefundRequested,
    RefundApproved,
    RefundRejected,
    CertificateEarned,
}

pub const ALL: [Template; 10] = [
    Template::OrderConfirmation,
    Template::PaymentFailed,
    Template::RegistrationPending,
    Template::RegistrationApproved,
    Template::RegistrationRejected,
    Template::EnrollmentWelcome,
    Template::RefundRequested,
    Template::RefundApproved,
    Template::RefundRejected,
    Template::CertificateEarned,
];

impl Template {
    pub fn name(self) -> &'static str {
        match self {
            Template::OrderConfirmation => "order-confirmation",
            Template::PaymentFailed => "payment-failed",
            Template::RegistrationPending => "registration-pending",
            Template::RegistrationApproved => "registration-approved",
            Template::RegistrationRejected => "registration-rejected",
            Template::EnrollmentWelcome => "enrollment-welcome",
            Template::RefundRequested => "refund-requested",
            Template::RefundApproved => "refund-approved",
            Template::RefundRejected => "refund-rejected",
            Template::CertificateEarned => "certificate-earned",
        }
    }

    pub fn parse(s: &str) -> Option<Template> {
        ALL.into_iter().find(|t| t.name() == s)
    }

    /// Subject, HTML body, text body.
    pub fn sources(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Template::OrderConfirmation => (
                "Your order {{ order_number }} is confirmed",
                "<p>Hello {{ recipient_name }},</p><p>Thank you for your order \
                 <strong>{{ order_number }}</strong>.</p><table>{% for i in items %}<tr><td>{{ i.name }}\
                 </td><td style=\"text-align:right\">{{ i.price }}</td></tr>{% endfor %}<tr><td>\
                 <strong>Total</strong></td><td style=\"text-align:right\"><strong>{{ total }}</strong>\
                 </td></tr></table><p><a href=\"{{ orders_url }}\">See your orders</a></p>",
                "Hello {{ recipient_name }},\n\nThank you for your order {{ order_number }}.\n\n\
                 {% for i in items %}{{ i.name }}: {{ i.price }}\n{% endfor %}Total: {{ total }}\n\n\
                 Your orders: {{ orders_url }}\n",
            ),
            Template::PaymentFailed => (
                "Payment for order {{ order_number }} did not go through",
                "<p>Hello {{ recipient_name }},</p><p>The payment for order <strong>{{ order_number }}\
                 </strong> failed: {{ reason }}.</p><p><a href=\"{{ retry_url }}\">Try again</a></p>",
                "Hello {{ recipient_name }},\n\nThe payment for order {{ order_number }} failed: \
                 {{ reason }}.\n\nTry again: {{ retry_url }}\n",
            ),
            Template::RegistrationPending => (
                "Your registration for {{ course_title }} awaits approval",
                "<p>Hello {{ recipient_name }},</p><p>Your registration for <strong>{{ course_title }}\
                 </strong> needs a department's approval. We will write again once it is decided.</p>",
                "Hello {{ recipient_name }},\n\nYour registration for {{ course_title }} needs a \
                 department's approval. We will write again once it is decided.\n",
            ),
            Template::RegistrationApproved => (
                "Your registration for {{ course_title }} is approved",
                "<p>Hello {{ recipient_name }},</p><p>Your registration for <strong>{{ course_title }}\
                 </strong> is approved.</p>",
                "Hello {{ recipient_name }},\n\nYour registration for {{ course_title }} is approved.\n",
            ),
            Template::RegistrationRejected => (
                "Your registration for {{ course_title }} was not approved",
                "<p>Hello {{ recipient_name }},</p><p>Your registration for <strong>{{ course_title }}\
                 </strong> was not approved: {{ reason }}.</p><p>You may ask for a refund of it from \
                 <a href=\"{{ orders_url }}\">your orders</a>.</p>",
                "Hello {{ recipient_name }},\n\nYour registration for {{ course_title }} was not \
                 approved: {{ reason }}.\n\nYou may ask for a refund of it from your orders: \
                 {{ orders_url }}\n",
            ),
            Template::EnrollmentWelcome => (
                "Welcome to {{ course_title }}",
                "<p>Hello {{ recipient_name }},</p><p>You are enrolled in <strong>{{ course_title }}\
                 </strong>.</p><p><a href=\"{{ start_url }}\">Start learning</a></p>",
                "Hello {{ recipient_name }},\n\nYou are enrolled in {{ course_title }}.\n\n\
                 Start learning: {{ start_url }}\n",
            ),
            Template::RefundRequested => (
                "We received your refund request for order {{ order_number }}",
                "<p>Hello {{ recipient_name }},</p><p>We received your request to refund \
                 <strong>{{ amount }}</strong> of order {{ order_number }}. A billing administrator \
                 will review it.</p>",
                "Hello {{ recipient_name }},\n\nWe received your request to refund {{ amount }} of \
                 order {{ order_number }}. A billing administrator will review it.\n",
            ),
            Template::RefundApproved => (
                "Your refund for order {{ order_number }} is on its way",
                "<p>Hello {{ recipient_name }},</p><p>A refund of order <strong>{{ order_number }}\
                 </strong> was issued to your payment method.</p><p><a href=\"{{ history_url }}\">\
                 Payment history</a></p>",
                "Hello {{ recipient_name }},\n\nA refund of order {{ order_number }} was issued to your \
                 payment method.\n\nPayment history: {{ history_url }}\n",
            ),
            Template::RefundRejected => (
                "Your refund request for order {{ order_number }} was declined",
                "<p>Hello {{ recipient_name }},</p><p>Your refund request for order <strong>\
                 {{ order_number }}</strong> was declined: {{ reason }}.</p>",
                "Hello {{ recipient_name }},\n\nYour refund request for order {{ order_number }} was \
                 declined: {{ reason }}.\n",
            ),
            Template::CertificateEarned => (
                "Your certificate for {{ course_title }}",
                "<p>Congratulations {{ recipient_name }}!</p><p>You earned the certificate \
                 <strong>{{ certificate_number }}</strong> for {{ course_title }}.</p><p>\
                 <a href=\"{{ download_url }}\">Download it</a> · <a href=\"{{ verification_url }}\">\
                 Anyone can verify it here</a></p>",
                "Congratulations {{ recipient_name }}!\n\nYou earned the certificate \
                 {{ certificate_number }} for {{ course_title }}.\n\nDownload: {{ download_url }}\n\
                 Verify: {{ verification_url }}\n",
            ),
        }
    }

    /// Sample values for every variable the template uses (previews, tests).
    pub fn sample(self) -> serde_json::Value {
        serde_json::json!({
            "recipient_name": "Zoë Łukasiewicz-Nguyễn",
            "order_number": "ORD-2026-00042",
            "items": [{"name": "Introduction to Programming", "price": "49.00 USD"}],
            "total": "49.00 USD",
            "amount": "49.00 USD",
            "orders_url": "https://commerce.example/orders",
            "history_url": "https://commerce.example/payments",
            "retry_url": "https://commerce.example/orders/ORD-2026-00042/pay",
            "reason": "the card was declined",
            "course_title": "Introduction to Programming",
            "start_url": "https://lms.example/courses/lms-cs101",
            "certificate_number": "CERT-2026-0123456789ABCDEF",
            "download_url": "https://commerce.example/api/v2/certificates/1/download",
            "verification_url": "https://commerce.example/api/v2/certificates/verify/CERT-2026-0123456789ABCDEF",
        })
    }
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("template {template}: {message}")]
pub struct RenderError {
    pub template: &'static str,
    pub message: String,
}

const LAYOUT_START: &str = "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;\
    max-width:36rem;margin:auto;color:#222\">";
const LAYOUT_END: &str = "<hr><p style=\"color:#777;font-size:12px\">{{ platform_name }} · \
    <a href=\"{{ base_url }}\">{{ base_url }}</a></p></body></html>";

/// A department's own wording of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Override {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The variables `t` is rendered with (its consumer provides exactly these), plus
/// `recipient_name`, `platform_name` and `base_url`.
pub fn variables(t: Template) -> Vec<String> {
    let own: &[&str] = match t {
        Template::OrderConfirmation => &["order_number", "items", "total", "orders_url"],
        Template::PaymentFailed => &["order_number", "reason", "retry_url"],
        Template::RegistrationPending
        | Template::RegistrationApproved
        | Template::RegistrationRejected
        | Template::EnrollmentWelcome => &["course_title", "reason", "orders_url", "start_url"],
        Template::RefundRequested => &["order_number", "amount"],
        Template::RefundApproved => &["order_number", "history_url"],
        Template::RefundRejected => &["order_number", "reason"],
        Template::CertificateEarned => &[
            "course_title",
            "certificate_number",
            "download_url",
            "verification_url",
        ],
    };
    let mut v: Vec<String> = own
        .iter()
        .chain(&["recipient_name", "platform_name", "base_url"])
        .map(|s| s.to_string())
        .collect();
    v.sort();
    v
}

/// Whether a source turns escaping off (`|safe`, `{% autoescape false %}`, `{% filter safe %}`):
/// an override may not, or a learner's name could become markup.
fn disables_escaping(source: &str) -> bool {
    let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("|safe") || compact.contains("autoescape") || compact.contains("filtersafe")
}

/// Refuses an override that does not parse or uses a variable `t` does not have, naming the part
/// (`subject`, `html`, `text`).
pub fn validate(t: Template, o: &Override) -> Result<(), (&'static str, String)> {
    let known = variables(t);
    for (part, source, max) in [
        ("subject", &o.subject, 300),
        ("html", &o.html, 50_000),
        ("text", &o.text, 50_000),
    ] {
        if source.trim().is_empty() || source.chars().count() > max {
            return Err((part, format!("{part} must be 1 to {max} characters")));
        }
        if disables_escaping(source) {
            return Err((
                part,
                "escaping cannot be turned off (`safe`, `autoescape`)".into(),
            ));
        }
        let mut env = Environment::new();
        env.add_template_owned(part, source.clone())
            .map_err(|e| (part, format!("does not parse: {e}")))?;
        let tpl = env
            .get_template(part)
            .map_err(|e| (part, format!("does not parse: {e}")))?;
        let mut unknown: Vec<String> = tpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !known.contains(v))
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            return Err((
                part,
                format!(
                    "unknown variables: {}; known: {}",
                    unknown.join(", "),
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Renders `t` with `vars` (plus `platform_name` and `base_url`). A variable the template needs
/// and `vars` lacks is an error, never an empty string.
pub fn render(
    t: Template,
    vars: &serde_json::Value,
    platform_name: &str,
    base_url: &str,
) -> Result<Rendered, RenderError> {
    render_with(t, None, vars, platform_name, base_url)
}

/// [`render`] with a department's override of the wording, if it has one.
pub fn render_with(
    t: Template,
    over: Option<&Override>,
    vars: &serde_json::Value,
    platform_name: &str,
    base_url: &str,
) -> Result<Rendered, RenderError> {
    let err = |e: minijinja::Error| RenderError {
        template: t.name(),
        message: e.to_string(),
    };
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let (subject, html, text) = match over {
        Some(o) => (o.subject.as_str(), o.html.as_str(), o.text.as_str()),
        None => t.sources(),
    };
    let html = format!("{LAYOUT_START}{html}{LAYOUT_END}");
    env.add_template_owned("subject.txt", subject.to_string())
        .map_err(err)?;
    env.add_template_owned("body.html", html).map_err(err)?;
    env.add_template_owned("body.txt", text.to_string())
        .map_err(err)?;
    let mut ctx = vars.clone();
    if let Some(m) = ctx.as_object_mut() {
        m.insert("platform_name".into(), platform_name.into());
        m.insert("base_url".into(), base_url.into());
    }
    let get = |n: &str| env.get_template(n).and_then(|tpl| tpl.render(&ctx));
    let subject = get("subject.txt").map_err(err)?;
    Ok(Rendered {
        // A subject is one line whatever a variable holds.
        subject: subject.replace(['\r', '\n'], " "),
        html: get("body.html").map_err(err)?,
        text: get("body.txt").map_err(err)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_its_sample() {
        for t in ALL {
            // Each template's own sources use only its variables.
            let (subject, html, text) = t.sources();
            let own = Override {
                subject: subject.into(),
                html: html.into(),
                text: text.into(),
            };
            assert!(validate(t, &own).is_ok(), "{}", t.name());
            let r = render(t, &t.sample(), "Cadence", "https://commerce.example").unwrap();
            assert!(!r.subject.is_empty() && r.html.contains("</html>") && !r.text.is_empty());
            assert!(
                r.html.contains("Zoë") || r.text.contains("Zoë"),
                "{}",
                t.name()
            );
            assert_eq!(Template::parse(t.name()), Some(t));
        }
    }

    #[test]
    fn overrides_are_checked_for_unknown_variables_and_used() {
        let t = Template::EnrollmentWelcome;
        let good = Override {
            subject: "Bienvenue, {{ recipient_name }}".into(),
            html: "<p>{{ course_title }} — <a href=\"{{ start_url }}\">go</a></p>".into(),
            text: "{{ course_title }}: {{ start_url }}".into(),
        };
        assert!(validate(t, &good).is_ok());
        let r = render_with(t, Some(&good), &t.sample(), "C", "https://x").unwrap();
        assert_eq!(r.subject, "Bienvenue, Zoë Łukasiewicz-Nguyễn");
        let mut bad = good.clone();
        bad.html = "{{ grade }}".into();
        let (part, why) = validate(t, &bad).unwrap_err();
        assert_eq!(part, "html");
        assert!(why.contains("grade"), "{why}");
        let mut broken = good.clone();
        broken.text = "{{ course_title ".into();
        assert_eq!(validate(t, &broken).unwrap_err().0, "text");
        let looped = Override {
            subject: "Commande {{ order_number }}".into(),
            html: "<p>{{ total }}</p>".into(),
            text: "{% for i in items %}{{ i.name }}{% endfor %}".into(),
        };
        assert!(validate(Template::OrderConfirmation, &looped).is_ok());
        // Another template's variable is as unknown as a made-up one.
        let mut foreign = good.clone();
        foreign.subject = "{{ order_number }}".into();
        assert_eq!(validate(t, &foreign).unwrap_err().0, "subject");
        for unsafe_html in [
            "{{ recipient_name|safe }}",
            "{{ recipient_name | safe }}",
            "{% autoescape false %}{{ recipient_name }}{% endautoescape %}",
            "{% filter safe %}{{ recipient_name }}{% endfilter %}",
        ] {
            let mut o = good.clone();
            o.html = unsafe_html.into();
            assert_eq!(validate(t, &o).unwrap_err().0, "html", "{unsafe_html}");
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let mut v = Template::EnrollmentWelcome.sample();
        v["course_title"] = "<script>alert(1)</script>".into();
        let r = render(Template::EnrollmentWelcome, &v, "C", "https://x").unwrap();
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.text.contains("<script>alert(1)</script>"));
    }

    #[test]
    fn a_missing_variable_is_an_error_and_subjects_stay_one_line() {
        let e = render(
            Template::PaymentFailed,
            &serde_json::json!({}),
            "C",
            "https://x",
        );
        assert!(e.is_err());
        let mut v = Template::RegistrationApproved.sample();
        v["course_title"] = "a\r\nBcc: evil@example.com".into();
        let r = render(Template::RegistrationApproved, &v, "C", "https://x").unwrap();
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
    }
}
