//! Element encryption (TS 24.379 §6.6.2.3, Annex F.1 `contentType`; W3C XML Encryption 1.1
//! §5.2.4 AES-GCM; digest §4.3).
//!
//! Protect turns
//!
//! ```xml
//! <mcptt-calling-user-id type="Normal"><mcpttURI>sip:alice@example.org</mcpttURI></mcptt-calling-user-id>
//! ```
//!
//! into
//!
//! ```xml
//! <mcptt-calling-user-id type="Encrypted"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"
//!   Type="http://www.w3.org/2001/04/xmlenc#Content"><xenc:EncryptionMethod
//!   Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/><ds:KeyInfo
//!   xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:KeyName>base64(XPK-ID)</ds:KeyName></ds:KeyInfo>
//!   <xenc:CipherData><xenc:CipherValue>base64(IV ‖ ciphertext ‖ tag)</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></mcptt-calling-user-id>
//! ```
//!
//! (one line in the output): the element's content, octet for octet, is the plaintext, under
//! a fresh random 12-octet IV, with no AAD. Elements are chosen by local name ([`Elements`]);
//! an element already `type="Encrypted"`, an empty one, and one inside an element being
//! encrypted are left alone. Unprotect decrypts every `xenc:EncryptedData` of `Type`
//! `…#Content` or `…#Element` (what `xmlsec1 encrypt` writes), checks that the plaintext is
//! well-formed in its place, and switches the parent's `type="Encrypted"` back to `"Normal"`.
//!
//! XML Encryption's AES-GCM has no AAD: a ciphertext is not bound to the element it stands
//! in, so `EncryptedData` blocks could be moved between elements or messages under the same
//! key and still decrypt. Placement and integrity are the signature's job (TS 33.180 §9.3):
//! verify the signatures body before trusting a decrypted document.

use super::scan::{self, Event, Reader};
use super::{Error, Limits, XmlKey, base64};
use crate::aead::TAG_LEN;
use crate::secret::KeyLen;

pub(crate) const XENC_NS: &[u8] = b"http://www.w3.org/2001/04/xmlenc#";
pub(crate) const DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
const TYPE_CONTENT: &[u8] = b"http://www.w3.org/2001/04/xmlenc#Content";
const TYPE_ELEMENT: &[u8] = b"http://www.w3.org/2001/04/xmlenc#Element";
const AES128_GCM: &[u8] = b"http://www.w3.org/2009/xmlenc11#aes128-gcm";
const AES256_GCM: &[u8] = b"http://www.w3.org/2009/xmlenc11#aes256-gcm";
const IV_LEN: usize = 12;

/// The elements [`Elements::default`] encrypts: the sensitive `contentType` elements of
/// TS 24.379 §4.8 / Annex F.1 (MCPTT) and their TS 24.282 §4.6 / Annex D.1 MCData
/// counterparts, plus `associated-group-id` and `emergency-ind` as the issue lists them.
pub const DEFAULT_ELEMENTS: &[&str] = &[
    "mcptt-request-uri",
    "mcptt-calling-user-id",
    "mcptt-called-party-id",
    "mcptt-calling-group-id",
    "associated-group-id",
    "emergency-ind",
    "mcdata-request-uri",
    "mcdata-calling-user-id",
    "mcdata-called-party-id",
    "mcdata-calling-group-id",
];

/// Which elements [`protect`] encrypts, by local name (any namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elements {
    names: Vec<Box<[u8]>>,
}

impl Default for Elements {
    fn default() -> Elements {
        Elements::new(DEFAULT_ELEMENTS.iter().copied())
    }
}

impl Elements {
    /// These local names.
    pub fn new<'s>(names: impl IntoIterator<Item = &'s str>) -> Elements {
        Elements {
            names: names.into_iter().map(|n| n.as_bytes().into()).collect(),
        }
    }

    /// A comma-separated list (`"a,b,c"`); blanks around names are ignored.
    pub fn parse(list: &str) -> Elements {
        Elements::new(list.split(',').map(str::trim).filter(|n| !n.is_empty()))
    }

    fn contains(&self, local: &[u8]) -> bool {
        self.names.iter().any(|n| **n == *local)
    }
}

/// The unprefixed `type` attribute's value range of the last start tag, if any.
fn type_attr(r: &Reader<'_>) -> Option<core::ops::Range<usize>> {
    let b = r.bytes();
    r.attrs()
        .iter()
        .find(|a| &b[a.name.clone()] == b"type")
        .map(|a| a.value.clone())
}

/// Encrypts the content of every element `elements` names (see the module docs) and appends
/// the document to `out`; returns how many elements were encrypted. A result longer than
/// [`Limits::max_document`] (which [`unprotect`] would refuse) is [`Error::TooLarge`]. On an
/// error `out` is as it was.
pub fn protect(
    key: &XmlKey,
    doc: &[u8],
    elements: &Elements,
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    let mark = out.len();
    let r = protect_inner(key, doc, elements, limits, out);
    if r.is_err() {
        out.truncate(mark);
    }
    r
}

fn protect_inner(
    key: &XmlKey,
    doc: &[u8],
    elements: &Elements,
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    let mut r = Reader::document(doc, limits)?;
    // The protected document must be one unprotect takes: within `max_document` too.
    let base = out.len();
    let over = |out: &Vec<u8>| out.len() - base > limits.max_document;
    out.reserve(doc.len() + doc.len() / 2 + 512);
    let mut copied = 0;
    let mut count = 0;
    // The element being encrypted: its depth, where its content starts, its type value.
    let mut target: Option<(usize, usize, Option<core::ops::Range<usize>>)> = None;
    while let Some(ev) = r.next()? {
        match ev {
            Event::Start { span, name, empty } if target.is_none() && !empty => {
                let (_, local) = scan::split_qname(&doc[name]);
                if !elements.contains(local) {
                    continue;
                }
                let ty = type_attr(&r);
                if ty.as_ref().is_some_and(|t| &doc[t.clone()] == b"Encrypted") {
                    continue;
                }
                target = Some((r.depth(), span.end, ty));
            }
            Event::End { span, .. } => {
                let Some((depth, content, ty)) = &target else {
                    continue;
                };
                if r.depth() + 1 != *depth {
                    continue;
                }
                let content = *content..span.start;
                if content.is_empty() {
                    target = None;
                    continue;
                }
                match ty {
                    Some(t) if &doc[t.clone()] == b"Normal" => {
                        out.extend_from_slice(&doc[copied..t.start]);
                        out.extend_from_slice(b"Encrypted");
                        out.extend_from_slice(&doc[t.end..content.start]);
                    }
                    _ => out.extend_from_slice(&doc[copied..content.start]),
                }
                encrypted_data(key, &doc[content.clone()], out)?;
                if over(out) {
                    return Err(Error::TooLarge);
                }
                copied = content.end;
                count += 1;
                target = None;
            }
            _ => {}
        }
    }
    out.extend_from_slice(&doc[copied..]);
    if over(out) {
        return Err(Error::TooLarge);
    }
    Ok(count)
}

/// Appends the `xenc:EncryptedData` of `plain`.
fn encrypted_data(key: &XmlKey, plain: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    let iv = super::iv::fresh().map_err(|_| Error::RandomUnavailable)?;
    let alg = match key.gcm.key_len() {
        KeyLen::Aes128 => AES128_GCM,
        KeyLen::Aes256 => AES256_GCM,
    };
    out.extend_from_slice(
        b"<xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" \
          Type=\"http://www.w3.org/2001/04/xmlenc#Content\"><xenc:EncryptionMethod Algorithm=\"",
    );
    out.extend_from_slice(alg);
    out.extend_from_slice(
        b"\"/><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:KeyName>",
    );
    out.extend_from_slice(&key.key_name);
    out.extend_from_slice(b"</ds:KeyName></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>");
    // IV ‖ ciphertext ‖ tag sealed in the output's tail, base64 written behind it, then
    // moved down over it: no buffer of its own.
    let start = out.len();
    out.extend_from_slice(&iv);
    out.extend_from_slice(plain);
    let tag = key
        .gcm
        .seal_in_place_any_iv(&iv, &[], &mut out[start + IV_LEN..]);
    out.extend_from_slice(&tag);
    let raw = out.len() - start;
    let text = base64::encoded_len(raw);
    out.resize(start + raw + text, 0);
    let (sealed, encoded) = out[start..].split_at_mut(raw);
    base64::encode_to_slice(sealed, encoded);
    out.copy_within(start + raw.., start);
    out.truncate(start + text);
    out.extend_from_slice(b"</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>");
    Ok(())
}

/// Decrypts every `xenc:EncryptedData` (see the module docs) and appends the document to
/// `out`; returns how many were decrypted. On an error `out` is as it was, and no decrypted
/// octet is left in its spare capacity.
pub fn unprotect(
    key: &XmlKey,
    doc: &[u8],
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    // Wipes and drops what was written unless the whole document succeeded, also when a
    // panic unwinds through here (decrypted octets must not stay behind).
    struct Wipe<'v> {
        out: &'v mut Vec<u8>,
        mark: usize,
        keep: bool,
    }
    impl Drop for Wipe<'_> {
        fn drop(&mut self) {
            if !self.keep {
                use zeroize::Zeroize;
                self.out[self.mark..].zeroize();
                self.out.truncate(self.mark);
            }
        }
    }
    let mark = out.len();
    let mut w = Wipe {
        out,
        mark,
        keep: false,
    };
    let r = unprotect_inner(key, doc, limits, w.out);
    w.keep = r.is_ok();
    r
}

/// What one `EncryptedData` holds.
#[derive(Default)]
struct Parts {
    element: bool,
    algorithm: Option<KeyLen>,
    key_name: Vec<u8>,
    has_key_name: bool,
    cipher_value: Vec<u8>,
    has_cipher_value: bool,
}

fn unprotect_inner(
    key: &XmlKey,
    doc: &[u8],
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    let mut r = Reader::document(doc, limits)?;
    // The result is never longer than the input (plaintext is shorter than its base64, and
    // "Normal" than "Encrypted"): with this room `out` never reallocates, so no decrypted
    // octet is left behind in a freed buffer.
    out.reserve(doc.len());
    let mut copied = 0;
    let mut count = 0;
    // Per open element: the range of its `type="Encrypted"` value, until switched.
    let mut open: Vec<Option<core::ops::Range<usize>>> = Vec::with_capacity(16);
    let mut raw = Vec::new();
    let mut parts = Parts::default();
    while let Some(ev) = r.next()? {
        match ev {
            Event::Start { span, name, empty } => {
                let (ns, local) = r.element_name(&name);
                if ns == XENC_NS && local == b"EncryptedData" {
                    let base = r.depth() - usize::from(!empty);
                    read_encrypted_data(&mut r, empty, &mut parts)?;
                    let end = r.position();
                    // Flush up to the EncryptedData, switching the parent's type back.
                    match open.last_mut().and_then(Option::take) {
                        // The parent's start tag went out with an earlier EncryptedData nested
                        // in another child: not the contentType shape, and its type can no
                        // longer be switched in place.
                        Some(t) if t.start < copied => {
                            return Err(Error::BadStructure(
                                "EncryptedData beside other encrypted content in its parent",
                            ));
                        }
                        Some(t) => {
                            out.extend_from_slice(&doc[copied..t.start]);
                            out.extend_from_slice(b"Normal");
                            out.extend_from_slice(&doc[t.end..span.start]);
                        }
                        None => out.extend_from_slice(&doc[copied..span.start]),
                    }
                    decrypt_into(key, &parts, &mut raw, out)?;
                    let plain_start = out.len() - (raw.len() - IV_LEN - TAG_LEN);
                    // As the root, the plaintext must be one element whatever the Type says.
                    let element = parts.element || base == 0;
                    check_plaintext(&out[plain_start..], element, limits, base, &r)?;
                    raw.clear();
                    copied = end;
                    count += 1;
                    continue;
                }
                if !empty {
                    let ty = type_attr(&r).filter(|t| &doc[t.clone()] == b"Encrypted");
                    open.push(ty);
                }
            }
            Event::End { span, .. } if !span.is_empty() => {
                open.pop();
            }
            _ => {}
        }
    }
    out.extend_from_slice(&doc[copied..]);
    Ok(count)
}

/// Reads an `EncryptedData` whose start tag the reader has just returned, up to and including
/// its end.
fn read_encrypted_data(r: &mut Reader<'_>, empty: bool, p: &mut Parts) -> Result<(), Error> {
    let b = r.bytes();
    p.element = false;
    p.algorithm = None;
    p.key_name.clear();
    p.has_key_name = false;
    p.cipher_value.clear();
    p.has_cipher_value = false;
    let ty = r
        .attrs()
        .iter()
        .find(|a| &b[a.name.clone()] == b"Type")
        .map(|a| &b[a.value.clone()]);
    p.element = match ty {
        Some(TYPE_CONTENT) => false,
        Some(TYPE_ELEMENT) => true,
        Some(_) => {
            return Err(Error::Unsupported(
                "EncryptedData Type other than Element or Content",
            ));
        }
        None => return Err(Error::BadStructure("EncryptedData without Type")),
    };
    if empty {
        return Err(Error::BadStructure("empty EncryptedData"));
    }
    let top = r.depth();
    // Which text the reader is inside: 1 = KeyName, 2 = CipherValue.
    let mut capture = 0u8;
    let mut seen_method = false;
    // The direct child of EncryptedData the reader is in (KeyInfo, CipherData …).
    let mut child: &[u8] = b"";
    loop {
        let ev = r.next()?.ok_or(Error::Malformed("unclosed element"))?;
        match ev {
            Event::Start { name, empty, .. } => {
                let (ns, local) = r.element_name(&name);
                let at = r.depth() + usize::from(empty);
                // `at` is the child's own depth: top + 1 for a direct child.
                if at - top == 1 {
                    child = local;
                }
                match (at - top, ns, local) {
                    (1, XENC_NS, b"EncryptionMethod") if !seen_method => {
                        seen_method = true;
                        let alg = r
                            .attrs()
                            .iter()
                            .find(|a| &b[a.name.clone()] == b"Algorithm")
                            .map(|a| &b[a.value.clone()]);
                        p.algorithm = Some(match alg {
                            Some(AES128_GCM) => KeyLen::Aes128,
                            Some(AES256_GCM) => KeyLen::Aes256,
                            Some(_) => return Err(Error::Unsupported("encryption algorithm")),
                            None => {
                                return Err(Error::BadStructure(
                                    "EncryptionMethod without Algorithm",
                                ));
                            }
                        });
                    }
                    (1, DSIG_NS, b"KeyInfo") | (1, XENC_NS, b"CipherData") => {}
                    (1, XENC_NS, b"EncryptionProperties") => r.skip_element(empty)?,
                    (2, DSIG_NS, b"KeyName") if !p.has_key_name && child == b"KeyInfo" => {
                        p.has_key_name = true;
                        capture = 1;
                    }
                    (2, XENC_NS, b"CipherValue")
                        if !p.has_cipher_value && child == b"CipherData" =>
                    {
                        p.has_cipher_value = true;
                        capture = 2;
                    }
                    (2, XENC_NS, b"CipherReference") => {
                        return Err(Error::Unsupported("CipherReference"));
                    }
                    (2, DSIG_NS, _) => {
                        return Err(Error::Unsupported("KeyInfo other than KeyName"));
                    }
                    _ => return Err(Error::BadStructure("unexpected element in EncryptedData")),
                }
            }
            Event::End { .. } => {
                capture = 0;
                if r.depth() < top {
                    break;
                }
            }
            Event::Text(t) => {
                let text = &b[t];
                match capture {
                    1 => scan::unescape_into(text, &mut p.key_name)?,
                    2 => scan::unescape_into(text, &mut p.cipher_value)?,
                    _ if text.iter().all(|c| scan::is_ws(*c)) => {}
                    _ => return Err(Error::BadStructure("text in EncryptedData")),
                }
            }
            Event::CData { .. } => return Err(Error::BadStructure("CDATA in EncryptedData")),
            Event::Comment | Event::Pi { .. } | Event::Decl => {}
        }
    }
    if !p.has_cipher_value {
        return Err(Error::BadStructure("EncryptedData without CipherValue"));
    }
    if p.algorithm.is_none() {
        return Err(Error::BadStructure(
            "EncryptedData without EncryptionMethod",
        ));
    }
    Ok(())
}

/// Authenticates and decrypts one `EncryptedData`, appending the plaintext to `out`. `raw`
/// receives the decoded `CipherValue`.
fn decrypt_into(
    key: &XmlKey,
    p: &Parts,
    raw: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if p.algorithm != Some(key.gcm.key_len()) {
        return Err(Error::AlgorithmMismatch);
    }
    if p.has_key_name && scan::trim(&p.key_name) != key.key_name {
        return Err(Error::WrongKey);
    }
    raw.clear();
    base64::decode_into(&p.cipher_value, raw)
        .map_err(|()| Error::BadStructure("CipherValue is not base64"))?;
    if raw.len() < IV_LEN + TAG_LEN {
        return Err(Error::BadStructure("CipherValue shorter than IV and tag"));
    }
    let (iv, rest) = raw.split_at(IV_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let tag: &[u8; TAG_LEN] = tag.try_into().unwrap_or_else(|_| unreachable!());
    let start = out.len();
    out.resize(start + ct.len(), 0);
    key.gcm
        .open_to_any_iv(iv, &[], ct, tag, &mut out[start..])
        .map_err(|_| Error::AuthenticationFailed)
}

/// The decrypted octets must be well-formed where the `EncryptedData` stood: one element for
/// `#Element`, element content for `#Content`, with the prefixes in scope there.
fn check_plaintext(
    plain: &[u8],
    element: bool,
    limits: &Limits,
    depth: usize,
    outer: &Reader<'_>,
) -> Result<(), Error> {
    let mut f = Reader::fragment(plain, limits, depth, outer.bindings())
        .map_err(|_| Error::BadStructure("decrypted content is not well-formed"))?;
    let mut roots = 0;
    loop {
        match f.next() {
            Ok(None) => break,
            Ok(Some(Event::Start { empty, .. })) if f.depth() - usize::from(!empty) == depth => {
                roots += 1;
            }
            Ok(Some(Event::Text(t))) if element && f.depth() == depth => {
                if !plain[t].iter().all(|c| scan::is_ws(*c)) {
                    return Err(Error::BadStructure("decrypted #Element has text around it"));
                }
            }
            Ok(Some(Event::CData { .. })) if element && f.depth() == depth => {
                return Err(Error::BadStructure("decrypted #Element has text around it"));
            }
            Ok(Some(_)) => {}
            Err(_) => return Err(Error::BadStructure("decrypted content is not well-formed")),
        }
    }
    if element && roots != 1 {
        return Err(Error::BadStructure("decrypted #Element is not one element"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyId, kdf};

    const DOC: &str = include_str!("testdata/mcptt_doc.xml");

    fn key() -> XmlKey {
        // A CSK (purpose 2) and a user ID; F.1.4 derivation as in `kdf::xml_keys`.
        XmlKey::derive(
            &[0x5a; 16],
            KeyId::new(0x2ddd_5bf0).unwrap(),
            b"sip:alice@example.org",
        )
        .unwrap()
    }

    #[test]
    fn round_trip_keeps_the_rest_of_the_document() {
        let k = key();
        let mut enc = Vec::new();
        let n = protect(
            &k,
            DOC.as_bytes(),
            &Elements::default(),
            &Limits::default(),
            &mut enc,
        )
        .unwrap();
        // mcptt-request-uri, calling-user-id, called-party-id, calling-group-id, emergency-ind,
        // associated-group-id.
        assert_eq!(n, 6);
        let e = String::from_utf8(enc.clone()).unwrap();
        assert!(!e.contains("<mcpttURI>"), "{e}");
        assert!(e.contains("<mcptt-calling-user-id type=\"Encrypted\"><xenc:EncryptedData"));
        assert!(e.contains("<ds:KeyName>Ld1b8A==</ds:KeyName>"));
        // What was not selected is still there, octet for octet.
        assert!(e.contains("<mc-org>Fire and Rescue Service North</mc-org>"));
        let mut dec = Vec::new();
        assert_eq!(
            unprotect(&k, &enc, &Limits::default(), &mut dec).unwrap(),
            6
        );
        assert_eq!(String::from_utf8(dec).unwrap(), DOC);
    }

    #[test]
    fn fresh_iv_per_element() {
        let k = key();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let only = Elements::new(["mcptt-calling-user-id"]);
        protect(&k, DOC.as_bytes(), &only, &Limits::default(), &mut a).unwrap();
        protect(&k, DOC.as_bytes(), &only, &Limits::default(), &mut b).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn tampering_and_wrong_keys_are_refused_and_write_nothing() {
        let k = key();
        let only = Elements::new(["mcptt-calling-user-id"]);
        let mut enc = Vec::new();
        protect(&k, DOC.as_bytes(), &only, &Limits::default(), &mut enc).unwrap();
        let e = String::from_utf8(enc).unwrap();
        let cv = e.find("<xenc:CipherValue>").unwrap() + "<xenc:CipherValue>".len();
        // Flip a ciphertext character (A <-> B keeps it base64).
        let mut t = e.clone().into_bytes();
        t[cv + 20] = if t[cv + 20] == b'A' { b'B' } else { b'A' };
        let mut out = b"keep".to_vec();
        assert_eq!(
            unprotect(&k, &t, &Limits::default(), &mut out),
            Err(Error::AuthenticationFailed)
        );
        assert_eq!(out, b"keep");

        let other = XmlKey::derive(
            &[0x5a; 16],
            KeyId::new(0x2ddd_5bf1).unwrap(),
            b"sip:alice@example.org",
        )
        .unwrap();
        assert_eq!(
            unprotect(&other, e.as_bytes(), &Limits::default(), &mut out),
            Err(Error::WrongKey)
        );
        let keys = kdf::xml_keys(
            &[0x5a; 16],
            KeyId::new(0x2ddd_5bf0).unwrap(),
            b"sip:bob@example.org",
        )
        .unwrap();
        let bob = XmlKey::from_derived(
            keys.confidentiality.expose(),
            keys.integrity.expose(),
            0x2ddd_5bf0,
        )
        .unwrap();
        assert_eq!(
            unprotect(&bob, e.as_bytes(), &Limits::default(), &mut out),
            Err(Error::AuthenticationFailed)
        );
        let wide = XmlKey::from_derived(&[1; 32], &[2; 32], 0x2ddd_5bf0).unwrap();
        assert_eq!(
            unprotect(&wide, e.as_bytes(), &Limits::default(), &mut out),
            Err(Error::AlgorithmMismatch)
        );
        assert_eq!(out, b"keep");
    }

    #[test]
    fn structure_errors_are_named() {
        let k = key();
        let ed = |inner: &str, ty: &str| {
            format!(
                "<a xmlns:xenc='http://www.w3.org/2001/04/xmlenc#' xmlns:ds='http://www.w3.org/2000/09/xmldsig#'>\
                 <xenc:EncryptedData{ty}>{inner}</xenc:EncryptedData></a>"
            )
        };
        let method =
            "<xenc:EncryptionMethod Algorithm='http://www.w3.org/2009/xmlenc11#aes128-gcm'/>";
        let content = " Type='http://www.w3.org/2001/04/xmlenc#Content'";
        let cases = [
            (
                ed(method, content),
                Error::BadStructure("EncryptedData without CipherValue"),
            ),
            (
                ed(
                    "<xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData>",
                    content,
                ),
                Error::BadStructure("EncryptedData without EncryptionMethod"),
            ),
            (
                ed(
                    &format!(
                        "{method}<xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData>"
                    ),
                    "",
                ),
                Error::BadStructure("EncryptedData without Type"),
            ),
            (
                ed(
                    &format!(
                        "{method}<xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData>"
                    ),
                    content,
                ),
                Error::BadStructure("CipherValue shorter than IV and tag"),
            ),
            (
                ed(
                    &format!(
                        "{method}<xenc:CipherData><xenc:CipherValue>**</xenc:CipherValue></xenc:CipherData>"
                    ),
                    content,
                ),
                Error::BadStructure("CipherValue is not base64"),
            ),
            (
                ed(
                    &format!(
                        "{method}<xenc:CipherData><xenc:CipherReference URI='x'/></xenc:CipherData>"
                    ),
                    content,
                ),
                Error::Unsupported("CipherReference"),
            ),
            (
                ed(
                    "<xenc:EncryptionMethod Algorithm='http://www.w3.org/2001/04/xmlenc#aes128-cbc'/>",
                    content,
                ),
                Error::Unsupported("encryption algorithm"),
            ),
            (
                ed(
                    &format!("{method}<ds:KeyInfo><ds:RetrievalMethod/></ds:KeyInfo>"),
                    content,
                ),
                Error::Unsupported("KeyInfo other than KeyName"),
            ),
        ];
        for (doc, want) in cases {
            let mut out = Vec::new();
            assert_eq!(
                unprotect(&k, doc.as_bytes(), &Limits::default(), &mut out),
                Err(want),
                "{doc}"
            );
            assert!(out.is_empty());
        }
    }

    // Protect never writes a document longer than the limit unprotect applies: it refuses
    // one and writes nothing.
    #[test]
    fn protect_output_stays_within_the_document_limit() {
        let k = key();
        let doc = format!(
            "<r><mcptt-request-uri>{}</mcptt-request-uri></r>",
            "x".repeat(200_000)
        );
        let l = Limits::default();
        assert!(doc.len() <= l.max_document);
        let mut out = b"keep".to_vec();
        assert_eq!(
            protect(&k, doc.as_bytes(), &Elements::default(), &l, &mut out),
            Err(Error::TooLarge)
        );
        assert_eq!(out, b"keep");
        // At the limit exactly it is written, and unprotect takes it back under that limit.
        let small = DOC.as_bytes();
        let mut full = Vec::new();
        protect(&k, small, &Elements::default(), &l, &mut full).unwrap();
        let exact = Limits {
            max_document: full.len(),
            ..l
        };
        let mut enc = Vec::new();
        protect(&k, small, &Elements::default(), &exact, &mut enc).unwrap();
        assert_eq!(enc.len(), exact.max_document);
        let mut dec = Vec::new();
        unprotect(&k, &enc, &exact, &mut dec).unwrap();
        assert_eq!(dec, small);
        let under = Limits {
            max_document: full.len() - 1,
            ..l
        };
        let mut out = Vec::new();
        assert_eq!(
            protect(&k, small, &Elements::default(), &under, &mut out),
            Err(Error::TooLarge)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn plaintext_must_fit_its_place() {
        let k = key();
        // Encrypt content that is only well-formed with a prefix bound outside it, then
        // decrypt it in a document where that prefix is bound: fine.
        let doc =
            b"<a xmlns:p='u'><mcptt-request-uri type=\"Normal\"><p:x/></mcptt-request-uri></a>";
        let mut enc = Vec::new();
        protect(&k, doc, &Elements::default(), &Limits::default(), &mut enc).unwrap();
        let mut dec = Vec::new();
        unprotect(&k, &enc, &Limits::default(), &mut dec).unwrap();
        assert_eq!(dec, doc);
        // Moved under a root without the binding, the same ciphertext is refused.
        let moved = String::from_utf8(enc)
            .unwrap()
            .replace("<a xmlns:p='u'>", "<a>");
        let mut out = Vec::new();
        assert_eq!(
            unprotect(&k, moved.as_bytes(), &Limits::default(), &mut out),
            Err(Error::BadStructure("decrypted content is not well-formed"))
        );
        assert!(out.is_empty());
    }
}

#[cfg(test)]
mod placement_tests {
    use super::*;
    use crate::keys::KeyId;

    fn key() -> XmlKey {
        XmlKey::derive(
            &[0x5a; 16],
            KeyId::new(0x2ddd_5bf0).unwrap(),
            b"sip:alice@example.org",
        )
        .unwrap()
    }

    /// An EncryptedData of `content` (the `#Content` of an `<e>`), as protect writes it.
    fn encrypted(k: &XmlKey, content: &str) -> String {
        let doc = format!("<r><e type=\"Normal\">{content}</e></r>");
        let mut out = Vec::new();
        protect(
            k,
            doc.as_bytes(),
            &Elements::new(["e"]),
            &Limits::default(),
            &mut out,
        )
        .unwrap();
        let s = String::from_utf8(out).unwrap();
        let a = s.find("<xenc:EncryptedData").unwrap();
        let b = s.find("</xenc:EncryptedData>").unwrap() + "</xenc:EncryptedData>".len();
        s[a..b].to_string()
    }

    // Review finding: a second EncryptedData directly in a `type="Encrypted"` parent after
    // one nested deeper used to slice backwards (a panic). Now a named error, nothing out.
    #[test]
    fn encrypted_data_beside_nested_encrypted_content_is_refused() {
        let k = key();
        let ed = encrypted(&k, "<mcpttURI>sip:a@b</mcpttURI>");
        let doc = format!("<p type=\"Encrypted\"><q>{ed}</q>{ed}</p>");
        let mut out = b"x".to_vec();
        assert_eq!(
            unprotect(&k, doc.as_bytes(), &Limits::default(), &mut out),
            Err(Error::BadStructure(
                "EncryptedData beside other encrypted content in its parent"
            ))
        );
        assert_eq!(out, b"x");
        // Two EncryptedData side by side in one parent are fine: the type switches once.
        let doc = format!("<p type=\"Encrypted\">{ed}{ed}</p>");
        let mut out = Vec::new();
        assert_eq!(
            unprotect(&k, doc.as_bytes(), &Limits::default(), &mut out),
            Ok(2)
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<p type=\"Normal\"><mcpttURI>sip:a@b</mcpttURI><mcpttURI>sip:a@b</mcpttURI></p>"
        );
    }

    // Review finding: an EncryptedData as the root must decrypt to one element, whatever its
    // Type says, or the output is not a document.
    #[test]
    fn root_encrypted_data_must_decrypt_to_one_element() {
        let k = key();
        let text = encrypted(&k, "sip:group@example.org");
        let mut out = Vec::new();
        assert_eq!(
            unprotect(&k, text.as_bytes(), &Limits::default(), &mut out),
            Err(Error::BadStructure("decrypted #Element has text around it"))
        );
        assert!(out.is_empty());
        let one = encrypted(&k, "<x>1</x>");
        assert_eq!(
            unprotect(&k, one.as_bytes(), &Limits::default(), &mut out),
            Ok(1)
        );
        assert_eq!(out, b"<x>1</x>");
    }

    // Review finding: KeyName and CipherValue count only under their own parents.
    #[test]
    fn cipher_value_outside_cipher_data_is_not_taken() {
        let k = key();
        let ed = encrypted(&k, "<x/>");
        let moved = ed
            .replace(
                "<xenc:CipherData>",
                "<ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">",
            )
            .replace("</xenc:CipherData>", "</ds:KeyInfo>");
        let doc = format!("<r>{moved}</r>");
        let mut out = Vec::new();
        assert_eq!(
            unprotect(&k, doc.as_bytes(), &Limits::default(), &mut out),
            Err(Error::BadStructure("unexpected element in EncryptedData"))
        );
    }
}
