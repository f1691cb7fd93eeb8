//! Hex input and human / JSON output.

use std::fmt::Write as _;

/// Parses hex, ignoring white space and an optional `0x` prefix.
pub(crate) fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = s.split_whitespace().collect();
    let cleaned = cleaned
        .strip_prefix("0x")
        .or_else(|| cleaned.strip_prefix("0X"))
        .unwrap_or(&cleaned);
    hex::decode(cleaned).map_err(|e| format!("--{what}: not valid hex ({e})"))
}

/// Parses a 4-octet key ID written in hex.
pub(crate) fn parse_key_id(s: &str) -> Result<mcx_engine::keys::KeyId, String> {
    let b = parse_hex("key-id", s)?;
    let raw: [u8; 4] = b
        .as_slice()
        .try_into()
        .map_err(|_| format!("--key-id: expected 4 octets, got {}", b.len()))?;
    mcx_engine::keys::KeyId::new(u32::from_be_bytes(raw)).map_err(|e| format!("--key-id: {e}"))
}

/// Prints `fields` as `name  value` lines, or as one JSON object.
pub(crate) fn print(json: bool, fields: &[(&str, serde_json::Value)]) {
    if json {
        let map: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        println!("{}", serde_json::Value::Object(map));
    } else {
        let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in fields {
            let label = k.replace('_', " ");
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "{label:<width$}  {value}");
        }
        print!("{out}");
    }
}
