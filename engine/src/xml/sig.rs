//! XML integrity: the `application/vnd.3gpp.mcptt-signed+xml` body (TS 24.379 Annex F.6)
//! holding one XML Signature per signed XML body (TS 36.579-1 Table 5.5.13.1-1/-2; digest
//! §4.2):
//!
//! ```xml
//! <signatures xmlns="urn:3gpp:ns:mcpttSignedDoc:1.0"><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"
//!   Id="signature1"><SignedInfo><CanonicalizationMethod Algorithm="…REC-xml-c14n-20010315"/>
//!   <SignatureMethod Algorithm="…xmldsig-more#hmac-sha256"/><Reference URI="cid:body1@example.org">
//!   <Transforms><Transform Algorithm="…REC-xml-c14n-20010315"/></Transforms>
//!   <DigestMethod Algorithm="…xmlenc#sha256"/><DigestValue>…</DigestValue></Reference></SignedInfo>
//!   <SignatureValue>…</SignatureValue><KeyInfo><KeyName>base64(CSK-ID)</KeyName></KeyInfo></Signature></signatures>
//! ```
//!
//! (one line in the output). The `Reference` names the body by its Content-ID as a `cid:` URI
//! (RFC 2392) and digests its Canonical XML 1.0 form (the `Transform`), so re-serialising the
//! body on the way does not break the signature; a `Reference` without transforms digests
//! the body's octets as they are (XMLDSig §4.3.3.2). The signature value is HMAC-SHA-256
//! under the F.1.4 integrity key (FC 0x52) over the canonical `SignedInfo`.
//!
//! [`verify`] accepts what [`sign`] writes and the same structure from other signers
//! (prefixed `ds:` elements, whitespace, no transform); it requires every body it is given to
//! be signed by exactly one signature and every signature to name one of them.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::enc::DSIG_NS;
use super::scan::{self, Event, Reader};
use super::{Error, Limits, XmlKey, base64, c14n};

/// The MIME type of the signatures body (TS 24.379 Annex F.6.1).
pub const SIGNED_CONTENT_TYPE: &str = "application/vnd.3gpp.mcptt-signed+xml";
const SIGNED_NS: &[u8] = b"urn:3gpp:ns:mcpttSignedDoc:1.0";
const C14N: &[u8] = b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const HMAC_SHA256: &[u8] = b"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
const SHA256: &[u8] = b"http://www.w3.org/2001/04/xmlenc#sha256";

/// What [`verify`] checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signed {
    /// Signatures that verified: one per body.
    pub signatures: usize,
}

/// Writes the signatures body for one XML body with Content-ID `content_id` (with or without
/// its `<>`) to `out`. On an error `out` is as it was.
pub fn sign(
    key: &XmlKey,
    content_id: &str,
    body: &[u8],
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    sign_bodies(key, &[(content_id, body)], limits, out)
}

/// Writes the signatures body for several XML bodies, one `Signature` each, `Id`s
/// `signature1`, `signature2`, … (TS 36.579-1 Table 5.5.13.1-2). A signatures body longer
/// than [`Limits::max_document`] (which [`verify`] would refuse) is [`Error::TooLarge`]. On
/// an error `out` is as it was.
pub fn sign_bodies(
    key: &XmlKey,
    bodies: &[(&str, &[u8])],
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mark = out.len();
    let r = sign_inner(key, bodies, limits, out);
    if r.is_err() {
        out.truncate(mark);
    }
    r
}

fn sign_inner(
    key: &XmlKey,
    bodies: &[(&str, &[u8])],
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut canon = Vec::with_capacity(2048);
    let mut info = Vec::with_capacity(1024);
    // The signatures body must be one verify takes: within `max_document` too.
    let base = out.len();
    let over = |out: &Vec<u8>| out.len() - base > limits.max_document;
    out.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<signatures xmlns=\"urn:3gpp:ns:mcpttSignedDoc:1.0\">",
    );
    for (n, (cid, body)) in bodies.iter().enumerate() {
        let cid = content_id(cid)?;
        canon.clear();
        c14n::document(body, limits, &mut canon)?;
        let digest = Sha256::digest(&canon);
        // The canonical SignedInfo, as c14n renders it inside this Signature (a test checks
        // it against `c14n::element` of the written one).
        info.clear();
        info.extend_from_slice(b"<SignedInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"></CanonicalizationMethod><SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256\"></SignatureMethod><Reference URI=\"cid:");
        info.extend_from_slice(cid);
        info.extend_from_slice(b"\"><Transforms><Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"></Transform></Transforms><DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></DigestMethod><DigestValue>");
        base64::encode_into(&digest, &mut info);
        info.extend_from_slice(b"</DigestValue></Reference></SignedInfo>");
        let value = hmac(key, &info);

        out.extend_from_slice(
            b"<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\" Id=\"signature",
        );
        out.extend_from_slice((n + 1).to_string().as_bytes());
        out.extend_from_slice(b"\"><SignedInfo><CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/><SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256\"/><Reference URI=\"cid:");
        out.extend_from_slice(cid);
        out.extend_from_slice(b"\"><Transforms><Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/></Transforms><DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><DigestValue>");
        base64::encode_into(&digest, out);
        out.extend_from_slice(b"</DigestValue></Reference></SignedInfo><SignatureValue>");
        base64::encode_into(&value, out);
        out.extend_from_slice(b"</SignatureValue><KeyInfo><KeyName>");
        out.extend_from_slice(&key.key_name);
        out.extend_from_slice(b"</KeyName></KeyInfo></Signature>");
        if over(out) {
            return Err(Error::TooLarge);
        }
    }
    out.extend_from_slice(b"</signatures>\n");
    if over(out) {
        return Err(Error::TooLarge);
    }
    Ok(())
}

fn hmac(key: &XmlKey, data: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key.integrity.expose()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A Content-ID as it goes into a `cid:` URI: without `<>`, printable ASCII that needs no
/// escaping in an attribute (RFC 2392 `addr-spec`).
fn content_id(cid: &str) -> Result<&[u8], Error> {
    let c = cid.trim();
    let c = c
        .strip_prefix('<')
        .and_then(|c| c.strip_suffix('>'))
        .unwrap_or(c);
    let ok = !c.is_empty()
        && c.len() <= 256
        && c.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'&' | b'\''));
    if ok {
        Ok(c.as_bytes())
    } else {
        Err(Error::BadStructure("Content-ID"))
    }
}

/// One `Signature` as read.
#[derive(Default)]
struct Parsed {
    signed_info: Option<usize>,
    canon_ok: bool,
    method_ok: bool,
    /// Elements that may appear once: CanonicalizationMethod, SignatureMethod, DigestMethod,
    /// DigestValue, SignatureValue, KeyInfo, KeyName, Transforms (bit per element).
    seen: u16,
    references: usize,
    uri: Vec<u8>,
    transform: Option<bool>,
    digest_ok: bool,
    digest: Vec<u8>,
    value: Vec<u8>,
    key_name: Vec<u8>,
    has_key_name: bool,
}

/// Verifies the signatures body `signatures` against the XML bodies it signs, given as
/// (Content-ID, body) pairs: every signature must verify under `key` and name one of the
/// bodies, every body must be signed, and by one signature only.
///
/// The structure is checked first, for every signature, and only then the values: a
/// signatures body that names a body twice, names one not given, or leaves one unsigned is
/// refused before anything is canonicalised, and each body is canonicalised (and digested)
/// once, so the work is linear in the input.
pub fn verify(
    key: &XmlKey,
    signatures: &[u8],
    bodies: &[(&str, &[u8])],
    limits: &Limits,
) -> Result<Signed, Error> {
    let by_body = match_signatures(key, signatures, bodies, limits)?;
    let mut canon = Vec::new();
    let mut raw = Vec::new();
    for (p, (_, body)) in by_body.iter().zip(bodies) {
        // `match_signatures` refused a body without its signature.
        let Some(p) = p else {
            return Err(Error::Unsigned);
        };
        let info = p
            .signed_info
            .ok_or(Error::BadStructure("Signature without SignedInfo"))?;
        // The signature value over the canonical SignedInfo, then the body's digest.
        canon.clear();
        c14n::element(signatures, info, limits, &mut canon)?;
        raw.clear();
        base64::decode_into(&p.value, &mut raw)
            .map_err(|()| Error::BadStructure("SignatureValue is not base64"))?;
        let want = hmac(key, &canon);
        if raw.len() != want.len() || !bool::from(raw.ct_eq(&want)) {
            return Err(Error::AuthenticationFailed);
        }
        let digest = if p.transform == Some(true) {
            canon.clear();
            c14n::document(body, limits, &mut canon)?;
            Sha256::digest(&canon)
        } else {
            Sha256::digest(body)
        };
        raw.clear();
        base64::decode_into(&p.digest, &mut raw)
            .map_err(|()| Error::BadStructure("DigestValue is not base64"))?;
        if raw.len() != digest.len() || !bool::from(raw.ct_eq(&digest)) {
            return Err(Error::AuthenticationFailed);
        }
    }
    Ok(Signed {
        signatures: bodies.len(),
    })
}

/// Reads every `Signature` of `signatures` and checks its structure and algorithms without
/// canonicalising anything: the signature of each body, by the body's index. Refuses a
/// second signature for a body, one naming no body given, and a body left unsigned.
fn match_signatures(
    key: &XmlKey,
    signatures: &[u8],
    bodies: &[(&str, &[u8])],
    limits: &Limits,
) -> Result<Vec<Option<Parsed>>, Error> {
    let mut r = Reader::document(signatures, limits)?;
    let mut by_body: Vec<Option<Parsed>> = bodies.iter().map(|_| None).collect();
    let mut root_ok = false;
    while let Some(ev) = r.next()? {
        let Event::Start { name, empty, .. } = ev else {
            continue;
        };
        let (ns, local) = r.element_name(&name);
        let depth = r.depth() + usize::from(empty);
        if depth == 1 {
            root_ok = ns == SIGNED_NS && local == b"signatures";
            if !root_ok {
                return Err(Error::BadStructure("root is not <signatures>"));
            }
            continue;
        }
        if depth != 2 {
            continue;
        }
        if ns != DSIG_NS || local != b"Signature" {
            r.skip_element(empty)?;
            continue;
        }
        if empty {
            return Err(Error::BadStructure("empty Signature"));
        }
        let p = read_signature(&mut r, depth)?;
        if p.signed_info.is_none() {
            return Err(Error::BadStructure("Signature without SignedInfo"));
        }
        if !p.canon_ok {
            return Err(Error::Unsupported(
                "CanonicalizationMethod other than C14N 1.0",
            ));
        }
        if !p.method_ok {
            return Err(Error::Unsupported(
                "SignatureMethod other than HMAC-SHA-256",
            ));
        }
        if p.references != 1 {
            return Err(Error::Unsupported(
                "a Signature with other than one Reference",
            ));
        }
        if !p.digest_ok {
            return Err(Error::Unsupported("DigestMethod other than SHA-256"));
        }
        if p.has_key_name && scan::trim(&p.key_name) != key.key_name {
            return Err(Error::WrongKey);
        }
        let uri = scan::trim(&p.uri);
        // RFC 2392: `cid:` (the scheme in any case); a bare Content-ID is taken too.
        let cid = match uri.get(..4) {
            Some(s) if s.eq_ignore_ascii_case(b"cid:") => &uri[4..],
            _ => uri,
        };
        let which = bodies
            .iter()
            .position(|(c, _)| content_id(c).is_ok_and(|c| c == cid))
            .ok_or(Error::Unsigned)?;
        if by_body[which].is_some() {
            return Err(Error::BadStructure("more than one Signature for a body"));
        }
        by_body[which] = Some(p);
    }
    if !root_ok {
        return Err(Error::BadStructure("root is not <signatures>"));
    }
    if by_body.iter().any(Option::is_none) {
        return Err(Error::Unsigned);
    }
    Ok(by_body)
}

/// Reads one `Signature` (its start tag just returned, at `top`) up to its end.
fn read_signature(r: &mut Reader<'_>, top: usize) -> Result<Parsed, Error> {
    let b = r.bytes();
    let mut p = Parsed::default();
    // The element path below Signature, by local name, for the text being captured.
    let mut path: Vec<&[u8]> = Vec::with_capacity(4);
    loop {
        let ev = r.next()?.ok_or(Error::Malformed("unclosed element"))?;
        match ev {
            Event::Start { span, name, empty } => {
                let (ns, local) = r.element_name(&name);
                if ns != DSIG_NS {
                    return Err(Error::BadStructure("foreign element in Signature"));
                }
                let alg = r
                    .attrs()
                    .iter()
                    .find(|a| &b[a.name.clone()] == b"Algorithm")
                    .map(|a| &b[a.value.clone()]);
                let parent = path.last().copied().unwrap_or(b"Signature");
                let once = match local {
                    b"CanonicalizationMethod" => 1,
                    b"SignatureMethod" => 2,
                    b"DigestMethod" => 4,
                    b"DigestValue" => 8,
                    b"SignatureValue" => 16,
                    b"KeyInfo" => 32,
                    b"KeyName" => 64,
                    b"Transforms" => 128,
                    _ => 0,
                };
                if p.seen & once != 0 {
                    return Err(Error::BadStructure("an element repeated in Signature"));
                }
                p.seen |= once;
                match (parent, local) {
                    (b"Signature", b"SignedInfo") if p.signed_info.is_none() => {
                        p.signed_info = Some(span.start);
                    }
                    (b"SignedInfo", b"CanonicalizationMethod") => p.canon_ok = alg == Some(C14N),
                    (b"SignedInfo", b"SignatureMethod") => {
                        if !empty {
                            return Err(Error::Unsupported("SignatureMethod parameters"));
                        }
                        p.method_ok = alg == Some(HMAC_SHA256);
                    }
                    (b"SignedInfo", b"Reference") => {
                        p.references += 1;
                        let uri = r.attrs().iter().find(|a| &b[a.name.clone()] == b"URI");
                        if let Some(u) = uri {
                            p.uri.clear();
                            scan::unescape_into(&b[u.value.clone()], &mut p.uri)?;
                        }
                    }
                    (b"Reference", b"Transforms") => {}
                    (b"Transforms", b"Transform") => {
                        if p.transform.is_some() || alg != Some(C14N) {
                            return Err(Error::Unsupported("transforms other than one C14N 1.0"));
                        }
                        p.transform = Some(true);
                    }
                    (b"Reference", b"DigestMethod") => p.digest_ok = alg == Some(SHA256),
                    (b"Reference", b"DigestValue")
                    | (b"Signature", b"SignatureValue")
                    | (b"Signature", b"KeyInfo") => {}
                    (b"KeyInfo", b"KeyName") => p.has_key_name = true,
                    (b"KeyInfo", _) => {
                        return Err(Error::Unsupported("KeyInfo other than KeyName"));
                    }
                    (b"Signature", b"Object") => {
                        return Err(Error::Unsupported("Object in Signature"));
                    }
                    _ => return Err(Error::BadStructure("unexpected element in Signature")),
                }
                if !empty {
                    path.push(local);
                }
            }
            Event::End { span, .. } => {
                if !span.is_empty() {
                    path.pop();
                }
                if r.depth() < top {
                    break;
                }
            }
            Event::Text(t) => {
                let text = &b[t];
                let into = match path.last().copied() {
                    Some(b"DigestValue") => &mut p.digest,
                    Some(b"SignatureValue") => &mut p.value,
                    Some(b"KeyName") => &mut p.key_name,
                    _ if text.iter().all(|c| scan::is_ws(*c)) => continue,
                    _ => return Err(Error::BadStructure("text in Signature")),
                };
                scan::unescape_into(text, into)?;
            }
            Event::CData { .. } => return Err(Error::BadStructure("CDATA in Signature")),
            Event::Comment | Event::Pi { .. } | Event::Decl => {}
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyId;

    const DOC: &[u8] = include_bytes!("testdata/mcptt_doc.xml");

    fn key(id: u32) -> XmlKey {
        XmlKey::derive(
            &[0x5a; 16],
            KeyId::new(id).unwrap(),
            b"sip:alice@example.org",
        )
        .unwrap()
    }

    #[test]
    fn signs_and_verifies() {
        let k = key(0x2ddd_5bf0);
        let l = Limits::default();
        let mut s = Vec::new();
        sign(&k, "<info@example.org>", DOC, &l, &mut s).unwrap();
        assert_eq!(
            verify(&k, &s, &[("<info@example.org>", DOC)], &l),
            Ok(Signed { signatures: 1 })
        );
        // The SignedInfo octets the HMAC covered are what C14N makes of the written one.
        let text = String::from_utf8(s.clone()).unwrap();
        assert!(text.contains("<Reference URI=\"cid:info@example.org\">"));
        assert!(text.contains("<KeyName>Ld1b8A==</KeyName>"));
        let at = text.find("<SignedInfo>").unwrap();
        let mut canon = Vec::new();
        c14n::element(&s, at, &l, &mut canon).unwrap();
        assert!(canon.starts_with(
            b"<SignedInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><CanonicalizationMethod"
        ));
        let value = &text
            [text.find("<SignatureValue>").unwrap() + 16..text.find("</SignatureValue>").unwrap()];
        let mut v = Vec::new();
        base64::decode_into(value.as_bytes(), &mut v).unwrap();
        assert_eq!(v, hmac(&k, &canon));
        // Re-serialised body (whitespace inside a tag, another quote style) still verifies:
        // the digest is over the canonical form.
        let reformatted = String::from_utf8(DOC.to_vec())
            .unwrap()
            .replace("type=\"Normal\"", "type = 'Normal' ");
        assert_eq!(
            verify(&k, &s, &[("info@example.org", reformatted.as_bytes())], &l),
            Ok(Signed { signatures: 1 })
        );
    }

    #[test]
    fn refuses_tampering_and_mismatches() {
        let k = key(0x2ddd_5bf0);
        let l = Limits::default();
        let other = b"<a>other</a>";
        let mut s = Vec::new();
        sign_bodies(&k, &[("a@x", DOC), ("b@x", other)], &l, &mut s).unwrap();
        let both = [("a@x", DOC), ("b@x", &other[..])];
        assert_eq!(verify(&k, &s, &both, &l), Ok(Signed { signatures: 2 }));
        let changed = String::from_utf8(DOC.to_vec())
            .unwrap()
            .replace("false", "true ");
        assert_eq!(
            verify(&k, &s, &[("a@x", changed.as_bytes()), ("b@x", other)], &l),
            Err(Error::AuthenticationFailed)
        );
        // A signature naming a body that is not there; a body with no signature.
        assert_eq!(verify(&k, &s, &[("a@x", DOC)], &l), Err(Error::Unsigned));
        assert_eq!(
            verify(&k, &s, &[("a@x", DOC), ("b@x", other), ("c@x", other)], &l),
            Err(Error::Unsigned)
        );
        // Another CSK-ID, another user.
        assert_eq!(
            verify(&key(0x2ddd_5bf1), &s, &both, &l),
            Err(Error::WrongKey)
        );
        let bob = XmlKey::derive(
            &[0x5a; 16],
            KeyId::new(0x2ddd_5bf0).unwrap(),
            b"sip:bob@example.org",
        )
        .unwrap();
        assert_eq!(
            verify(&bob, &s, &both, &l),
            Err(Error::AuthenticationFailed)
        );
        // SignedInfo edited (URI swapped between the two signatures).
        let t = String::from_utf8(s.clone()).unwrap();
        let swapped = t
            .replacen("cid:a@x", "cid:TMP", 1)
            .replacen("cid:b@x", "cid:a@x", 1)
            .replacen("cid:TMP", "cid:b@x", 1);
        assert_eq!(
            verify(&k, swapped.as_bytes(), &both, &l),
            Err(Error::AuthenticationFailed)
        );
        let exc = t.replace(
            "REC-xml-c14n-20010315\"/><SignatureMethod",
            "xml-exc-c14n#\"/><SignatureMethod",
        );
        assert_eq!(
            verify(&k, exc.as_bytes(), &both, &l),
            Err(Error::Unsupported(
                "CanonicalizationMethod other than C14N 1.0"
            ))
        );
        assert!(sign(&k, "bad id", DOC, &l, &mut Vec::new()).is_err());
        // Review finding: repeated elements were concatenated or overridden; now refused.
        let twice = t.replacen(
            "</DigestValue>",
            "</DigestValue><DigestValue>AAAA</DigestValue>",
            1,
        );
        assert_eq!(
            verify(&k, twice.as_bytes(), &both, &l),
            Err(Error::BadStructure("an element repeated in Signature"))
        );
        let upper = t.replace("URI=\"cid:", "URI=\"CID:");
        assert_eq!(
            verify(&k, upper.as_bytes(), &both, &l),
            Err(Error::AuthenticationFailed)
        );
    }

    /// The `Signature` elements of a signatures body, each written once.
    fn signature_of(s: &[u8]) -> &str {
        let t = core::str::from_utf8(s).unwrap();
        &t[t.find("<Signature ").unwrap()..t.find("</signatures>").unwrap()]
    }

    // Many copies of one valid Signature over a large body are refused from the structure
    // alone, before any canonicalisation (so their cost does not grow with the copies).
    #[test]
    fn repeated_signatures_are_refused_before_any_canonicalisation() {
        let k = key(0x2ddd_5bf0);
        let l = Limits::default();
        let body = format!("<a>{}</a>", "<b x='1'>text</b>".repeat(4000));
        let mut s = Vec::new();
        sign(&k, "a@x", body.as_bytes(), &l, &mut s).unwrap();
        let one = signature_of(&s);
        let copies = 200;
        let many = format!(
            "<signatures xmlns=\"urn:3gpp:ns:mcpttSignedDoc:1.0\">{}</signatures>",
            one.repeat(copies)
        );
        assert!(many.len() <= l.max_document);
        let before = c14n::runs();
        assert_eq!(
            verify(&k, many.as_bytes(), &[("a@x", body.as_bytes())], &l),
            Err(Error::BadStructure("more than one Signature for a body"))
        );
        assert_eq!(c14n::runs() - before, 0);
        // A Signature naming no body given is refused the same way, after a valid one.
        let extra = String::from_utf8(s.clone())
            .unwrap()
            .replace("</signatures>", &one.replace("cid:a@x", "cid:z@x"))
            + "</signatures>";
        let before = c14n::runs();
        assert_eq!(
            verify(&k, extra.as_bytes(), &[("a@x", body.as_bytes())], &l),
            Err(Error::Unsigned)
        );
        assert_eq!(c14n::runs() - before, 0);
    }

    // The signatures body sign writes is one verify takes: within the document limit.
    #[test]
    fn sign_output_stays_within_the_document_limit() {
        let k = key(0x2ddd_5bf0);
        let l = Limits::default();
        let bodies = [("a@x", &b"<a/>"[..]), ("b@x", b"<b/>")];
        let mut s = Vec::new();
        sign_bodies(&k, &bodies, &l, &mut s).unwrap();
        let exact = Limits {
            max_document: s.len(),
            ..l
        };
        let mut again = Vec::new();
        sign_bodies(&k, &bodies, &exact, &mut again).unwrap();
        assert_eq!(
            verify(&k, &again, &bodies, &exact),
            Ok(Signed { signatures: 2 })
        );
        let under = Limits {
            max_document: s.len() - 1,
            ..l
        };
        let mut out = b"keep".to_vec();
        assert_eq!(
            sign_bodies(&k, &bodies, &under, &mut out),
            Err(Error::TooLarge)
        );
        assert_eq!(out, b"keep");
    }

    // Each body is canonicalised once, and each SignedInfo once: two per signed body.
    #[test]
    fn verify_canonicalises_each_body_once() {
        let k = key(0x2ddd_5bf0);
        let l = Limits::default();
        let bodies = [("a@x", DOC), ("b@x", &b"<a>other</a>"[..]), ("c@x", DOC)];
        let mut s = Vec::new();
        sign_bodies(&k, &bodies, &l, &mut s).unwrap();
        let before = c14n::runs();
        assert_eq!(verify(&k, &s, &bodies, &l), Ok(Signed { signatures: 3 }));
        assert_eq!(c14n::runs() - before, 2 * bodies.len());
    }
}
