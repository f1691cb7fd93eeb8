//! `mcx xml protect|unprotect|sign|verify`: the XML body on stdin, the result on stdout.
//! Inputs (stdin, the `--signature` file) longer than the engine's default document limit
//! are refused after reading one octet past it.
//! With `--json`, one object: the document (or signatures body) as a string and the counts.

use std::io::{Read, Write};

use mcx_engine::xml::{self, Elements, Limits, XmlKey};
use serde_json::json;

use crate::cli::{XmlArgs, XmlCmd};
use crate::output::{parse_hex, parse_key_id, print};

fn key(a: &XmlArgs) -> Result<XmlKey, String> {
    let xpk = zeroize::Zeroizing::new(parse_hex("key", &a.key)?);
    let id = parse_key_id(&a.key_id)?;
    XmlKey::derive(&xpk, id, a.user_id.as_bytes()).map_err(|e| format!("--key: {e}"))
}

/// All of `input` if it holds at most `limits.max_document` octets; one octet more is read
/// and refused, so an endless input costs no more than the limit.
fn read_limited(input: impl Read, what: &str, limits: &Limits) -> Result<Vec<u8>, String> {
    let max = limits.max_document;
    let mut doc = Vec::new();
    input
        .take(max as u64 + 1)
        .read_to_end(&mut doc)
        .map_err(|e| format!("reading {what}: {e}"))?;
    if doc.len() > max {
        return Err(format!(
            "{what}: longer than the {max}-octet XML document limit"
        ));
    }
    Ok(doc)
}

fn stdin(limits: &Limits) -> Result<Vec<u8>, String> {
    read_limited(std::io::stdin().lock(), "stdin", limits)
}

fn emit(json: bool, doc: &[u8], count: Option<(&str, usize)>) -> Result<(), String> {
    if json {
        let text = String::from_utf8_lossy(doc);
        let mut fields = vec![("document", json!(text))];
        if let Some((name, n)) = count {
            fields.push((name, json!(n)));
        }
        print(true, &fields);
        Ok(())
    } else {
        std::io::stdout()
            .write_all(doc)
            .map_err(|e| format!("writing stdout: {e}"))
    }
}

pub(crate) fn run(cmd: XmlCmd, json: bool) -> Result<(), String> {
    let limits = Limits::default();
    match cmd {
        XmlCmd::Protect(a) => {
            let k = key(&a.key)?;
            let elements = a
                .elements
                .as_deref()
                .map_or_else(Elements::default, Elements::parse);
            let doc = stdin(&limits)?;
            let mut out = Vec::new();
            let n = xml::protect(&k, &doc, &elements, &limits, &mut out)
                .map_err(|e| format!("protect: {e}"))?;
            emit(json, &out, Some(("encrypted", n)))
        }
        XmlCmd::Unprotect(a) => {
            let k = key(&a)?;
            let doc = stdin(&limits)?;
            let mut out = Vec::new();
            let n = xml::unprotect(&k, &doc, &limits, &mut out)
                .map_err(|e| format!("unprotect: {e}"))?;
            emit(json, &out, Some(("decrypted", n)))
        }
        XmlCmd::Sign(a) => {
            let k = key(&a.key)?;
            let doc = stdin(&limits)?;
            let mut out = Vec::new();
            xml::sign(&k, &a.content_id, &doc, &limits, &mut out)
                .map_err(|e| format!("sign: {e}"))?;
            emit(json, &out, None)
        }
        XmlCmd::Verify(a) => {
            let k = key(&a.key)?;
            let doc = stdin(&limits)?;
            let what = format!("--signature {}", a.signature.display());
            let file = std::fs::File::open(&a.signature).map_err(|e| format!("{what}: {e}"))?;
            let sigs = read_limited(file, &what, &limits)?;
            let s = xml::verify(&k, &sigs, &[(a.content_id.as_str(), &doc)], &limits)
                .map_err(|e| format!("verify: {e}"))?;
            print(json, &[("verified", json!(s.signatures))]);
            Ok(())
        }
    }
}
