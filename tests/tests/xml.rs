//! XML protection against independent implementations (digest §4; issue 7):
//!
//! - `xmlsec1` (Debian, libxmlsec1-openssl) decrypts the engine's `EncryptedData` with the
//!   F.1.4 confidentiality key, and the engine decrypts what `xmlsec1 encrypt` writes; both
//!   refuse a flipped ciphertext bit. AES-128 and AES-256.
//! - Python with lxml (libxml2's Canonical XML 1.0) and `hmac` verifies the engine's
//!   signatures, signs in another style for the engine to verify, and canonicalizes documents
//!   the engine's C14N must match octet for octet.
//!
//! The peers are installed by `scripts/test.sh`; a missing peer fails these tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use mcx_engine::keys::{KeyId, kdf};
use mcx_engine::xml::{self, Elements, Limits, XmlKey};

const DOC: &str = include_str!("../../engine/src/xml/testdata/mcptt_doc.xml");
const USER: &[u8] = b"sip:alice.fieldunit.0042@mcptt.example.org";
const PY: &str = "/usr/bin/python3";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/xmldsig_check.py")
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mcx-xml-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The F.1.4 keys of a CSK (16 or 32 octets) and the `XmlKey` over them.
fn keys(xpk_len: usize) -> (Vec<u8>, Vec<u8>, XmlKey) {
    let xpk: Vec<u8> = (0..xpk_len as u8)
        .map(|i| i.wrapping_mul(7) ^ 0x3c)
        .collect();
    let id = KeyId::new(0x2ddd_5bf0).unwrap();
    let k = kdf::xml_keys(&xpk, id, USER).unwrap();
    let key = XmlKey::derive(&xpk, id, USER).unwrap();
    (
        k.confidentiality.expose().to_vec(),
        k.integrity.expose().to_vec(),
        key,
    )
}

fn c14n(doc: &[u8]) -> String {
    let mut out = Vec::new();
    xml::c14n::document(doc, &Limits::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn xmlsec1(args: &[&str]) -> std::process::Output {
    Command::new("xmlsec1")
        .args(args)
        .output()
        .expect("xmlsec1 is not installed (scripts/test.sh installs it)")
}

fn engine_to_xmlsec1(xpk_len: usize) {
    let (conf, _, key) = keys(xpk_len);
    let wd = workdir(&format!("e2x-{xpk_len}"));
    let keyfile = wd.join("key.bin");
    std::fs::write(&keyfile, &conf).unwrap();
    let only = Elements::new(["mcptt-calling-user-id"]);
    let mut enc = Vec::new();
    assert_eq!(
        xml::protect(&key, DOC.as_bytes(), &only, &Limits::default(), &mut enc).unwrap(),
        1
    );
    let input = wd.join("enc.xml");
    let output = wd.join("dec.xml");
    std::fs::write(&input, &enc).unwrap();
    let aeskey = format!("--aeskey:{}", key.key_name());
    let out = xmlsec1(&[
        "decrypt",
        &aeskey,
        keyfile.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "xmlsec1 decrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // xmlsec1 puts the content back but knows nothing of `type`: compare with that one change.
    let want = DOC.replacen(
        "<mcptt-calling-user-id type=\"Normal\">",
        "<mcptt-calling-user-id type=\"Encrypted\">",
        1,
    );
    assert_eq!(
        c14n(&std::fs::read(&output).unwrap()),
        c14n(want.as_bytes())
    );

    // One flipped bit of ciphertext: xmlsec1 refuses.
    let text = String::from_utf8(enc).unwrap();
    let at = text.find("<xenc:CipherValue>").unwrap() + 18 + 24;
    let mut bad = text.into_bytes();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&input, &bad).unwrap();
    let out = xmlsec1(&[
        "decrypt",
        &aeskey,
        keyfile.to_str().unwrap(),
        "--output",
        "/dev/null",
        input.to_str().unwrap(),
    ]);
    assert!(
        !out.status.success(),
        "xmlsec1 accepted a tampered EncryptedData"
    );
    std::fs::remove_dir_all(wd).ok();
}

fn xmlsec1_to_engine(xpk_len: usize) {
    let (conf, _, key) = keys(xpk_len);
    let wd = workdir(&format!("x2e-{xpk_len}"));
    let keyfile = wd.join("key.bin");
    std::fs::write(&keyfile, &conf).unwrap();
    let alg = if xpk_len == 16 {
        "aes128-gcm"
    } else {
        "aes256-gcm"
    };
    let template = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\">\n\
         <xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#{alg}\"/>\n\
         <ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:KeyName>{}</ds:KeyName></ds:KeyInfo>\n\
         <xenc:CipherData><xenc:CipherValue/></xenc:CipherData>\n</xenc:EncryptedData>\n",
        key.key_name()
    );
    let tpl = wd.join("template.xml");
    let data = wd.join("doc.xml");
    let output = wd.join("enc.xml");
    std::fs::write(&tpl, template).unwrap();
    std::fs::write(&data, DOC).unwrap();
    let aeskey = format!("--aeskey:{}", key.key_name());
    let out = xmlsec1(&[
        "encrypt",
        &aeskey,
        keyfile.to_str().unwrap(),
        "--xml-data",
        data.to_str().unwrap(),
        "--node-xpath",
        "//*[local-name()='mcptt-calling-user-id']",
        "--output",
        output.to_str().unwrap(),
        tpl.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "xmlsec1 encrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let enc = std::fs::read(&output).unwrap();
    assert!(
        !String::from_utf8_lossy(&enc)
            .contains("alice.fieldunit.0042@mcptt.example.org</mcpttURI>")
    );
    let mut dec = Vec::new();
    assert_eq!(
        xml::unprotect(&key, &enc, &Limits::default(), &mut dec).unwrap(),
        1
    );
    assert_eq!(c14n(&dec), c14n(DOC.as_bytes()));

    let text = String::from_utf8(enc).unwrap();
    let at = text.find("CipherValue>").unwrap() + 12 + 30;
    let mut bad = text.into_bytes();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    let mut out = Vec::new();
    assert_eq!(
        xml::unprotect(&key, &bad, &Limits::default(), &mut out),
        Err(xml::Error::AuthenticationFailed)
    );
    assert!(out.is_empty());
    std::fs::remove_dir_all(wd).ok();
}

#[test]
fn xmlsec1_decrypts_engine_aes128() {
    engine_to_xmlsec1(16);
}

#[test]
fn xmlsec1_decrypts_engine_aes256() {
    engine_to_xmlsec1(32);
}

#[test]
fn engine_decrypts_xmlsec1_aes128() {
    xmlsec1_to_engine(16);
}

#[test]
fn engine_decrypts_xmlsec1_aes256() {
    xmlsec1_to_engine(32);
}

fn python(args: &[&str]) -> std::process::Output {
    Command::new(PY)
        .arg(script())
        .args(args)
        .output()
        .expect("/usr/bin/python3 with lxml is not installed (scripts/test.sh installs it)")
}

#[test]
fn lxml_verifies_engine_signatures() {
    let (_, integ, key) = keys(16);
    let wd = workdir("sig");
    let mut sigs = Vec::new();
    xml::sign(
        &key,
        "<info@mcptt.example.org>",
        DOC.as_bytes(),
        &Limits::default(),
        &mut sigs,
    )
    .unwrap();
    std::fs::write(wd.join("sigs.xml"), &sigs).unwrap();
    std::fs::write(wd.join("body.xml"), DOC).unwrap();
    let args = |sig: &Path, body: &Path| {
        python(&[
            "verify",
            &hex::encode(&integ),
            sig.to_str().unwrap(),
            body.to_str().unwrap(),
            "<info@mcptt.example.org>",
        ])
    };
    let out = args(&wd.join("sigs.xml"), &wd.join("body.xml"));
    assert!(
        out.status.success(),
        "lxml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK 1");
    // The peer is not a rubber stamp: a changed body fails there too.
    std::fs::write(
        wd.join("body2.xml"),
        DOC.replace("floor-idle", "floor-taken"),
    )
    .unwrap();
    let out = args(&wd.join("sigs.xml"), &wd.join("body2.xml"));
    assert!(!out.status.success());
    std::fs::remove_dir_all(wd).ok();
}

#[test]
fn engine_verifies_lxml_signatures() {
    let (_, integ, key) = keys(16);
    let wd = workdir("pysig");
    std::fs::write(wd.join("body.xml"), DOC).unwrap();
    let out = python(&[
        "sign",
        &hex::encode(&integ),
        key.key_name(),
        wd.join("body.xml").to_str().unwrap(),
        "info@x",
    ]);
    assert!(
        out.status.success(),
        "lxml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sigs = out.stdout;
    let l = Limits::default();
    assert_eq!(
        xml::verify(&key, &sigs, &[("<info@x>", DOC.as_bytes())], &l)
            .unwrap()
            .signatures,
        1
    );
    let changed = DOC.replace("prearranged", "chat");
    assert_eq!(
        xml::verify(&key, &sigs, &[("info@x", changed.as_bytes())], &l),
        Err(xml::Error::AuthenticationFailed)
    );
    std::fs::remove_dir_all(wd).ok();
}

/// Documents whose canonical form exercises the C14N rules; lxml's output is the reference.
const C14N_CASES: &[&str] = &[
    DOC,
    "<a  b='1'   a=\"2\"\r\n>x&#13;y\r\nz&gt;&lt;&amp;<![CDATA[<&>]]><e/></a>",
    "<?pi  data ?><!--c--><r xmlns='http://u' xmlns:z='http://v' z:b='1' a='2'><s xmlns=''><t xmlns='http://u'/></s><z:q xmlns:z='http://v' xmlns:y='http://w'/></r><?after?>",
    "<a at='&#9;t&#10;n&#13;r &quot;q&quot; &lt;'>\u{e9}\u{1f600}</a>",
    "<r xmlns:a='http://a' xmlns:b='http://b'><e b:x='1' a:x='2' x='3' a:y='0'/></r>",
];

#[test]
fn c14n_matches_lxml() {
    let wd = workdir("c14n");
    for (i, case) in C14N_CASES.iter().enumerate() {
        let f = wd.join(format!("{i}.xml"));
        std::fs::write(&f, case).unwrap();
        let out = python(&["c14n", f.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "lxml: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            c14n(case.as_bytes()),
            String::from_utf8(out.stdout).unwrap(),
            "case {i}"
        );
    }
    std::fs::remove_dir_all(wd).ok();
}

/// Hostile or broken documents: each is refused with the named error, and nothing is written.
#[test]
fn hostile_documents_are_refused() {
    let (_, _, key) = keys(16);
    let l = Limits::default();
    let billion = "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><l>&b;</l>";
    let xxe = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
    let deep = "<a>".repeat(l.max_depth + 1) + &"</a>".repeat(l.max_depth + 1);
    let wide = format!(
        "<a {}/>",
        (0..=l.max_attributes)
            .map(|i| format!("x{i}='1'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let huge = format!("<a x='{}'/>", "v".repeat(l.max_attribute_value + 1));
    let truncated = &DOC[..DOC.len() / 2];
    let cases: Vec<(&[u8], xml::Error)> = vec![
        (billion.as_bytes(), xml::Error::Dtd),
        (xxe.as_bytes(), xml::Error::Dtd),
        (b"<a>&undefined;</a>", xml::Error::Entity),
        (deep.as_bytes(), xml::Error::TooDeep),
        (wide.as_bytes(), xml::Error::TooManyAttributes),
        (huge.as_bytes(), xml::Error::TooLarge),
        (
            truncated.as_bytes(),
            xml::Error::Malformed("unclosed element"),
        ),
        (b"\xfe\xff\x00<\x00a\x00/\x00>", xml::Error::Encoding),
        (
            b"<a><b></a></b>",
            xml::Error::Malformed("end tag does not match start tag"),
        ),
    ];
    for (doc, want) in cases {
        let mut out = b"untouched".to_vec();
        assert_eq!(
            xml::protect(&key, doc, &Elements::default(), &l, &mut out),
            Err(want)
        );
        assert_eq!(xml::unprotect(&key, doc, &l, &mut out), Err(want));
        assert_eq!(xml::sign(&key, "a@b", doc, &l, &mut out), Err(want));
        assert_eq!(out, b"untouched");
    }
}

/// Random corruption of a protected document (bytes changed, dropped, inserted, stretches
/// copied elsewhere) never panics; whatever is accepted decrypts to
/// well-formed XML.
#[test]
fn mutated_documents_never_panic() {
    let (_, _, key) = keys(16);
    let l = Limits::default();
    let mut enc = Vec::new();
    xml::protect(&key, DOC.as_bytes(), &Elements::default(), &l, &mut enc).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut accepted = 0;
    for _ in 0..6000 {
        let mut m = enc.clone();
        for _ in 0..1 + next() % 3 {
            let at = (next() as usize) % m.len();
            match next() % 4 {
                0 => m[at] = next() as u8,
                1 => {
                    m.remove(at);
                }
                2 => m.insert(at, b"<>&'\"/=x"[(next() % 8) as usize]),
                _ => {
                    // Copy a stretch (often a whole EncryptedData) somewhere else.
                    let len = 1 + (next() as usize) % 600.min(m.len() - at);
                    let piece = m[at..at + len].to_vec();
                    let to = (next() as usize) % m.len();
                    m.splice(to..to, piece);
                }
            }
        }
        let mut out = Vec::new();
        if xml::unprotect(&key, &m, &l, &mut out).is_ok() {
            accepted += 1;
            assert_eq!(xml::check(&out, &l), Ok(()));
        } else {
            assert!(out.is_empty());
        }
    }
    // Mutations outside the ciphertext (whitespace, text of other elements) can be accepted;
    // those inside never are. The count only shows the loop did both.
    assert!(accepted < 6000, "{accepted}");
}
