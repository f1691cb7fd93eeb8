//! The identities of an XML body of a SIP message, rewritten for topology hiding: the
//! content of every `mcpttURI` and `mcdataURI` element (TS 24.379 Annex F.1 `mcpttinfo`,
//! TS 24.282 Annex D.1 `mcdatainfo`: the request URI, calling and called party, calling
//! group, associated group …, each wrapping its URI in one of these). What is not replaced
//! passes through octet for octet.

use super::scan::{self, Event, Reader};
use super::{Error, Limits};

/// The elements whose content is an identity.
const URI_ELEMENTS: [&[u8]; 2] = [b"mcpttURI", b"mcdataURI"];

/// Copies `doc` to `out` with the content of each `mcpttURI` / `mcdataURI` element replaced
/// by what `map` gives for it (the content with its references decoded and surrounding
/// white space trimmed; `None` keeps it). Returns how many were replaced. Checks `doc` as
/// every call here does; on an error `out` is as it was.
pub fn rewrite_identities<'m>(
    doc: &[u8],
    limits: &Limits,
    map: impl Fn(&[u8]) -> Option<&'m [u8]>,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    let mark = out.len();
    let r = inner(doc, limits, map, out);
    if r.is_err() {
        out.truncate(mark);
    }
    r
}

fn inner<'m>(
    doc: &[u8],
    limits: &Limits,
    map: impl Fn(&[u8]) -> Option<&'m [u8]>,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    let mut r = Reader::document(doc, limits)?;
    let mut copied = 0;
    let mut replaced = 0;
    // The content start of the URI element being read, whether it held only text, and how
    // many elements deep inside it the reader is.
    let mut inside: Option<(usize, bool, usize)> = None;
    // Decrypted identities pass through here: wiped when done.
    let mut value = zeroize::Zeroizing::new(Vec::new());
    while let Some(ev) = r.next()? {
        match ev {
            Event::Start { span, name, empty } => {
                let (_, local) = r.element_name(&name);
                if let Some((_, only_text, nested)) = &mut inside {
                    *only_text = false;
                    if !empty {
                        *nested += 1;
                    }
                } else if !empty && URI_ELEMENTS.contains(&local) {
                    inside = Some((span.end, true, 0));
                }
            }
            Event::Text(_) => {}
            Event::End { span, .. } => {
                if let Some((_, _, nested)) = &mut inside
                    && *nested > 0
                {
                    *nested -= 1;
                } else if let Some((start, only_text, _)) = inside {
                    inside = None;
                    let content = start..span.start;
                    if !only_text {
                        continue;
                    }
                    value.clear();
                    scan::unescape_into(scan::trim(&doc[content.clone()]), &mut value)?;
                    if let Some(new) = map(&value) {
                        out.extend_from_slice(&doc[copied..content.start]);
                        escape(new, out);
                        copied = content.end;
                        replaced += 1;
                    }
                }
            }
            Event::CData { .. } | Event::Comment | Event::Pi { .. } => {
                if let Some((_, only_text, _)) = &mut inside {
                    *only_text = false;
                }
            }
            Event::Decl => {}
        }
    }
    out.extend_from_slice(&doc[copied..]);
    Ok(replaced)
}

/// Text content with `& < >` escaped.
fn escape(v: &[u8], out: &mut Vec<u8>) {
    for &b in v {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<mcpttinfo xmlns="urn:3gpp:ns:mcpttInfo:1.0"><mcptt-Params>
<mcptt-request-uri type="Normal"><mcpttURI>sip:group-1@ptt.a.internal</mcpttURI></mcptt-request-uri>
<mcptt-calling-user-id type="Normal"><mcpttURI> sip:alice@ptt.a.internal </mcpttURI></mcptt-calling-user-id>
<mcptt-client-id type="Normal"><mcpttString>client-1</mcpttString></mcptt-client-id>
<x:mcpttURI xmlns:x="urn:other">sip:a&amp;b@ptt.a.internal</x:mcpttURI>
<mcpttURI>sip:alice@ptt.a.internal<b/></mcpttURI>
</mcptt-Params></mcpttinfo>"#;

    fn map(id: &[u8]) -> Option<&'static [u8]> {
        match id {
            b"sip:group-1@ptt.a.internal" => Some(b"sip:group-1@a.example"),
            b"sip:alice@ptt.a.internal" => Some(b"sip:alice@a.example"),
            b"sip:a&b@ptt.a.internal" => Some(b"sip:a&b@a.example"),
            _ => None,
        }
    }

    #[test]
    fn uri_contents_are_replaced_and_the_rest_kept() {
        let mut out = Vec::new();
        let n = rewrite_identities(BODY.as_bytes(), &Limits::default(), map, &mut out).unwrap();
        assert_eq!(n, 3);
        let want = BODY
            .replace(
                "<mcpttURI>sip:group-1@ptt.a.internal</mcpttURI>",
                "<mcpttURI>sip:group-1@a.example</mcpttURI>",
            )
            .replace(
                "<mcpttURI> sip:alice@ptt.a.internal </mcpttURI>",
                "<mcpttURI>sip:alice@a.example</mcpttURI>",
            )
            .replace("sip:a&amp;b@ptt.a.internal", "sip:a&amp;b@a.example");
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn bad_documents_write_nothing() {
        let mut out = b"kept".to_vec();
        for bad in [
            "<mcpttURI>x</mcptt>",
            "<!DOCTYPE x [<!ENTITY e 'x'>]><mcpttURI>&e;</mcpttURI>",
            "<a><mcpttURI>sip:x</mcpttURI>",
        ] {
            assert!(rewrite_identities(bad.as_bytes(), &Limits::default(), map, &mut out).is_err());
            assert_eq!(out, b"kept");
        }
    }
}
