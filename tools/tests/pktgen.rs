//! `mcx-pktgen` and `mcx demo` as a user runs them: a real `mcx relay` process in a CS proxy
//! role on loopback, the generator through it, assertions on the JSON it prints, the plot
//! and the pcap it writes (read back by Wireshark's dissector, `tshark`), and the errors it
//! gives for bad options and relays it cannot drive. The runs are short and far below what
//! the relay carries, so loss outside the CSK rollover must be zero.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;

use serde_json::Value;

/// One run at a time: the runs measure loss, so they do not share the two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mcx-pktgen-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A relay process, killed when dropped.
struct Relay {
    child: Child,
    control: PathBuf,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn relay(name: &str, role: &str) -> Relay {
    let control = tmp(&format!("{name}.sock"));
    let config = tmp(&format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[relay]\nworkers = 1\ncontrol = \"{}\"\n\
             [[leg]]\nname = \"clients\"\nlisten = \"127.0.0.1:0\"\n\
             [[leg]]\nname = \"core\"\nlisten = \"127.0.0.1:0\"\n\
             [proxy]\nrole = \"{role}\"\nexternal_identity = \"sip:proxy@pktgen.example\"\n\
             hide_domains = [\"ptt.pktgen.internal\"]\n",
            control.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .args(["relay", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    Relay { child, control }
}

fn pktgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcx-pktgen"))
        .args(args)
        .output()
        .expect("run mcx-pktgen")
}

/// The JSON lines of stdout.
fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn ok(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    lines(out)
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// The relay's leg ports, from its control socket.
fn leg_ports(control: &Path) -> Vec<u16> {
    let out = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .args(["relay", "ctl", "--socket"])
        .arg(control)
        .arg(r#"{"op":"legs"}"#)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["listen"]
                .as_str()
                .unwrap()
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .port()
        })
        .collect()
}

/// The records of a LINKTYPE_RAW pcap: (destination port, UDP payload).
fn pcap_records(bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
    assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_le_bytes(), "pcap magic");
    assert_eq!(&bytes[20..24], &101u32.to_le_bytes(), "LINKTYPE_RAW");
    let mut at = 24;
    let mut out = Vec::new();
    while at < bytes.len() {
        let n = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let ip = &bytes[at + 16..at + 16 + n];
        assert_eq!(ip[0], 0x45);
        let udp = &ip[20..];
        out.push((u16::from_be_bytes([udp[2], udp[3]]), udp[8..].to_vec()));
        at += 16 + n;
    }
    out
}

#[test]
fn a_run_through_the_relay_verifies_every_packet_and_counts_every_forgery() {
    let _g = serial();
    let r = relay("through", "cs-proxy");
    let (plot, pcap) = (tmp("through.svg"), tmp("through.pcap"));
    let out = pktgen(&[
        "--control",
        r.control.to_str().unwrap(),
        "--clients",
        "8",
        "--groups",
        "2",
        "--rate",
        "4000",
        "--duration",
        "1.5",
        "--rollover-at",
        "0.7",
        "--forged",
        "0.02",
        "--replayed",
        "0.02",
        "--truncated",
        "0.01",
        "--unknown-key",
        "0.01",
        "--report",
        "0.5",
        "--quiet",
        "--plot",
        plot.to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
        "--pcap-max",
        "400",
    ]);
    let v = ok(&out);
    let intervals: Vec<&Value> = v.iter().filter(|x| x["type"] == "interval").collect();
    assert!(intervals.len() >= 3, "a line per half second: {v:?}");
    let s = v.last().unwrap();
    assert_eq!(s["type"], "summary");
    assert_eq!(s["schema"], "mcx-pktgen/1");
    assert_eq!(s["mode"], "relay");
    assert!(["uring", "mmsg"].contains(&s["io"].as_str().unwrap()));
    // Every datagram that arrived verified; no hostile packet came through.
    assert_eq!(u(s, "corrupted"), 0, "{s}");
    assert_eq!(u(s, "forged_delivered"), 0, "{s}");
    assert_eq!(u(s, "duplicated"), 0, "{s}");
    // Far below saturation: nothing lost but what was in flight while the CSKs changed.
    assert_eq!(u(s, "lost"), u(s, "lost_rollover"), "{s}");
    assert!(u(s, "lost_rollover") < 20, "{s}");
    assert_eq!(u(s, "received") + u(s, "lost"), u(s, "expected"));
    // Every client rolled over, and sending went on under the new keys.
    assert_eq!(s["rollover"]["clients"], 8);
    assert_eq!(u(s, "sent"), u(s, "sent_genuine") + u(s, "forged_sent"));
    assert!(u(s, "sent") > 5000 && u(s, "sent") <= 6000, "{s}");
    // The relay dropped each hostile packet, for its reason: a flipped octet fails
    // authentication, a replay the window, a cut or unknown MKI finds no session.
    let by = &s["forged_by"];
    let d = &s["relay"]["dropped"];
    let dn = |k: &str| d[k].as_u64().unwrap_or(0);
    assert!(u(by, "forged") > 0 && u(by, "replayed") > 0, "{s}");
    assert_eq!(dn("auth"), u(by, "forged"), "{s}");
    assert_eq!(dn("replay"), u(by, "replayed"), "{s}");
    assert_eq!(
        dn("no_route") + dn("unknown_key") + dn("malformed"),
        u(by, "truncated") + u(by, "unknown_key"),
        "{s}"
    );
    // Per stream: 8 uplinks and downlinks, a fan-out per group (its address and its four
    // members), an MBMS stream per group; every receiver had its packets.
    let streams = s["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 8 * 2 + 2 * 2);
    for st in streams {
        let want = if st["kind"] == "group" { 5 } else { 1 };
        let t = st["targets"].as_array().unwrap();
        assert_eq!(t.len(), want, "{st}");
        for x in t {
            assert!(u(x, "delivered") > 0, "{st}");
        }
    }
    assert!(u(&s["latency_us"]["emergency"], "count") > 0);
    assert!(u(&s["latency_us"], "p50") <= u(&s["latency_us"], "p999"));

    // The plot: an SVG with the throughput and latency lines.
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 5);

    // The pcap: what was sent, in clear; Wireshark's dissector reads its floor control.
    let bytes = std::fs::read(&pcap).unwrap();
    let recs = pcap_records(&bytes);
    assert_eq!(recs.len(), 400);
    let ports = leg_ports(&r.control);
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&pcap).arg("-n");
    for p in &ports {
        cmd.args(["-d", &format!("udp.port=={p},rtcp")]);
    }
    cmd.args(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]);
    for f in [
        "udp.dstport",
        "rtcp.app.name",
        "rtcp.mcptt.participant_type",
        "rtcp.app_data.mcptt.floor_participant_ref",
        "rtcp.app_data.mcptt.user_id",
    ] {
        cmd.args(["-e", f]);
    }
    let t = cmd
        .output()
        .expect("tshark runs (scripts/test.sh installs it)");
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let text = String::from_utf8(t.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), recs.len(), "one line per packet");
    let (mut floor, mut users) = (0, 0);
    let mut seen = std::collections::HashSet::new();
    for (row, (port, payload)) in rows.iter().zip(&recs) {
        assert_eq!(row[0], port.to_string());
        assert_eq!(row[1], std::str::from_utf8(&payload[8..12]).unwrap());
        if row[1] != "MCPT" {
            continue;
        }
        floor += 1;
        assert_eq!(row[2], "pktgen", "{row:?}");
        // The three references: the run's tag, the packet's identifier, its send time.
        let refs: Vec<u64> = row[3]
            .split('|')
            .map(|x| {
                x.strip_prefix("0x").map_or_else(
                    || x.parse().unwrap(),
                    |h| u64::from_str_radix(h, 16).unwrap(),
                )
            })
            .collect();
        assert_eq!(refs.len(), 3, "{row:?}");
        assert!(seen.insert(refs[1]), "identifiers are unique: {row:?}");
        if !row[4].is_empty() {
            users += 1;
            // Toward the clients leg the clients speak; toward the core, the servers.
            let want = if *port == ports[0] {
                "@pktgen.example"
            } else {
                "@ptt.pktgen.internal"
            };
            assert!(row[4].ends_with(want), "{row:?} on port {port}");
        }
    }
    assert!(
        floor > 200 && users > 100,
        "{floor} floor packets, {users} user IDs"
    );
}

#[test]
fn two_generator_threads_share_the_streams_and_the_members() {
    let _g = serial();
    let r = relay("threads", "cs-proxy");
    // Group members live on both threads: client c on thread c % 2, group j's sockets on
    // thread j % 2, so a fan-out is verified on both.
    let out = pktgen(&[
        "--control",
        r.control.to_str().unwrap(),
        "--clients",
        "6",
        "--groups",
        "2",
        "--threads",
        "2",
        "--rate",
        "3000",
        "--duration",
        "1",
        "--report",
        "0.25",
        "--quiet",
    ]);
    let v = ok(&out);
    assert!(
        v.iter().filter(|x| x["type"] == "interval").count() >= 4,
        "{v:?}"
    );
    let s = v.last().unwrap();
    assert_eq!(s["threads"], 2);
    assert_eq!(u(s, "corrupted"), 0, "{s}");
    assert_eq!(u(s, "lost"), 0, "{s}");
    assert_eq!(u(s, "received"), u(s, "expected"), "{s}");
    for st in s["streams"].as_array().unwrap() {
        for x in st["targets"].as_array().unwrap() {
            assert_eq!(u(x, "delivered"), u(x, "expected"), "{st}");
        }
    }
}

#[test]
fn the_sink_measures_the_generator_alone() {
    let _g = serial();
    let out = pktgen(&[
        "--sink",
        "--rate",
        "0",
        "--duration",
        "0.5",
        "--clients",
        "4",
        "--groups",
        "1",
        "--quiet",
    ]);
    let v = ok(&out);
    let s = v.last().unwrap();
    assert_eq!(s["mode"], "sink");
    assert!(s["rate_pps"].is_null(), "flat out");
    assert_eq!(u(s, "corrupted"), 0);
    assert!(u(s, "achieved_pps") > 1000, "{s}");
    assert!(s["relay"].is_null());
}

#[test]
fn the_search_brackets_the_relay_s_no_drop_rate() {
    let _g = serial();
    let r = relay("search", "cs-proxy");
    let out = pktgen(&[
        "--control",
        r.control.to_str().unwrap(),
        "--clients",
        "4",
        "--groups",
        "1",
        "--search",
        "--trial",
        "0.3",
    ]);
    let v = ok(&out);
    let s = v.last().unwrap();
    assert_eq!(s["type"], "search");
    let (ndr, pdr, top) = (u(s, "ndr_pps"), u(s, "pdr_pps"), u(s, "ceiling_pps"));
    assert!(ndr > 0 && ndr <= pdr && pdr <= top, "{s}");
    let trials = s["trials"].as_array().unwrap();
    assert!(trials.len() >= 3, "{s}");
    assert_eq!(trials[0]["search"], "ceiling");
    // Every trial took its sessions and keys away again.
    let out = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .args(["relay", "ctl", "--socket"])
        .arg(&r.control)
        .arg(r#"{"op":"sessions"}"#)
        .output()
        .unwrap();
    let l: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(l["sessions"].as_array().unwrap().len(), 0, "{l}");
}

#[test]
fn bad_options_and_relays_it_cannot_drive_fail_with_a_reason() {
    let _g = serial();
    let fails = |args: &[&str], code: i32, says: &str| {
        let out = pktgen(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    };
    fails(&["--rate", "10"], 2, "--control");
    fails(&["--sink", "--clients", "0"], 2, "clients");
    fails(&["--sink", "--forged", "0.9"], 2, "attack");
    fails(&["--sink", "--forged", "0.01"], 2, "need a relay");
    fails(&["--sink", "--io", "dpdk"], 2, "io");
    fails(&["--sink", "--bogus"], 2, "unexpected argument");
    let missing = tmp("nobody.sock");
    fails(
        &["--control", missing.to_str().unwrap()],
        1,
        "control socket",
    );
    let scenario = tmp("bad.toml");
    std::fs::write(&scenario, "clients = 4\nwhat = 1\n").unwrap();
    fails(
        &["--sink", "--scenario", scenario.to_str().unwrap()],
        2,
        "what",
    );
    // A relay in another role: refused before anything is installed.
    let is = relay("is", "is-proxy");
    fails(&["--control", is.control.to_str().unwrap()], 1, "cs-proxy");
    // The scenario as TOML, defaults and options merged.
    let out = pktgen(&["--print-scenario", "--clients", "3"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("clients = 3"), "{text}");
}

#[test]
fn the_demo_runs_the_relay_and_the_generator_and_verifies_everything() {
    let _g = serial();
    let out = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .args([
            "demo",
            "--seconds",
            "1",
            "--rate",
            "3000",
            "--clients",
            "6",
            "--json",
        ])
        .output()
        .unwrap();
    let v = ok(&out);
    assert_eq!(v.len(), 1, "--json: one object");
    let s = &v[0];
    assert_eq!(s["schema"], "mcx-pktgen/1");
    assert_eq!(u(s, "corrupted"), 0, "{s}");
    assert_eq!(u(s, "forged_delivered"), 0, "{s}");
    assert!(u(s, "forged_sent") > 0, "{s}");
    assert_eq!(s["rollover"]["clients"], 6);
    assert_eq!(u(s, "lost"), u(s, "lost_rollover"), "{s}");
    // Without --json: the table.
    let out = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .args([
            "demo",
            "--seconds",
            "0.5",
            "--rate",
            "2000",
            "--clients",
            "2",
            "--groups",
            "1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for row in ["verified", "corrupted", "latency", "I/O backend"] {
        assert!(text.contains(row), "{row}: {text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mcx"))
        .args(["demo", "--clients", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
