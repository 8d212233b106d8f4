//! Sending events to the webhook URL as Square does: `POST` of the event JSON with
//! `x-square-hmacsha256-signature: base64(HMAC-SHA256(key, url + body))`, up to 3 attempts
//! (100 ms, then 200 ms apart) on a non-2xx answer or a connection error.
//!
//! Events go into one queue in the order they were made (under the store's lock) and one
//! sender at a time drains it, so they arrive in that order whichever task sends them. While
//! webhooks are held, events queue aside instead (until released).

use crate::{Delivery, State};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The signature Square puts in `x-square-hmacsha256-signature`: standard base64 (padded) of
/// HMAC-SHA256 keyed with the signature key over the notification URL followed by the body.
pub fn signature(signature_key: &str, notification_url: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(signature_key.as_bytes()).unwrap();
    mac.update(notification_url.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Events to send, one batch per caller, and the held ones.
#[derive(Default)]
pub(crate) struct Outbox {
    pub hold: bool,
    pub held: Vec<Value>,
    queue: VecDeque<(Vec<Value>, oneshot::Sender<usize>)>,
}

impl State {
    /// Queues `events` to be sent (or aside, while held); the receiver gets how many the
    /// webhook endpoint took once they are sent. Call under the store's lock to keep order.
    pub(crate) fn enqueue(
        &self,
        events: Vec<Value>,
        hold: bool,
    ) -> Option<oneshot::Receiver<usize>> {
        if events.is_empty() {
            return None;
        }
        let mut outbox = self.outbox.lock().unwrap();
        if hold && outbox.hold {
            outbox.held.extend(events);
            return None;
        }
        let (tx, rx) = oneshot::channel();
        outbox.queue.push_back((events, tx));
        Some(rx)
    }

    /// Sends the queued batches, oldest first, one sender at a time.
    pub(crate) async fn pump(&self) {
        let _one_at_a_time = self.sending.lock().await;
        loop {
            let next = self.outbox.lock().unwrap().queue.pop_front();
            let Some((events, done)) = next else {
                return;
            };
            let mut taken = 0;
            for e in &events {
                if self.deliver(e).await {
                    taken += 1;
                }
            }
            let _ = done.send(taken);
        }
    }

    /// Sends a queued batch in the background.
    pub(crate) fn send_later(self: &Arc<Self>, queued: Option<oneshot::Receiver<usize>>) {
        if queued.is_some() {
            let state = self.clone();
            tokio::spawn(async move { state.pump().await });
        }
    }

    /// Sends `events` (or holds them) and waits; how many the endpoint took (2xx).
    pub(crate) async fn send_now(&self, queued: Option<oneshot::Receiver<usize>>) -> usize {
        let Some(rx) = queued else {
            return 0;
        };
        self.pump().await;
        rx.await.unwrap_or(0)
    }

    /// One delivery of `event` to the current URL; nothing when there is no URL.
    async fn deliver(&self, event: &Value) -> bool {
        let url = self.webhook_url.lock().unwrap().clone();
        if url.is_empty() {
            return false;
        }
        let body = event.to_string();
        let sig = signature(&self.config.signature_key, &url, body.as_bytes());
        for attempt in 1..=3u32 {
            let answer = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-square-hmacsha256-signature", &sig)
                .body(body.clone())
                .send()
                .await;
            let status = answer.map_or(0, |r| r.status().as_u16());
            self.deliveries.lock().unwrap().push(Delivery {
                event_id: event["event_id"].as_str().unwrap_or_default().to_string(),
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
        tracing::warn!(event = %event["event_id"], %url, "fake Square: webhook not delivered");
        false
    }
}
