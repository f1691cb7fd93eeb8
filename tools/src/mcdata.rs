//! `mcx mcdata protect|unprotect`.

use mcx_engine::mcdata::{Header, KeyError, PayloadKey, protect, protected_len, unprotect};
use serde_json::json;

use crate::cli::{DppkArgs, McdataCmd};
use crate::output::{parse_hex, parse_key_id, print};

fn key(a: &DppkArgs) -> Result<PayloadKey, String> {
    let dppk = zeroize::Zeroizing::new(parse_hex("dppk", &a.dppk)?);
    let id = parse_key_id(&a.dppk_id).map_err(|e| e.replace("--key-id", "--dppk-id"))?;
    PayloadKey::from_dppk(&dppk, id).map_err(|e| match e {
        KeyError::WrongPurpose(_) => format!("--dppk-id: {e}"),
        _ => format!("--dppk: {e}"),
    })
}

pub(crate) fn run(cmd: McdataCmd, json: bool) -> Result<(), String> {
    match cmd {
        McdataCmd::Protect(a) => {
            let k = key(&a.key)?;
            let input = parse_hex("in", &a.input)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let h = Header::new(
                a.message_type,
                a.date_time.unwrap_or(now),
                a.payload_id,
                a.sequence,
                a.iei,
            )
            .map_err(|e| e.to_string())?;
            let mut out = vec![0u8; protected_len(input.len())];
            let n = protect(&k, &h, &input, &mut out).map_err(|e| format!("protect: {e}"))?;
            print(
                json,
                &[
                    ("payload", json!(hex::encode(&out[..n]))),
                    ("iv", json!(hex::encode(h.iv))),
                    ("dppk_id", json!(format!("{:08x}", k.dppk_id()))),
                ],
            );
            Ok(())
        }
        McdataCmd::Unprotect(a) => {
            let k = key(&a.key)?;
            let input = parse_hex("in", &a.input)?;
            let mut out = vec![0u8; input.len()];
            let o = unprotect(&k, &input, &mut out).map_err(|e| format!("unprotect: {e}"))?;
            print(
                json,
                &[
                    ("payload", json!(hex::encode(&out[..o.len]))),
                    ("message_type", json!(o.header.message_type)),
                    ("date_time", json!(o.header.date_time)),
                    ("payload_id", json!(o.header.payload_id)),
                    ("sequence", json!(o.header.sequence)),
                    ("dppk_id", json!(format!("{:08x}", o.dppk_id))),
                ],
            );
            Ok(())
        }
    }
}
