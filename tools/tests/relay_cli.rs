//! `mcx relay` as a user runs it: from a file and from the built-in default, `ready` on
//! stdout, driven by `mcx relay ctl`, packets through, SIGINT/SIGTERM drain and exit 0.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mcx_engine::aead::Provider;
use mcx_engine::keys::KeyId;
use mcx_engine::secret::{MasterKey, MasterSalt};
use mcx_engine::srtcp::{Mki, RxConfig, RxContext, SrtcpKeys, TxConfig, TxContext};

fn mcx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcx"))
}

fn ctl(socket: &Path, line: &str) -> serde_json::Value {
    let out = mcx()
        .args(["relay", "ctl", "--socket"])
        .arg(socket)
        .arg(line)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{line}: {text:?} {e}"));
    assert_eq!(
        out.status.success(),
        v["ok"] == true,
        "exit status follows ok"
    );
    v
}

/// A relay process, killed if a test fails before stopping it.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `mcx relay` with `args` and waits for `ready`.
fn start(args: &[&str]) -> Running {
    let mut child = mcx()
        .arg("relay")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let running = Running(Some(child));
    assert_eq!(line, "ready\n", "the first stdout line is ready");
    running
}

fn stop(mut running: Running, sig: i32) -> String {
    let child = running.0.take().expect("running");
    // SAFETY: kill(2) on the child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{sig}: exit {:?}", out.status);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mcx-relay-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn print_config_shows_the_default_and_a_file() {
    let out = mcx().args(["relay", "--print-config"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "[relay]",
        "io = \"auto\"",
        "control = \"/run/mcx/relay.sock\"",
        "name = \"clients\"",
        "listen = \"127.0.0.1:40000\"",
        "listen = \"127.0.0.1:40002\"",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    let path = tmp("bad.toml");
    std::fs::write(
        &path,
        "[relay]\nio = \"epoll\"\n[[leg]]\nname = \"a\"\nlisten = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = mcx()
        .args(["relay", "--print-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("epoll"));
}

#[test]
fn a_relay_from_a_file_relays_and_drains_on_sigterm() {
    let sock = tmp("relay.sock");
    let cfg = tmp("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "[relay]\nworkers = 2\nio = \"mmsg\"\ncontrol = \"{}\"\n[[leg]]\nname = \"clients\"\nlisten = \"127.0.0.1:0\"\n[[leg]]\nname = \"core\"\nlisten = \"127.0.0.1:0\"\n",
            sock.display()
        ),
    )
    .unwrap();
    let child = start(&["--config", cfg.to_str().unwrap()]);
    let legs = ctl(&sock, r#"{"op":"legs"}"#);
    let clients: SocketAddr = legs["legs"][0]["listen"].as_str().unwrap().parse().unwrap();
    let (mk_in, ms_in) = ([0x21u8; 16], [0x22u8; 12]);
    let (mk_out, ms_out) = ([0x31u8; 16], [0x32u8; 12]);
    for (id, k, s) in [("20000201", mk_in, ms_in), ("30000201", mk_out, ms_out)] {
        let v = ctl(
            &sock,
            &format!(
                r#"{{"op":"key.install_srtp","key_id":"{id}","master_key":"{}","master_salt":"{}"}}"#,
                hex::encode(k),
                hex::encode(s)
            ),
        );
        assert_eq!(v["key_id"], id);
    }
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let refused = ctl(
        &sock,
        r#"{"op":"route.add","from_leg":"clients","key_id":"20000201","to_leg":"nowhere","to":"127.0.0.1:9","key_id_out":"30000201"}"#,
    );
    assert_eq!(refused["ok"], false);
    ctl(
        &sock,
        &format!(
            r#"{{"op":"route.add","from_leg":"clients","key_id":"20000201","to_leg":"core","to":"{}","key_id_out":"30000201"}}"#,
            sink.local_addr().unwrap()
        ),
    );
    // The client side (the engine's own SRTCP here; libsrtp in mcx-tests).
    let id_in = KeyId::new(0x2000_0201).unwrap();
    let id_out = KeyId::new(0x3000_0201).unwrap();
    let mut tx = TxContext::new(
        SrtcpKeys::from_master(
            &MasterKey::from_slice(&mk_in).unwrap(),
            &MasterSalt::new(ms_in),
            Provider::Portable,
        ),
        TxConfig::new(Mki::from_key_id(id_in)),
    );
    let mut rx = RxContext::new(
        SrtcpKeys::from_master(
            &MasterKey::from_slice(&mk_out).unwrap(),
            &MasterSalt::new(ms_out),
            Provider::Portable,
        ),
        RxConfig::new(Mki::from_key_id(id_out)),
    )
    .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtcp = [
        0x80, 0xcc, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, b'M', b'C', b'P', b'T',
    ];
    for _ in 0..5 {
        let mut buf = [0u8; 128];
        buf[..12].copy_from_slice(&rtcp);
        let n = tx.protect_in_place(&mut buf, 12).unwrap().len;
        client.send_to(&buf[..n], clients).unwrap();
        let mut got = [0u8; 128];
        let len = sink.recv(&mut got).expect("relayed");
        assert_eq!(&got[len - 4..len], &id_out.to_be_bytes());
        let plain = rx.unprotect_in_place(&mut got[..len]).unwrap();
        assert_eq!(&got[..plain.len], &rtcp);
    }
    std::thread::sleep(Duration::from_millis(50));
    let stats = ctl(&sock, r#"{"op":"stats"}"#);
    assert_eq!(stats["sent"], 5);
    assert_eq!(stats["io"], "mmsg");
    assert_eq!(stats["workers"].as_array().unwrap().len(), 2);
    let log = stop(child, libc::SIGTERM);
    assert!(log.contains("SIGTERM: draining"), "{log}");
    assert!(log.contains("I/O backend mmsg"), "{log}");
    assert!(!sock.exists(), "the control socket is gone");
}

#[test]
fn the_default_config_starts_and_stops_on_sigint() {
    let child = start(&[]);
    let v = ctl(Path::new("/run/mcx/relay.sock"), r#"{"op":"legs"}"#);
    assert_eq!(v["legs"][0]["listen"], "127.0.0.1:40000");
    assert_eq!(v["legs"][1]["listen"], "127.0.0.1:40002");
    let log = stop(child, libc::SIGINT);
    assert!(
        log.contains("auto:"),
        "auto says which backend and why: {log}"
    );
}
