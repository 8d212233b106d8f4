//! `application/x-www-form-urlencoded` bodies and query strings the way Stripe reads them: flat
//! pairs whose keys carry the nesting in brackets (`metadata[orderId]=x`, `expand[]=a`,
//! `expand[0]=a`, `automatic_payment_methods[enabled]=true`).

use serde_json::{Map, Value};

/// The decoded pairs of one request, in the order they were sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(raw: &str) -> Params {
        Params(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The last value sent for `key` (Stripe keeps the last of repeated scalars).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `key` as `true`/`false`; anything else is `None`.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// `prefix[name]=value` pairs as a JSON object of strings (`metadata[...]`).
    pub fn map(&self, prefix: &str) -> Map<String, Value> {
        let open = format!("{prefix}[");
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix(&open)?.strip_suffix(']')?;
                (!name.is_empty() && !name.contains('['))
                    .then(|| (name.to_string(), v.as_str().into()))
            })
            .collect()
    }

    /// A list sent as `prefix[]=a&prefix[]=b`, `prefix[0]=a&prefix[1]=b` or `prefix=a`.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let open = format!("{prefix}[");
        let mut items: Vec<(usize, usize, String)> = Vec::new();
        for (pos, (k, v)) in self.0.iter().enumerate() {
            let index = if k == prefix {
                Some(pos)
            } else if let Some(i) = k.strip_prefix(&open).and_then(|r| r.strip_suffix(']')) {
                if i.is_empty() {
                    Some(pos)
                } else {
                    i.parse().ok()
                }
            } else {
                None
            };
            if let Some(index) = index {
                items.push((index, pos, v.clone()));
            }
        }
        items.sort();
        items.into_iter().map(|(_, _, v)| v).collect()
    }

    /// The pairs sorted, as the idempotency layer compares them.
    pub fn fingerprint(&self, method: &str, path: &str) -> String {
        let mut pairs = self.0.clone();
        pairs.sort();
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{method} {path}?{}", body.join("&"))
    }
}

/// Percent-decoding with `+` as a space; invalid escapes are kept as they are.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_lists_and_decoding() {
        let p = Params::parse(
            "amount=1999&metadata%5BorderId%5D=o+1%2F2&expand[1]=b&expand[0]=a\
             &automatic_payment_methods[enabled]=true&x=%zz&y=%4",
        );
        assert_eq!(p.get("amount"), Some("1999"));
        assert_eq!(p.map("metadata")["orderId"], "o 1/2");
        assert_eq!(p.list("expand"), vec!["a", "b"]);
        assert_eq!(p.bool("automatic_payment_methods[enabled]"), Some(true));
        assert_eq!(p.get("x"), Some("%zz"));
        assert_eq!(p.get("y"), Some("%4"));
        let q = Params::parse("expand[]=latest_charge&expand[]=customer");
        assert_eq!(q.list("expand"), vec!["latest_charge", "customer"]);
    }
}
