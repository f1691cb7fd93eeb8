//! `mcx srtcp protect|unprotect`.

use mcx_engine::secret::{MasterKey, MasterSalt};
use mcx_engine::srtcp::{
    LengthCheck, MAX_INDEX, Mki, RxConfig, RxContext, SrtcpKeys, TxConfig, TxContext, protected_len,
};
use serde_json::json;

use crate::cli::{KeySource, McKeyArgs, SrtcpCmd};
use crate::derive::master_from_mc;
use crate::output::{parse_hex, parse_key_id, print};

pub(crate) fn run(cmd: SrtcpCmd, json: bool) -> Result<(), String> {
    match cmd {
        SrtcpCmd::Protect(a) => {
            if a.index > MAX_INDEX {
                return Err(format!("--index: {} is not below 2^31", a.index));
            }
            let (keys, mki) = keys_and_mki(&a.keys)?;
            let input = parse_hex("in", &a.input)?;
            let mut cfg = TxConfig::new(mki)
                .initial_index(a.index)
                .length_check(length_check(&a.keys));
            if a.keys.auth_only {
                cfg = cfg.auth_only();
            }
            let mut tx = TxContext::try_new(keys, cfg).map_err(|e| e.to_string())?;
            let mut out = vec![0u8; protected_len(input.len(), mki.len())];
            let p = tx
                .protect(&input, &mut out)
                .map_err(|e| format!("protect: {e}"))?;
            print(
                json,
                &[
                    ("packet", json!(hex::encode(&out[..p.len]))),
                    ("index", json!(p.index)),
                    ("encrypted", json!(!a.keys.auth_only)),
                    ("mki", json!(hex::encode(mki.as_bytes()))),
                ],
            );
            Ok(())
        }
        SrtcpCmd::Unprotect(a) => {
            let (keys, mki) = keys_and_mki(&a.keys)?;
            let input = parse_hex("in", &a.input)?;
            let mut cfg = RxConfig::new(mki).length_check(length_check(&a.keys));
            if a.keys.auth_only {
                cfg = cfg.auth_only();
            }
            let mut rx = RxContext::new(keys, cfg).map_err(|e| e.to_string())?;
            let mut out = vec![0u8; input.len()];
            let u = rx
                .unprotect(&input, &mut out)
                .map_err(|e| format!("unprotect: {e} ({})", e.name()))?;
            print(
                json,
                &[
                    ("packet", json!(hex::encode(&out[..u.len]))),
                    ("index", json!(u.index)),
                    ("encrypted", json!(u.encrypted)),
                ],
            );
            Ok(())
        }
    }
}

fn length_check(k: &KeySource) -> LengthCheck {
    if k.lenient_length {
        LengthCheck::Lenient
    } else {
        LengthCheck::Strict
    }
}

/// The SRTCP keys and MKI from either a master key and salt or the MC chain.
fn keys_and_mki(k: &KeySource) -> Result<(SrtcpKeys, Mki), String> {
    let explicit_mki = match &k.mki {
        Some(m) => Some(Mki::from_slice(&parse_hex("mki", m)?).map_err(|e| format!("--mki: {e}"))?),
        None => None,
    };
    match (&k.master_key, &k.master_salt, &k.key) {
        (Some(mk), Some(ms), None) => {
            let mk = MasterKey::from_slice(&parse_hex("master-key", mk)?)
                .map_err(|e| format!("--master-key: {e}"))?;
            let ms = MasterSalt::from_slice(&parse_hex("master-salt", ms)?)
                .map_err(|e| format!("--master-salt: {e}"))?;
            Ok((
                SrtcpKeys::from_master(&mk, &ms, crate::provider()),
                explicit_mki.unwrap_or(Mki::NONE),
            ))
        }
        (None, None, Some(key)) => {
            let (Some(key_id), Some(rand), Some(cs_id)) = (&k.key_id, &k.rand, k.cs_id) else {
                return Err("--key needs --key-id, --rand and --cs-id".into());
            };
            let mc = McKeyArgs {
                key: key.clone(),
                key_id: key_id.clone(),
                rand: rand.clone(),
                cs_id,
            };
            let (mk, ms) = master_from_mc(&mc)?;
            let id = parse_key_id(key_id)?;
            let mki = explicit_mki.unwrap_or(Mki::from_key_id(id));
            Ok((SrtcpKeys::from_master(&mk, &ms, crate::provider()), mki))
        }
        _ => Err(
            "give either --master-key and --master-salt, or --key, --key-id, --rand and --cs-id"
                .into(),
        ),
    }
}
