//! `mcx derive srtcp|xml`.

use mcx_engine::keys::{CsId, derive_srtp_master, kdf};
use mcx_engine::secret::{MasterKey, MasterSalt};
use mcx_engine::srtcp::derive_session_keys;
use serde_json::json;

use crate::cli::{DeriveCmd, McKeyArgs};
use crate::output::{parse_hex, parse_key_id, print};

pub(crate) fn run(cmd: DeriveCmd, json: bool) -> Result<(), String> {
    match cmd {
        DeriveCmd::Srtcp(a) => {
            let (mk, ms) = master_from_mc(&a)?;
            let (sk, ss) = derive_session_keys(&mk, &ms);
            print(
                json,
                &[
                    ("master_key", json!(hex::encode(mk.expose()))),
                    ("master_salt", json!(hex::encode(ms.expose()))),
                    ("session_key", json!(hex::encode(sk.expose()))),
                    ("session_salt", json!(hex::encode(ss.expose()))),
                ],
            );
            Ok(())
        }
        DeriveCmd::Xml(a) => {
            let key = parse_hex("key", &a.key)?;
            let id = parse_key_id(&a.key_id)?;
            let keys = kdf::xml_keys(&key, id, a.user_id.as_bytes()).map_err(|e| e.to_string())?;
            print(
                json,
                &[
                    (
                        "confidentiality_key",
                        json!(hex::encode(keys.confidentiality.expose())),
                    ),
                    ("integrity_key", json!(hex::encode(keys.integrity.expose()))),
                ],
            );
            Ok(())
        }
    }
}

/// MC key, key ID, RAND and CS-ID → SRTP master key and salt (TS 33.180 §7.4).
pub(crate) fn master_from_mc(a: &McKeyArgs) -> Result<(MasterKey, MasterSalt), String> {
    let key = parse_hex("key", &a.key)?;
    let id = parse_key_id(&a.key_id)?;
    let rand = parse_hex("rand", &a.rand)?;
    let cs = CsId::try_from(a.cs_id).map_err(|e| format!("--cs-id: {e}"))?;
    derive_srtp_master(&key, cs, id.get(), &rand).map_err(|e| e.to_string())
}
