//! Card data never reaches us (PCI DSS SAQ A): a JSON body holding anything that looks like a card
//! number, a run of 13 to 19 digits (spaces or dashes allowed between them) that passes the Luhn
//! check, in any field, is refused with 422 `card_data_refused` before a route sees it. The
//! number is neither stored nor logged; the error names only the field.

use crate::problem::ApiError;
use serde_json::Value;

/// The first field holding a card number, as a JSON path (`payload.note`), if any.
pub fn find(body: &Value) -> Option<String> {
    fn walk(v: &Value, path: &mut Vec<String>) -> Option<String> {
        match v {
            Value::String(s) if holds_card_number(s) => Some(path.join(".")),
            Value::Number(n) if holds_card_number(&n.to_string()) => Some(path.join(".")),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                path.push(i.to_string());
                let found = walk(item, path);
                path.pop();
                found
            }),
            Value::Object(map) => map.iter().find_map(|(k, item)| {
                path.push(k.clone());
                let found = walk(item, path);
                path.pop();
                found
            }),
            _ => None,
        }
    }
    walk(body, &mut Vec::new())
}

/// Refuses a body that holds card data.
pub fn refuse(body: &Value) -> Result<(), ApiError> {
    match find(body) {
        None => Ok(()),
        Some(field) => Err(ApiError::rule(
            "card_data_refused",
            "card numbers are never accepted: send the processor's payment-method token",
        )
        .with_field(if field.is_empty() { ".".into() } else { field })),
    }
}

/// Whether `text` holds a run of 13 to 19 digits, single spaces or dashes allowed between them,
/// that passes the Luhn check.
pub fn holds_card_number(text: &str) -> bool {
    let mut runs: Vec<Vec<u8>> = vec![Vec::new()];
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if b.is_ascii_digit() {
            if let Some(run) = runs.last_mut() {
                run.push(b - b'0');
            }
        } else {
            let joins = (*b == b' ' || *b == b'-')
                && i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !joins {
                runs.push(Vec::new());
            }
        }
    }
    runs.iter().any(|run| {
        (13..=19).contains(&run.len()) && luhn(run)
            // A longer run of digits may hide a number inside it.
            || (run.len() > 19 && run.windows(16).any(luhn))
    })
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_card_numbers_in_any_field_and_spares_ids() {
        assert!(holds_card_number("4242424242424242"));
        assert!(holds_card_number("4242 4242 4242 4242"));
        assert!(holds_card_number("card: 4000-0566-5566-5556 exp 12/30"));
        assert!(!holds_card_number("4242424242424241"), "fails Luhn");
        assert!(!holds_card_number("pm_card_visa"));
        assert!(!holds_card_number("0190d5b2-7c1e-7a3b-9c4d-2e5f6a7b8c9d"));
        assert!(!holds_card_number("ORD-2026-00001"));
        assert!(!holds_card_number("1234"));
        let body = json!({"paymentId": "x", "meta": {"notes": ["ok", "4111 1111 1111 1111"]}});
        assert_eq!(find(&body).as_deref(), Some("meta.notes.1"));
        assert_eq!(
            find(&json!({"n": 4242424242424242u64})).as_deref(),
            Some("n")
        );
        assert_eq!(
            find(&json!({"reason": "refund please", "amount": 333})),
            None
        );
        let e = refuse(&json!({"pan": "4242424242424242"})).unwrap_err();
        assert_eq!(e.code, "card_data_refused");
        assert!(!e.detail.contains("4242"), "the number is never echoed");
    }
}
