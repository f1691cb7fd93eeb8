//! The relay on the wire: CPU time per relayed packet and packets per second, re-keying
//! (unprotect under the ingress key, re-protect under the egress key) against a plain
//! forwarder on the same loop (a plain route: crypto off), io_uring against
//! `recvmmsg`/`sendmmsg`, and rtpengine 10.5 (the relay users deploy today) in the same run.
//!
//! Load and measurement are the peer harness's own (`../shared/peers/relay/`): `relay_load`
//! protects 64-octet floor-control APP packets with libsrtp under the ingress key (4-octet
//! MKI), sends them to the relay in `sendmmsg` bursts at a fixed rate, checks every delivered
//! packet under the egress key and MKI with its own RFC 7714 code, and reads the relay
//! process's CPU time from `/proc/PID/task/*/schedstat`. The relay runs as a child process of
//! this bench (one worker, pinned), so that its CPU time is the relay's alone; rtpengine runs
//! under the harness exactly as its README describes, in the same run.
//!
//! Settings (environment): `RATES` (pps, default `10000,50000,100000`), `SECS` (2), `ROUNDS`
//! (3), `BURST` (16), `RELAY_CPU` (1), `LOAD_CPU` (0), `RT` (1: SCHED_FIFO as the harness
//! does, when root), `RTPENGINE` (1: run the rtpengine harness when rtpengine is installed),
//! `MCX_PEERS` (the peers folder; default `../shared/peers` beside the workspace).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn main() {
    if let Ok(cfg) = std::env::var("MCX_RELAY_BENCH_CHILD") {
        child(Path::new(&cfg));
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` and `cargo test --benches` ask what is here.
        println!("relay: bench");
        return;
    }
    let b = Bench::new();
    b.run();
}

/// The relay process: the configuration from the file, `ready` once it runs, stop when
/// stdin closes.
fn child(cfg: &Path) {
    let text = std::fs::read_to_string(cfg).expect("config");
    let config = mcx_io::relay::RelayConfig::from_toml(&text).expect("config parses");
    let relay = mcx_io::relay::Relay::start(&config).expect("relay starts");
    println!("ready {}", relay.control().io().0);
    std::io::stdout().flush().ok();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    relay.shutdown();
}

struct Bench {
    rates: Vec<u32>,
    secs: f64,
    rounds: usize,
    burst: u32,
    relay_cpu: usize,
    load_cpu: usize,
    rt: bool,
    rtpengine: bool,
    batch_wait_us: u64,
    poll_us: u64,
    load_extra: String,
    peers: PathBuf,
    load: PathBuf,
    work: PathBuf,
}

/// One `relay_load` result.
#[derive(Clone, Debug, Default)]
struct Run {
    cpu_ns: f64,
    pps: f64,
    loss: f64,
    ok: u64,
    bad: u64,
}

fn parse_kv(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running relay child and its control socket.
struct RelayChild {
    child: Child,
    socket: PathBuf,
    legs: BTreeMap<String, String>,
}

impl RelayChild {
    fn ctl(&self, line: &str) -> serde_json::Value {
        let reply = mcx_io::control::request(&self.socket, line).expect("control reply");
        let v: serde_json::Value = serde_json::from_str(&reply).expect("json reply");
        assert_eq!(v["ok"], true, "{line} -> {reply}");
        v
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Bench {
    fn new() -> Bench {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let peers = std::env::var("MCX_PEERS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("../shared/peers"));
        let work = root.join("target/relay-bench");
        std::fs::create_dir_all(&work).expect("work dir");
        let is_root = uid() == 0;
        Bench {
            rates: env_or("RATES", "10000,50000,100000")
                .split(',')
                .filter_map(|r| r.trim().parse().ok())
                .collect(),
            secs: env_or("SECS", "2").parse().unwrap_or(2.0),
            rounds: env_or("ROUNDS", "3").parse().unwrap_or(3),
            burst: env_or("BURST", "16").parse().unwrap_or(16),
            relay_cpu: env_or("RELAY_CPU", "1").parse().unwrap_or(1),
            load_cpu: env_or("LOAD_CPU", "0").parse().unwrap_or(0),
            rt: env_or("RT", "1") == "1" && is_root,
            rtpengine: env_or("RTPENGINE", "1") == "1",
            batch_wait_us: env_or("BATCH_WAIT", "0").parse().unwrap_or(0),
            poll_us: env_or("POLL_US", "0").parse().unwrap_or(0),
            load_extra: env_or("LOAD_EXTRA", ""),
            load: work.join("relay_load"),
            peers,
            work,
        }
    }

    fn build_min_forwarder(&self) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("c/min_forwarder.c");
        let exe = self.work.join("min_forwarder");
        let st = Command::new("gcc")
            .args(["-O2", "-Wall", "-o"])
            .arg(&exe)
            .arg(&src)
            .status()
            .expect("gcc runs");
        assert!(st.success(), "min_forwarder builds");
        exe
    }

    /// The floor: the minimal C forwarder (no crypto, no routing) under the same load.
    fn min_forwarder_case(&self, exe: &Path, rate: u32) -> Run {
        let (src, rx) = (free_port(), free_port());
        let mut cmd = if self.rt {
            let mut c = Command::new("chrt");
            c.args(["-f", "10", "taskset", "-c", &self.relay_cpu.to_string()])
                .arg(exe);
            c
        } else {
            let mut c = Command::new("taskset");
            c.args(["-c", &self.relay_cpu.to_string()]).arg(exe);
            c
        };
        let mut child = cmd
            .arg(rx.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("min_forwarder starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        let port: u16 = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .expect("ready PORT");
        let mut a: Vec<String> = vec![
            "plain".into(),
            "-b".into(),
            format!("127.0.0.1:{src}"),
            "-d".into(),
            format!("127.0.0.1:{port}"),
            "-r".into(),
            format!("127.0.0.1:{rx}"),
        ];
        a.extend(self.common(rate, child.id()));
        let run = self.relay_load(&a);
        let _ = child.kill();
        let _ = child.wait();
        run
    }

    fn build_load(&self) {
        let src = self.peers.join("relay/relay_load.c");
        assert!(
            src.exists(),
            "{} is missing: set MCX_PEERS to the peers folder",
            src.display()
        );
        let st = Command::new("gcc")
            .args(["-O2", "-Wall", "-pthread", "-o"])
            .arg(&self.load)
            .arg(&src)
            .args(["-lsrtp2", "-lcrypto"])
            .status()
            .expect("gcc runs");
        assert!(
            st.success(),
            "relay_load builds (needs libsrtp2-dev and libssl-dev)"
        );
        let st = Command::new(&self.load)
            .arg("selftest")
            .output()
            .expect("selftest");
        assert!(
            st.status.success(),
            "relay_load selftest: {}",
            String::from_utf8_lossy(&st.stdout)
        );
    }

    fn start_relay(&self, io: &str) -> RelayChild {
        let socket = self.work.join(format!("relay-{io}.sock"));
        let cfg = format!(
            "[relay]\nworkers = 1\nio = \"{io}\"\ncontrol = \"{}\"\ncores = [{}]\nbatch_wait_us = {}\npoll_us = {}\n\n\
             [[leg]]\nname = \"clients\"\nlisten = \"127.0.0.1:0\"\n\n\
             [[leg]]\nname = \"core\"\nlisten = \"127.0.0.1:0\"\n",
            socket.display(),
            self.relay_cpu,
            self.batch_wait_us,
            self.poll_us
        );
        let path = self.work.join(format!("relay-{io}.toml"));
        std::fs::write(&path, cfg).expect("config written");
        let exe = std::env::current_exe().expect("own path");
        let mut cmd = if self.rt {
            let mut c = Command::new("chrt");
            c.args(["-f", "10"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        let mut child = cmd
            .env("MCX_RELAY_BENCH_CHILD", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("relay child starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        assert!(line.starts_with("ready"), "relay child: {line:?}");
        assert_eq!(
            line.trim(),
            format!("ready {io}"),
            "the backend asked for runs"
        );
        let mut rc = RelayChild {
            child,
            socket,
            legs: BTreeMap::new(),
        };
        let legs = rc.ctl(r#"{"op":"legs"}"#);
        for l in legs["legs"].as_array().expect("legs") {
            rc.legs.insert(
                l["name"].as_str().unwrap().into(),
                l["listen"].as_str().unwrap().into(),
            );
        }
        rc
    }

    fn relay_load(&self, args: &[String]) -> Run {
        let out = Command::new("taskset")
            .args(["-c", &self.load_cpu.to_string()])
            .arg(&self.load)
            .args(args)
            .args(self.load_extra.split_whitespace())
            .output()
            .expect("relay_load runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("mode="))
            .unwrap_or_else(|| {
                panic!(
                    "relay_load: {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let kv = parse_kv(line);
        let f = |k: &str| {
            kv.get(k)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        Run {
            cpu_ns: f("cpu_sched_ns_per_pkt"),
            pps: f("pps"),
            loss: f("loss"),
            ok: f("ok") as u64,
            bad: f("bad") as u64 + f("mki_bad") as u64 + f("alt_ok") as u64,
        }
    }

    fn common(&self, rate: u32, pid: u32) -> Vec<String> {
        let n = (rate as f64 * self.secs) as u64;
        let mut a = vec![
            "-n".into(),
            n.to_string(),
            "-R".into(),
            rate.to_string(),
            "-B".into(),
            self.burst.to_string(),
            "-p".into(),
            pid.to_string(),
        ];
        if self.rt {
            a.extend(["-P".into(), "5".into()]);
        }
        a
    }

    /// Re-keying: a fresh ingress key per run (relay_load's SRTCP index starts at 1 each
    /// time), the same egress key throughout.
    fn gcm_case(&self, r: &RelayChild, rate: u32, serial: u32, egress: &(u32, [u8; 28])) -> Run {
        let (src, rx) = (free_port(), free_port());
        let id_in = 0x2000_0000 | serial;
        let key_in = material(id_in);
        r.ctl(&format!(
            r#"{{"op":"key.install_srtp","key_id":"{id_in:08x}","master_key":"{}","master_salt":"{}"}}"#,
            hex::encode(&key_in[..16]),
            hex::encode(&key_in[16..])
        ));
        r.ctl(&format!(
            r#"{{"op":"route.add","from_leg":"clients","key_id":"{id_in:08x}","to_leg":"core","to":"127.0.0.1:{rx}","key_id_out":"{:08x}"}}"#,
            egress.0
        ));
        let mut a: Vec<String> = vec![
            "gcm".into(),
            "-b".into(),
            format!("127.0.0.1:{src}"),
            "-d".into(),
            r.legs["clients"].clone(),
            "-r".into(),
            format!("127.0.0.1:{rx}"),
            "-t".into(),
            hex::encode(key_in),
            "-k".into(),
            hex::encode(egress.1),
            "-a".into(),
            hex::encode(key_in),
            "-m".into(),
            format!("{id_in:08x}"),
            "-M".into(),
            format!("{:08x}", egress.0),
        ];
        a.extend(self.common(rate, r.child.id()));
        let run = self.relay_load(&a);
        r.ctl(&format!(
            r#"{{"op":"route.remove","from_leg":"clients","key_id":"{id_in:08x}"}}"#
        ));
        r.ctl(&format!(r#"{{"op":"key.revoke","key_id":"{id_in:08x}"}}"#));
        run
    }

    /// The same loop with crypto off: a plain route on the same leg (it takes precedence over
    /// the keyed routes while it is there) forwards the packets unchanged.
    fn plain_case(&self, r: &RelayChild, rate: u32) -> Run {
        let (src, rx) = (free_port(), free_port());
        r.ctl(&format!(
            r#"{{"op":"route.add","from_leg":"clients","to_leg":"core","to":"127.0.0.1:{rx}"}}"#
        ));
        let mut a: Vec<String> = vec![
            "plain".into(),
            "-b".into(),
            format!("127.0.0.1:{src}"),
            "-d".into(),
            r.legs["clients"].clone(),
            "-r".into(),
            format!("127.0.0.1:{rx}"),
        ];
        a.extend(self.common(rate, r.child.id()));
        let run = self.relay_load(&a);
        r.ctl(r#"{"op":"route.remove","from_leg":"clients"}"#);
        run
    }

    /// rtpengine under the peer harness: its summary lines at the reference rate.
    fn rtpengine(&self) -> Option<(f64, f64)> {
        if !self.rtpengine {
            return None;
        }
        if Command::new("rtpengine").arg("--version").output().is_err() {
            println!("rtpengine: not installed (apt-get install rtpengine-daemon); skipped");
            return None;
        }
        let out_dir = self.work.join("rtpengine");
        let _ = std::fs::remove_dir_all(&out_dir);
        let script = self.peers.join("relay/rtpengine_relay_bench.sh");
        let st = Command::new("bash")
            .arg(&script)
            .arg(&out_dir)
            .env("CASES", "srtcp-gcm plain")
            .env("REF_RATE", self.rates[0].to_string())
            .env("SECS", format!("{}", self.secs))
            .env("REPS", self.rounds.to_string())
            .env("BATCH", self.burst.to_string())
            .env("RTPE_CPU", self.relay_cpu.to_string())
            .env("LOAD_CPU", self.load_cpu.to_string())
            .env("RT", if self.rt { "1" } else { "0" })
            .env("SWEEP_GCM", "")
            .env("SWEEP_PLAIN", "")
            .env("MULTI_GCM", "")
            .env("MULTI_PLAIN", "")
            .env("BUILD", self.work.join("rtpengine-build"))
            .env("LOAD_EXTRA", &self.load_extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !st.success() {
            println!("rtpengine: the harness failed (see {})", out_dir.display());
            return None;
        }
        let summary = std::fs::read_to_string(out_dir.join("summary.txt")).ok()?;
        let pick = |case: &str| {
            summary
                .lines()
                .find(|l| l.starts_with(&format!("{case}@{}", self.rates[0])))
                .and_then(|l| l.split_whitespace().nth(2))
                .and_then(|v| v.parse::<f64>().ok())
        };
        Some((pick("srtcp-gcm")?, pick("plain")?))
    }

    fn run(&self) {
        self.build_load();
        let min_fwd = self.build_min_forwarder();
        println!(
            "relay bench: {} s per run, {} rounds, bursts of {}, relay on CPU {}, load on CPU {}, SCHED_FIFO {}",
            self.secs,
            self.rounds,
            self.burst,
            self.relay_cpu,
            self.load_cpu,
            if self.rt { "on" } else { "off" }
        );
        let egress_id = 0x3000_0001u32;
        let egress = (egress_id, material(egress_id));
        // (io, mode, rate) -> runs
        let mut runs: BTreeMap<(String, &str, u32), Vec<Run>> = BTreeMap::new();
        let mut serial = 1u32;
        let mut rtpe = None;
        for round in 0..self.rounds {
            for io in ["uring", "mmsg"] {
                let r = self.start_relay(io);
                r.ctl(&format!(
                    r#"{{"op":"key.install_srtp","key_id":"{egress_id:08x}","master_key":"{}","master_salt":"{}"}}"#,
                    hex::encode(&egress.1[..16]),
                    hex::encode(&egress.1[16..])
                ));
                for &rate in &self.rates {
                    let before = r.ctl(r#"{"op":"stats"}"#);
                    let g = self.gcm_case(&r, rate, serial, &egress);
                    serial += 1;
                    let mid = r.ctl(r#"{"op":"stats"}"#);
                    let p = self.plain_case(&r, rate);
                    let after = r.ctl(r#"{"op":"stats"}"#);
                    if std::env::var("VERBOSE").is_ok() {
                        for (what, a, b) in [("re-key", &before, &mid), ("plain", &mid, &after)] {
                            let d = |k: &str| {
                                b["workers"][0][k].as_u64().unwrap_or(0)
                                    - a["workers"][0][k].as_u64().unwrap_or(0)
                            };
                            println!(
                                "  {what}: packets {} turns {} recv_calls {} send_calls {} gso_sends {}",
                                d("received"),
                                d("turns"),
                                d("recv_calls"),
                                d("send_calls"),
                                d("gso_sends")
                            );
                        }
                    }
                    println!(
                        "round {round} {io:5} {rate:>6} pps: re-key {:>6.0} ns/pkt ({:.0} pps, loss {:.4}, ok {}, bad {}) | plain {:>6.0} ns/pkt ({:.0} pps, loss {:.4})",
                        g.cpu_ns, g.pps, g.loss, g.ok, g.bad, p.cpu_ns, p.pps, p.loss
                    );
                    assert_eq!(
                        g.bad, 0,
                        "every delivered packet verifies under the egress key"
                    );
                    runs.entry((io.into(), "gcm", rate)).or_default().push(g);
                    runs.entry((io.into(), "plain", rate)).or_default().push(p);
                }
            }
            for &rate in &self.rates {
                let m = self.min_forwarder_case(&min_fwd, rate);
                println!(
                    "round {round} min C forwarder {rate:>6} pps: {:>6.0} ns/pkt ({:.0} pps, loss {:.4})",
                    m.cpu_ns, m.pps, m.loss
                );
                runs.entry(("cfwd".into(), "plain", rate))
                    .or_default()
                    .push(m);
            }
            if round == 0 {
                rtpe = self.rtpengine();
            }
        }
        println!();
        println!(
            "medians of {} rounds (CPU ns per relayed packet; delivered pps):",
            self.rounds
        );
        println!(
            "| io | rate | re-key ns/pkt | plain ns/pkt | re-key / plain | re-key pps | ceiling 1e9/ns |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        let med = |io: &str, mode: &str, rate: u32, f: fn(&Run) -> f64| {
            median(
                runs.get(&(io.to_string(), mode, rate))
                    .map_or(vec![], |v| v.iter().map(f).collect()),
            )
        };
        for io in ["uring", "mmsg"] {
            for &rate in &self.rates {
                let g = med(io, "gcm", rate, |r| r.cpu_ns);
                let p = med(io, "plain", rate, |r| r.cpu_ns);
                println!(
                    "| {io} | {rate} | {g:.0} | {p:.0} | {:.3} | {:.0} | {:.0} |",
                    g / p,
                    med(io, "gcm", rate, |r| r.pps),
                    1e9 / g
                );
            }
        }
        for &rate in &self.rates {
            println!(
                "minimal C forwarder (recvmmsg + GSO sendmsg, no crypto) at {rate} pps: {:.0} ns/pkt",
                med("cfwd", "plain", rate, |r| r.cpu_ns)
            );
        }
        for &rate in &self.rates {
            let u = med("uring", "gcm", rate, |r| r.cpu_ns);
            let m = med("mmsg", "gcm", rate, |r| r.cpu_ns);
            println!(
                "io_uring / mmsg CPU per re-keyed packet at {rate} pps: {:.3}",
                u / m
            );
        }
        let r0 = self.rates[0];
        match rtpe {
            Some((g, p)) => {
                let best =
                    med("uring", "gcm", r0, |r| r.cpu_ns).min(med("mmsg", "gcm", r0, |r| r.cpu_ns));
                println!(
                    "rtpengine 10.5 at {r0} pps (same run): srtcp-gcm {g:.0} ns/pkt, plain {p:.0} ns/pkt"
                );
                println!(
                    "mcx relay at {r0} pps: {best:.0} ns/pkt; packets per CPU-second vs rtpengine: {:.2}x",
                    g / best
                );
                println!(
                    "minimal C forwarder at {r0} pps vs rtpengine srtcp-gcm: {:.2}x",
                    g / med("cfwd", "plain", r0, |r| r.cpu_ns)
                );
            }
            None => println!("rtpengine: no figure in this run"),
        }
    }
}

/// Key ‖ salt (28 octets) for a key ID, distinct per ID.
fn material(id: u32) -> [u8; 28] {
    let b = id.to_be_bytes();
    let mut m = [0u8; 28];
    for (i, x) in m.iter_mut().enumerate() {
        *x = b[i % 4] ^ (i as u8).wrapping_mul(29) ^ 0x3c;
    }
    m
}

fn uid() -> u32 {
    // The real uid, from /proc/self/status.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(u32::MAX)
}
