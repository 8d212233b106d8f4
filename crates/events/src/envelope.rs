//! The event envelope, carried in NATS headers beside a protobuf body (CloudEvents binary mode).

use async_nats::HeaderMap;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

pub const H_MSG_ID: &str = "Nats-Msg-Id";
pub const H_ID: &str = "ce-id";
pub const H_TYPE: &str = "ce-type";
pub const H_SOURCE: &str = "ce-source";
pub const H_TIME: &str = "ce-time";
pub const H_SPEC: &str = "ce-specversion";
pub const H_TRACEPARENT: &str = "traceparent";
pub const H_CONTENT_TYPE: &str = "content-type";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("header `{0}` is missing")]
    Missing(&'static str),
    #[error("header `{0}` is malformed")]
    Malformed(&'static str),
}

/// Who, what and when of one event; the body is the protobuf message itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The event's id: JetStream de-duplicates on it and consumers record it in their inbox.
    pub id: Uuid,
    /// Versioned type name, e.g. `commerce.v1.OrderCompleted`.
    pub event_type: String,
    /// The producing service.
    pub source: String,
    pub time: DateTime<Utc>,
    /// W3C trace context of the request that caused the event, when there was one.
    pub traceparent: Option<String>,
}

impl Envelope {
    pub fn new(
        event_type: &str,
        source: &str,
        time: DateTime<Utc>,
        traceparent: Option<String>,
    ) -> Self {
        Envelope {
            id: Uuid::now_v7(),
            event_type: event_type.to_string(),
            source: source.to_string(),
            time,
            traceparent,
        }
    }

    pub fn to_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let id = self.id.to_string();
        h.insert(H_MSG_ID, id.as_str());
        h.insert(H_ID, id.as_str());
        h.insert(H_TYPE, self.event_type.as_str());
        h.insert(H_SOURCE, self.source.as_str());
        h.insert(
            H_TIME,
            self.time
                .to_rfc3339_opts(SecondsFormat::Micros, true)
                .as_str(),
        );
        h.insert(H_SPEC, "1.0");
        h.insert(H_CONTENT_TYPE, "application/protobuf");
        if let Some(tp) = &self.traceparent {
            h.insert(H_TRACEPARENT, tp.as_str());
        }
        h
    }

    pub fn from_headers(h: &HeaderMap) -> Result<Self, EnvelopeError> {
        let get = |name: &'static str| h.get(name).map(|v| v.as_str().to_string());
        // `ce-id` survives a dead-letter replay, which must use a fresh `Nats-Msg-Id`.
        let id_text = get(H_ID)
            .or_else(|| get(H_MSG_ID))
            .ok_or(EnvelopeError::Missing(H_ID))?;
        let id = Uuid::parse_str(&id_text).map_err(|_| EnvelopeError::Malformed(H_ID))?;
        let event_type = get(H_TYPE).ok_or(EnvelopeError::Missing(H_TYPE))?;
        let source = get(H_SOURCE).ok_or(EnvelopeError::Missing(H_SOURCE))?;
        let time_text = get(H_TIME).ok_or(EnvelopeError::Missing(H_TIME))?;
        let time = DateTime::parse_from_rfc3339(&time_text)
            .map_err(|_| EnvelopeError::Malformed(H_TIME))?
            .with_timezone(&Utc);
        Ok(Envelope {
            id,
            event_type,
            source,
            time,
            traceparent: get(H_TRACEPARENT),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_headers() {
        let e = Envelope::new(
            "commerce.v1.PriceChanged",
            "catalog",
            chrono::DateTime::from_timestamp(1_764_320_000, 0).unwrap(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        );
        let h = e.to_headers();
        assert_eq!(
            h.get(H_MSG_ID).map(|v| v.as_str().to_string()),
            Some(e.id.to_string())
        );
        let back = Envelope::from_headers(&h).expect("parses");
        assert_eq!(back.id, e.id);
        assert_eq!(back.event_type, e.event_type);
        assert_eq!(back.traceparent, e.traceparent);
        assert_eq!(back.time.timestamp_micros(), e.time.timestamp_micros());
    }

    #[test]
    fn rejects_missing_type() {
        let mut h = HeaderMap::new();
        h.insert(H_ID, Uuid::now_v7().to_string().as_str());
        assert_eq!(
            Envelope::from_headers(&h),
            Err(EnvelopeError::Missing(H_TYPE))
        );
    }
}
