//! The `mcx` binary, run as a user would: outputs, JSON, exit codes and messages.

use std::process::{Command, Output};

use hex_literal::hex;
use hmac::{Hmac, KeyInit, Mac};
use mcx_engine::keys::{CsId, KeyId, derive_srtp_master};
use mcx_engine::srtcp::{Mki, SrtcpKeys, TxConfig, TxContext};
use serde_json::Value;
use sha2::Sha256;

fn mcx<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcx"))
        .args(args)
        .output()
        .expect("run mcx")
}

fn json_ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Value {
    let out = mcx(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn fails<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S], code: i32, message: &str) {
    let out = mcx(args);
    assert_eq!(out.status.code(), Some(code), "{args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(message),
        "{args:?}: stderr {err:?} lacks {message:?}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout when failing");
}

// Digest §11.1 (Streamwide test_key_deriv.cc).
const TGK: &str = "A27B7D578EEB9B1EE7705E385996D300";
const RAND: &str = "4339F62F55AAC86348846A482C893802";

/// `mcx srtcp <op> <pre…> --key TGK --key-id <id> --rand RAND --cs-id 6 --in <input>`: the MC
/// chain with the digest §11.1 key and RAND, CS-ID 6 (CSK, MCPTT).
fn chain(op: &str, pre: &[&str], key_id: &str, input: &str) -> Vec<String> {
    let mut v = vec!["srtcp".to_owned(), op.to_owned()];
    v.extend(pre.iter().map(|s| (*s).to_owned()));
    for a in [
        "--key", TGK, "--key-id", key_id, "--rand", RAND, "--cs-id", "6", "--in", input,
    ] {
        v.push(a.to_owned());
    }
    v
}

#[test]
fn derive_srtcp_matches_the_mikey_vector() {
    let v = json_ok(&[
        "derive", "srtcp", "--key", TGK, "--key-id", "0633F457", "--rand", RAND, "--cs-id", "4",
        "--json",
    ]);
    assert_eq!(v["master_key"], "59aaa49ebb54813602b7cc165961b4e8");
    assert_eq!(v["master_salt"], "745eb4df7d155c473114a799");
    assert_eq!(v["session_key"].as_str().unwrap().len(), 32);
    assert_eq!(v["session_salt"].as_str().unwrap().len(), 24);

    let human = mcx(&[
        "derive", "srtcp", "--key", TGK, "--key-id", "0633F457", "--rand", RAND, "--cs-id", "4",
    ]);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("master key"), "{text}");
    assert!(text.contains("59aaa49ebb54813602b7cc165961b4e8"), "{text}");
    assert!(text.contains(v["session_key"].as_str().unwrap()), "{text}");
}

#[test]
fn derive_xml_follows_f14() {
    let key = "000102030405060708090a0b0c0d0e0f";
    let user = "sip:alice@example.org";
    let v = json_ok(&[
        "--json",
        "derive",
        "xml",
        "--key",
        key,
        "--key-id",
        "2ddd5bf0",
        "--user-id",
        user,
    ]);
    // HMAC-SHA-256(XPK, FC ‖ user ‖ len ‖ XPK-ID ‖ 00 04), last 16 octets (TS 33.220 Annex B).
    for (fc, name) in [(0x51u8, "confidentiality_key"), (0x52, "integrity_key")] {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&hex!("000102030405060708090a0b0c0d0e0f"))
                .unwrap();
        mac.update(&[fc]);
        mac.update(user.as_bytes());
        mac.update(&(user.len() as u16).to_be_bytes());
        mac.update(&hex!("2ddd5bf0 0004"));
        let out = mac.finalize().into_bytes();
        assert_eq!(v[name], hex::encode(&out[16..]), "{name}");
    }
}

#[test]
fn protect_then_unprotect_with_the_mc_chain() {
    // 18 octets is not a whole RTCP packet: rejected with the reason.
    let torn = "80cc00044a3b2c1d4d435054660205000000";
    fails(
        &chain("protect", &["--index", "0"], "2ddd5bf0", torn),
        1,
        "length field",
    );

    let plain = "80cc00034a3b2c1d4d43505466020500";
    let p = json_ok(&chain(
        "protect",
        &["--json", "--index", "41"],
        "2ddd5bf0",
        plain,
    ));
    let packet = p["packet"].as_str().unwrap().to_owned();
    assert_eq!(p["index"], 41);
    assert!(packet.ends_with("800000292ddd5bf0"), "{packet}");

    // The same bytes as the library at the same index.
    let id = KeyId::new(0x2ddd_5bf0).unwrap();
    let (mk, ms) = derive_srtp_master(
        &hex!("A27B7D578EEB9B1EE7705E385996D300"),
        CsId::CskSrtcpMcptt,
        id.get(),
        &hex!("4339F62F55AAC86348846A482C893802"),
    )
    .unwrap();
    let cfg = TxConfig::new(Mki::from_key_id(id)).initial_index(41);
    let mut tx = TxContext::try_new(
        SrtcpKeys::from_master(&mk, &ms, mcx_engine::aead::Provider::detect()),
        cfg,
    )
    .unwrap();
    let mut out = [0u8; 40];
    let n = tx
        .protect(&hex::decode(plain).unwrap(), &mut out)
        .unwrap()
        .len;
    assert_eq!(packet, hex::encode(&out[..n]));

    let u = json_ok(&chain("unprotect", &["--json"], "2ddd5bf0", &packet));
    assert_eq!(u["packet"], plain);
    assert_eq!(u["index"], 41);
    assert_eq!(u["encrypted"], true);

    // Human output carries the hex of the packet.
    let h = mcx(&chain("unprotect", &[], "2ddd5bf0", &packet));
    assert!(String::from_utf8(h.stdout).unwrap().contains(plain));

    // A flipped bit, another key ID's MKI, and E=0 where E=1 is required all fail.
    let mut bad = hex::decode(&packet).unwrap();
    bad[10] ^= 4;
    let bad = hex::encode(&bad);
    fails(
        &chain("unprotect", &[], "2ddd5bf0", &bad),
        1,
        "authentication failed",
    );
    fails(
        &chain("unprotect", &[], "2ddd5bf1", &packet),
        1,
        "unknown MKI",
    );
    let e0 = json_ok(&chain(
        "protect",
        &["--json", "--index", "1", "--auth-only"],
        "2ddd5bf0",
        plain,
    ));
    assert_eq!(e0["encrypted"], false);
    let e0p = e0["packet"].as_str().unwrap();
    assert!(e0p.starts_with(plain), "E=0 leaves the packet in clear");
    fails(
        &chain("unprotect", &[], "2ddd5bf0", e0p),
        1,
        "not encrypted",
    );
    let ok = json_ok(&chain(
        "unprotect",
        &["--json", "--auth-only"],
        "2ddd5bf0",
        e0p,
    ));
    assert_eq!(ok["encrypted"], false);
}

#[test]
fn master_key_form_with_explicit_mki() {
    let mk = "000102030405060708090a0b0c0d0e0f";
    let ms = "517569642070726f2071756f";
    let plain = "81c8000c4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";
    let p = json_ok(&[
        "--json",
        "srtcp",
        "protect",
        "--index",
        "1492",
        "--master-key",
        mk,
        "--master-salt",
        ms,
        "--mki",
        "0df9bc3906a12aea",
        "--in",
        plain,
    ]);
    let pkt = p["packet"].as_str().unwrap();
    assert!(pkt.ends_with("800005d40df9bc3906a12aea"), "{pkt}");
    assert_eq!(pkt.len(), 2 * (52 + 16 + 4 + 8));
    let u = json_ok(&[
        "--json",
        "srtcp",
        "unprotect",
        "--master-key",
        mk,
        "--master-salt",
        ms,
        "--mki",
        "0df9bc3906a12aea",
        "--in",
        pkt,
    ]);
    assert_eq!(u["packet"], plain);
    // Without --mki the receiver expects none and finds the packet malformed or unauthentic.
    let out = mcx(&[
        "srtcp",
        "unprotect",
        "--master-key",
        mk,
        "--master-salt",
        ms,
        "--in",
        pkt,
    ]);
    assert!(!out.status.success());
}

#[test]
fn bad_arguments_are_explained() {
    // Reserved purpose tag 7.
    fails(
        &[
            "derive", "srtcp", "--key", TGK, "--key-id", "7633F457", "--rand", RAND, "--cs-id", "4",
        ],
        1,
        "reserved",
    );
    fails(
        &[
            "derive", "srtcp", "--key", TGK, "--key-id", "0633F4", "--rand", RAND, "--cs-id", "4",
        ],
        1,
        "4 octets",
    );
    fails(
        &[
            "derive", "srtcp", "--key", "zz", "--key-id", "0633F457", "--rand", RAND, "--cs-id",
            "4",
        ],
        1,
        "not valid hex",
    );
    fails(
        &[
            "derive", "srtcp", "--key", TGK, "--key-id", "0633F457", "--rand", "00", "--cs-id", "4",
        ],
        1,
        "RAND",
    );
    fails(
        &[
            "derive", "srtcp", "--key", TGK, "--key-id", "0633F457", "--rand", RAND, "--cs-id",
            "12",
        ],
        1,
        "CS-ID 12",
    );
    fails(
        &[
            "srtcp",
            "protect",
            "--index",
            "0",
            "--master-key",
            TGK,
            "--master-salt",
            "00000000000000000000000000",
            "--in",
            "00",
        ],
        1,
        "--master-salt",
    );
    fails(
        &[
            "srtcp",
            "protect",
            "--index",
            "2147483648",
            "--master-key",
            TGK,
            "--master-salt",
            "000000000000000000000000",
            "--in",
            "00",
        ],
        1,
        "2^31",
    );
    fails(
        &[
            "srtcp",
            "protect",
            "--index",
            "1",
            "--in",
            "80c80001deadbeef",
        ],
        1,
        "give either",
    );
    // clap: a missing required argument is a usage error (exit 2).
    fails(&["derive", "srtcp", "--key", TGK], 2, "--key-id");
    fails(&["frobnicate"], 2, "unrecognized");
}

#[test]
fn version_names_the_backend() {
    let out = mcx(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    // The default is a start-up measurement of the mcx process: one of this CPU's providers.
    assert!(
        mcx_engine::aead::Provider::available().any(|p| text.contains(p.description())),
        "{text}"
    );
    // The override names the provider asked for, or warns.
    let out = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .arg("--version")
        .env("MCX_AEAD_BACKEND", "portable")
        .output()
        .expect("run mcx");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(mcx_engine::aead::Provider::Portable.description()),
        "{text}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .arg("--version")
        .env("MCX_AEAD_BACKEND", "rot13")
        .output()
        .expect("run mcx");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("MCX_AEAD_BACKEND=rot13: unknown backend"),
        "{text}"
    );
}

/// `mcx mcdata`: the AES-256 message of the engine's MCData vectors (Python `cryptography`,
/// DPPK 00…1f, DPPK-ID 1eadbaad) opens; a payload protected by the CLI opens again; a
/// flipped bit fails with the reason and nothing on stdout.
#[test]
fn mcdata_protect_and_unprotect() {
    let dppk: String = (0u8..32).map(|b| format!("{b:02x}")).collect();
    let msg = "4301020304050a0b0c0d0802202122232425262728292a2b2c2d2e2f1eadbaad00002e\
               cd7e505693bfccf74ecf44cd2895bf7e91fdbd2e7b26551bb4ae055b32e027dd1923451d47bbee4858834984a677";
    let v = json_ok(&[
        "--json",
        "mcdata",
        "unprotect",
        "--dppk",
        &dppk,
        "--dppk-id",
        "1eadbaad",
        "--in",
        msg,
    ]);
    assert_eq!(v["payload"], hex::encode(b"MCData SDS: floor 2, status ok"));
    assert_eq!(
        (v["sequence"].as_u64(), v["payload_id"].as_u64()),
        (Some(8), Some(0x0a0b_0c0d))
    );
    assert_eq!(v["dppk_id"], "1eadbaad");

    let p = json_ok(&[
        "--json",
        "mcdata",
        "protect",
        "--dppk",
        "000102030405060708090a0b0c0d0e0f",
        "--dppk-id",
        "10000042",
        "--payload-id",
        "9",
        "--in",
        "cafe",
    ]);
    let wire = p["payload"].as_str().unwrap().to_owned();
    assert_eq!(wire.len(), 2 * (2 + 32 + 3 + 16));
    let back = json_ok(&[
        "--json",
        "mcdata",
        "unprotect",
        "--dppk",
        "000102030405060708090a0b0c0d0e0f",
        "--dppk-id",
        "10000042",
        "--in",
        &wire,
    ]);
    assert_eq!(
        (back["payload"].as_str(), back["payload_id"].as_u64()),
        (Some("cafe"), Some(9))
    );

    let mut bad = hex::decode(&wire).unwrap();
    bad[40] ^= 1;
    fails(
        &[
            "mcdata",
            "unprotect",
            "--dppk",
            "000102030405060708090a0b0c0d0e0f",
            "--dppk-id",
            "10000042",
            "--in",
            &hex::encode(bad),
        ],
        1,
        "authentication failed",
    );
    fails(
        &[
            "mcdata",
            "unprotect",
            "--dppk",
            "0001",
            "--dppk-id",
            "10000042",
            "--in",
            &wire,
        ],
        1,
        "--dppk",
    );
    // The DPPK is a PCK or a GMK: a CSK-ID is refused.
    fails(
        &[
            "mcdata",
            "protect",
            "--dppk",
            "000102030405060708090a0b0c0d0e0f",
            "--dppk-id",
            "2ddd5bf0",
            "--in",
            "cafe",
        ],
        1,
        "--dppk-id: a DPPK is a PCK or a GMK, not a CSK",
    );
}

fn mcx_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mcx");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

const XML_DOC: &[u8] = include_bytes!("../../engine/src/xml/testdata/mcptt_doc.xml");
const XML_KEY: [&str; 6] = [
    "--key",
    "000102030405060708090a0b0c0d0e0f",
    "--key-id",
    "2ddd5bf0",
    "--user-id",
    "sip:alice.fieldunit.0042@mcptt.example.org",
];

/// `mcx xml`: protect then unprotect gives the document back octet for octet; sign then
/// verify passes, and fails with the reason (and exit 1) once the document changes; a DTD is
/// refused with nothing on stdout.
#[test]
fn xml_protect_unprotect_sign_verify() {
    let args = |cmd: &str, extra: &[&str]| {
        let mut v = vec!["xml", cmd];
        v.extend_from_slice(&XML_KEY);
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |a: &[String], input: &[u8]| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        mcx_stdin(&a, input)
    };
    let enc = run(
        &args(
            "protect",
            &["--elements", "mcptt-calling-user-id,mcptt-request-uri"],
        ),
        XML_DOC,
    );
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let text = String::from_utf8(enc.stdout.clone()).unwrap();
    assert_eq!(text.matches("<xenc:EncryptedData").count(), 2);
    assert!(text.contains("<ds:KeyName>Ld1b8A==</ds:KeyName>"));
    let dec = run(&args("unprotect", &[]), &enc.stdout);
    assert!(dec.status.success());
    assert_eq!(dec.stdout, XML_DOC);

    let sig = run(
        &args("sign", &["--content-id", "<info@mcptt.example.org>"]),
        XML_DOC,
    );
    assert!(sig.status.success());
    let dir = std::env::temp_dir().join(format!("mcx-cli-xml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sigfile = dir.join("sig.xml");
    std::fs::write(&sigfile, &sig.stdout).unwrap();
    let verify = args(
        "verify",
        &[
            "--content-id",
            "info@mcptt.example.org",
            "--signature",
            sigfile.to_str().unwrap(),
        ],
    );
    let ok = run(&verify, XML_DOC);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let changed = String::from_utf8(XML_DOC.to_vec())
        .unwrap()
        .replace("floor-idle", "floor-taken");
    let bad = run(&verify, changed.as_bytes());
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("verify: XML authentication failed"));
    assert!(bad.stdout.is_empty());
    std::fs::remove_dir_all(dir).ok();

    let dtd = run(
        &args("protect", &[]),
        b"<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
    );
    assert_eq!(dtd.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dtd.stderr).contains("protect: XML with a DTD is refused"));
    assert!(dtd.stdout.is_empty());
}

/// Runs `mcx` with `stdin`, waiting at most 30 s: a process still running then is killed and
/// fails the test.
fn mcx_bounded(args: &[&str], stdin: std::process::Stdio) -> Output {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mcx");
    let bound = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait for mcx").is_none() {
        if Instant::now() > bound {
            child.kill().ok();
            child.wait().ok();
            panic!("{args:?}: still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("mcx output")
}

/// `mcx xml` reads at most the document limit and one octet more of stdin (and of the
/// --signature file), and refuses an endless input with the reason, its memory bounded.
#[test]
fn xml_refuses_endless_input() {
    let zero = || std::process::Stdio::from(std::fs::File::open("/dev/zero").unwrap());
    let mut args = vec!["xml", "protect"];
    args.extend_from_slice(&XML_KEY);
    let out = mcx_bounded(&args, zero());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stdin: longer than the 262144-octet XML document limit"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let dir = std::env::temp_dir().join(format!("mcx-cli-endless-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doc = dir.join("doc.xml");
    std::fs::write(&doc, XML_DOC).unwrap();
    let mut args = vec!["xml", "verify"];
    args.extend_from_slice(&XML_KEY);
    args.extend_from_slice(&["--content-id", "a@x", "--signature", "/dev/zero"]);
    let out = mcx_bounded(
        &args,
        std::process::Stdio::from(std::fs::File::open(&doc).unwrap()),
    );
    std::fs::remove_dir_all(dir).ok();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--signature /dev/zero: longer than the 262144-octet XML document limit"),
        "{err}"
    );
}

#[test]
fn floor_parse_and_build_round_trip() {
    // A Floor Granted built by the engine, read by the CLI, built again from its JSON.
    let pkt = mcx_engine::floor::Builder::floor(
        mcx_engine::floor::MessageType::FloorGranted,
        true,
        0xdead_beef,
    )
    .u16(mcx_engine::floor::FieldId::Duration, 30)
    .u8(mcx_engine::floor::FieldId::FloorPriority, 5)
    .text(mcx_engine::floor::FieldId::UserId, "sip:alice@a.example")
    .texts(
        mcx_engine::floor::FieldId::ListOfGrantedUsers,
        &["sip:b@a", "sip:c@a"],
    )
    .ssrcs(&[1, 2])
    .reject_cause(4, "later")
    .finish()
    .unwrap();
    let hex_in = hex::encode(&pkt);
    let v = json_ok(&["floor", "parse", "--in", &hex_in, "--json"]);
    assert_eq!(v["message"], "Floor Granted");
    assert_eq!(v["subtype"], 17);
    assert_eq!(v["ssrc"], 0xdead_beefu32);
    let f = v["fields"].as_array().unwrap();
    assert_eq!(f.len(), 6);
    assert_eq!(f[0]["id"], 1);
    assert_eq!(f[0]["name"], "Duration");
    assert_eq!(f[0]["value"], 30);
    assert_eq!(f[2]["value"], "sip:alice@a.example");
    assert_eq!(f[3]["value"], serde_json::json!(["sip:b@a", "sip:c@a"]));
    assert_eq!(f[4]["value"], serde_json::json!([1, 2]));
    assert_eq!(
        f[5]["value"],
        serde_json::json!({"cause": 4, "phrase": "later"})
    );
    let dir = std::env::temp_dir().join(format!("mcx-floor-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("granted.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let out = mcx(&["floor", "build", "--json-in", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), hex_in);
    // The legacy profile writes the legacy IDs.
    let mut legacy = v.clone();
    legacy["profile"] = "legacy".into();
    for f in legacy["fields"].as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("id");
    }
    std::fs::write(&file, legacy.to_string()).unwrap();
    let out = mcx(&["floor", "build", "--json-in", file.to_str().unwrap()]);
    let b = hex::decode(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(b[12], 103, "Duration is 103 in the legacy numbering");
    let l = json_ok(&[
        "floor",
        "parse",
        "--in",
        &hex::encode(&b),
        "--profile",
        "legacy",
        "--json",
    ]);
    assert_eq!(l["fields"][0]["id"], 103);
    assert_eq!(l["fields"][0]["name"], "Duration");
    // A bad field in the JSON is named.
    std::fs::write(
        &file,
        r#"{"message":"Floor Request","ssrc":1,"fields":[{"name":"SSRC","value":"x"}]}"#,
    )
    .unwrap();
    fails(
        &["floor", "build", "--json-in", file.to_str().unwrap()],
        1,
        "fields[0]: SSRC",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn floor_parse_explains_refusals() {
    // Truncated, an unknown field, a legacy ID read as current.
    fails(&["floor", "parse", "--in", "80cc0004"], 1, "truncated");
    fails(
        &[
            "floor",
            "parse",
            "--in",
            "80cc00031122334 44d435054 15020102",
        ],
        1,
        "unknown field ID 21",
    );
    fails(
        &["floor", "parse", "--in", "80cc0003112233444d43505466020500"],
        1,
        "unknown field ID 102",
    );
    fails(
        &[
            "floor",
            "parse",
            "--in",
            "80cc0002112233444d435054",
            "--profile",
            "x",
        ],
        1,
        "profile",
    );
}

#[test]
fn floor_parse_and_build_mcvideo_transmission_control() {
    use mcx_engine::floor::video::{VideoApp, VideoBuilder, VideoField, VideoMessage};
    let pkt = VideoBuilder::new(VideoMessage::TransmissionGranted, true, 0x1234_5678)
        .u16(VideoField::Duration, 60)
        .text(VideoField::TransmittingUserId, "sip:alice@a.example")
        .ssrc(VideoField::AudioSsrc, 0xaabb_ccdd)
        .message_name(VideoApp::Participant)
        .u8(VideoField::TransmissionPriority, 3)
        .text(VideoField::GroupIdentity, "sip:fleet@a.example")
        .finish()
        .unwrap();
    let hex_in = hex::encode(&pkt);
    let v = json_ok(&["floor", "parse", "--in", &hex_in, "--json"]);
    assert_eq!(v["app"], "MCV1");
    assert_eq!(v["message"], "Transmission Granted");
    assert_eq!(
        (v["subtype"].clone(), v["ack_required"].clone()),
        (16.into(), true.into())
    );
    let f = v["fields"].as_array().unwrap();
    let ids: Vec<u64> = f.iter().map(|x| x["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 4, 14, 16, 0, 20]);
    assert_eq!(f[1]["name"], "User ID of the Transmitting User");
    assert_eq!(f[2]["value"], 0xaabb_ccddu32);
    assert_eq!(f[3]["value"], "MCV0");
    assert_eq!(f[5]["value"], "sip:fleet@a.example");
    // Built back from the same object (fields by name only): the same octets.
    let mut by_name = v.clone();
    for x in by_name["fields"].as_array_mut().unwrap() {
        x.as_object_mut().unwrap().remove("id");
    }
    let dir = std::env::temp_dir().join(format!("mcx-video-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("granted.json");
    std::fs::write(&file, by_name.to_string()).unwrap();
    let out = mcx(&["floor", "build", "--json-in", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), hex_in);
    // A message of another name, and a refused packet, are named.
    std::fs::write(
        &file,
        r#"{"app":"MCV0","message":"Transmission Granted","ssrc":1}"#,
    )
    .unwrap();
    fails(
        &["floor", "build", "--json-in", file.to_str().unwrap()],
        1,
        "not an MCVideo message of this app",
    );
    let mut legacy_cancel = pkt.clone();
    legacy_cancel[0] = 0x89;
    fails(
        &["floor", "parse", "--in", &hex::encode(&legacy_cancel)],
        1,
        "subtype 9",
    );
    std::fs::remove_dir_all(&dir).ok();
}
