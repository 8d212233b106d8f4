//! Card data never reaches us (PCI DSS SAQ A): a JSON body holding anything that looks like a card
//! number, a run of 13 to 19 digits (spaces or dashes allowed between them) that passes the Luhn
//! check, in any field, is refused with 422 `card_data_refused` before a route sees it. The
//! number is neither stored nor logged; the error names only the field.

use crate::problem::ApiError;
use serde_json::Value;

/// The first field holding a card number, as a JSON path (`payload.note`), if any.
pub fn find(body: &Value) -> Option<String> {
    crate::json::first_path(body, &|_, v| match v {
        Value::String(s) => holds_card_number(s),
        Value::Number(n) => holds_card_number(&n.to_string()),
        _ => false,
    })
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

/// Whether `text` holds a card number: 13 to 19 digits passing the Luhn check, written
/// contiguously or in the groups cards are printed in (4-4-4-4[-1..3], 4-6-5, 4-6-4) joined by
/// single spaces or dashes. Other digit groupings (ids such as UUIDs, longer numbers) are not
/// card numbers.
pub fn holds_card_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let joiner = |b: u8| b == b' ' || b == b'-';
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A token: digits, with single spaces or dashes between them.
        let start = i;
        let mut end = i;
        while end < bytes.len()
            && (bytes[end].is_ascii_digit()
                || (joiner(bytes[end])
                    && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
                    && end > start))
        {
            end += 1;
        }
        // Letters or digits right beside it make it part of an identifier (a UUID, a code).
        let bounded = |at: Option<&u8>| at.is_none_or(|b| !b.is_ascii_alphanumeric());
        let before = start.checked_sub(1).and_then(|j| bytes.get(j));
        if bounded(before) && bounded(bytes.get(end)) && card_token(&text[start..end]) {
            return true;
        }
        i = end.max(start + 1);
    }
    false
}

/// A token of digit groups that is a card number as cards are written.
fn card_token(token: &str) -> bool {
    let groups: Vec<&str> = token.split([' ', '-']).collect();
    if groups.len() == 1 {
        return contiguous_card(token);
    }
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let printed = matches!(lens.as_slice(), [4, 6, 5] | [4, 6, 4])
        || (lens.len() >= 4
            && lens[..lens.len() - 1].iter().all(|l| *l == 4)
            && (1..=4).contains(&lens[lens.len() - 1]));
    printed && contiguous_card(&groups.concat())
}

/// A run of exactly 13 to 19 digits that passes the Luhn check.
fn contiguous_card(digits: &str) -> bool {
    (13..=19).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && luhn(&digits.bytes().map(|b| b - b'0').collect::<Vec<_>>())
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
    fn no_uuid_is_ever_taken_for_a_card_number() {
        // A fixed-seed generator: uuids of random hex, and of decimal digits only.
        let mut x: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645)
                .wrapping_add(0x5851_F42D_4C95_7F2D_1405_7B7E_F767_814F);
            let id = uuid::Uuid::from_u128(x).to_string();
            assert!(!holds_card_number(&id), "{id}");
            let digits: String = format!("{:039}", x)[..32].to_string();
            let dashed = format!(
                "{}-{}-{}-{}-{}",
                &digits[..8],
                &digits[8..12],
                &digits[12..16],
                &digits[16..20],
                &digits[20..]
            );
            assert!(!holds_card_number(&dashed), "{dashed}");
        }
    }

    #[test]
    fn finds_card_numbers_in_any_field_and_spares_ids() {
        assert!(holds_card_number("4242424242424242"));
        assert!(holds_card_number("4242 4242 4242 4242"));
        assert!(holds_card_number("card: 4000-0566-5566-5556 exp 12/30"));
        assert!(!holds_card_number("4242424242424241"), "fails Luhn");
        assert!(!holds_card_number("pm_card_visa"));
        assert!(!holds_card_number("0190d5b2-7c1e-7a3b-9c4d-2e5f6a7b8c9d"));
        // A UUID whose groups are all digits is still not a card number.
        assert!(!holds_card_number("01932456-7890-7123-8456-123456789012"));
        assert!(
            !holds_card_number("42424242424242421"),
            "17 digits failing Luhn"
        );
        assert!(holds_card_number("3782 822463 10005"), "Amex grouping");
        assert!(
            !holds_card_number("12345678901234567890123"),
            "a longer number is an id"
        );
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
