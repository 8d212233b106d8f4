//! Sending events to the webhook endpoint as Stripe does: `POST` of the event JSON with
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, up to 3 attempts
//! (100 ms, then 200 ms apart) on a non-2xx answer or a connection error. While webhooks are
//! held, events queue instead.

use crate::objects::now;
use crate::{Delivery, State};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The `Stripe-Signature` header for `body` signed at `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    ::web::stripe_signature::sign(secret, t, body.as_bytes())
}

/// Held events and whether new ones are held.
#[derive(Default)]
pub(crate) struct Held {
    pub on: bool,
    pub queue: Vec<Value>,
}

impl State {
    /// Queues `events` while webhooks are held; otherwise hands them back to be sent.
    pub(crate) fn route(&self, events: Vec<Value>) -> Vec<Value> {
        let mut held = self.held.lock().unwrap();
        if held.on {
            held.queue.extend(events);
            Vec::new()
        } else {
            events
        }
    }

    /// Sends (or queues) the events of an API request without waiting for the receiver.
    pub(crate) fn send_later(self: &Arc<Self>, events: Vec<Value>) {
        let events = self.route(events);
        if !events.is_empty() {
            let state = self.clone();
            tokio::spawn(async move { state.deliver_all(&events).await });
        }
    }

    /// Sends one after the other; how many the receiver took (2xx).
    pub(crate) async fn deliver_all(&self, events: &[Value]) -> usize {
        let mut delivered = 0;
        for event in events {
            if self.deliver(event).await {
                delivered += 1;
            }
        }
        delivered
    }

    /// One delivery of `event`, freshly signed on each attempt.
    pub(crate) async fn deliver(&self, event: &Value) -> bool {
        let body = event.to_string();
        let url = self.webhook_url.lock().unwrap().clone();
        for attempt in 1..=3u32 {
            let t = now();
            let answer = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .header(
                    "stripe-signature",
                    signature(&self.config.webhook_secret, t, &body),
                )
                .body(body.clone())
                .send()
                .await;
            let status = answer.map_or(0, |r| r.status().as_u16());
            self.deliveries.lock().unwrap().push(Delivery {
                event_id: event["id"].as_str().unwrap_or_default().to_string(),
                event_type: event["type"].as_str().unwrap_or_default().to_string(),
                status,
                attempt,
            });
            if (200..300).contains(&status) {
                return true;
            }
            if attempt < 3 {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
        }
        tracing::warn!(event = %event["id"], %url, "fake Stripe: webhook not delivered");
        false
    }
}
