//! `mcx demo`: the real data plane on loopback. A relay starts in a CS proxy role (the
//! built-in configuration's two legs, on ports the kernel picks, and a control socket);
//! the packet generator (`mcx_tools::pktgen`, what `mcx-pktgen` runs) installs a CSK per
//! client and a MuSiK and MSCCK per group through the control socket, adds a session per
//! stream and sends floor control, transmission control and MBMS subchannel control both
//! ways for a few seconds, with a share of forged, replayed, truncated and unknown-key
//! packets and a CSK rollover by key download half-way. Every datagram that comes back is
//! unprotected under the key it must arrive under and compared octet for octet with the
//! packet rebuilt for its receiver (the relay's SSRC, the identities as that side knows
//! them). A summary table follows (`--json`: the generator's summary object); the exit
//! status is 1 when anything failed verification or a hostile packet came through.

use std::time::Duration;

use mcx_io::relay::{IoChoice, LegConfig, ProxySection, Relay, RelayConfig};
use mcx_tools::pktgen::{self, Options, Scenario};
use serde_json::Value;

use crate::cli::DemoArgs;

/// Where the demo's relay listens for control.
fn control_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mcx-demo-{}.sock", std::process::id()))
}

fn relay_config(a: &DemoArgs) -> Result<RelayConfig, String> {
    let mut c = RelayConfig::default();
    c.relay.workers = a.workers;
    c.relay.io = match a.io.as_str() {
        "auto" => IoChoice::Auto,
        "uring" => IoChoice::Uring,
        "mmsg" => IoChoice::Mmsg,
        other => return Err(format!("--io {other:?}: auto, uring or mmsg")),
    };
    c.relay.control = control_path();
    let any = "127.0.0.1:0".parse().expect("address");
    c.legs = vec![
        LegConfig {
            name: "clients".into(),
            listen: any,
        },
        LegConfig {
            name: "core".into(),
            listen: any,
        },
    ];
    c.proxy = Some(ProxySection {
        role: "cs-proxy".into(),
        external_identity: Some("sip:proxy@pktgen.example".into()),
        hide_domains: vec!["ptt.pktgen.internal".into()],
        ..ProxySection::default()
    });
    Ok(c)
}

pub(crate) fn run(a: DemoArgs, json: bool) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scenario = Scenario {
        clients: a.clients,
        groups: a.groups.min(a.clients),
        duration_s: a.seconds,
        rate_pps: a.rate,
        rollover_at_s: a.seconds / 2.0,
        io: a.io.clone(),
        // The relay's workers take the first cores; the generator the next one, if any.
        cores: if cores > a.workers {
            vec![a.workers]
        } else {
            Vec::new()
        },
        attack: pktgen::scenario::Attack {
            forged: 0.005,
            replayed: 0.005,
            truncated: 0.005,
            unknown_key: 0.005,
        },
        ..Scenario::default()
    };
    scenario.validate()?;
    let mut config = relay_config(&a)?;
    if cores > a.workers {
        config.relay.cores = (0..a.workers).collect();
    }
    let relay = Relay::start(&config).map_err(|e| format!("relay: {e}"))?;
    if !json {
        let c = relay.control();
        let (io, why) = c.io();
        eprintln!(
            "mcx demo: relay in a CS proxy role, {} worker(s), I/O {io} ({why})",
            a.workers
        );
        for (name, addr) in c.legs() {
            eprintln!("mcx demo: leg {name:?} on {addr}");
        }
        eprintln!(
            "mcx demo: {} clients, {} groups, {} packets/s for {} s, a CSK rollover at {} s, \
             2% hostile packets",
            scenario.clients, scenario.groups, scenario.rate_pps, a.seconds, scenario.rollover_at_s
        );
    }
    let o = Options {
        scenario,
        control: Some(config.relay.control.clone()),
        progress: !json,
        report: Duration::from_secs(1),
        ..Options::default()
    };
    let result = pktgen::run(&o);
    let stats = relay.shutdown();
    let summary = result?;
    let v = summary.to_json();
    if json {
        println!("{v}");
    } else {
        table(&v, stats.received);
    }
    let failures = summary.failures();
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    Ok(())
}

fn table(v: &Value, relay_received: u64) {
    let lat = &v["latency_us"];
    let l = |x: &Value| {
        format!(
            "p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
            x["p50"], x["p99"], x["p999"], x["max"]
        )
    };
    let per = |x: &Value| match x.as_f64() {
        Some(n) => format!("{n:.0} ns"),
        None => "n/a".into(),
    };
    let rows: Vec<(&str, String)> = vec![
        (
            "packets sent",
            format!(
                "{} ({} genuine, {} hostile)",
                v["sent"], v["sent_genuine"], v["forged_sent"]
            ),
        ),
        ("relay received", relay_received.to_string()),
        ("deliveries expected", v["expected"].to_string()),
        ("verified", v["received"].to_string()),
        (
            "lost",
            format!(
                "{} ({} while the CSKs rolled over)",
                v["lost"], v["lost_rollover"]
            ),
        ),
        (
            "reordered / duplicated",
            format!("{} / {}", v["reordered"], v["duplicated"]),
        ),
        ("corrupted", v["corrupted"].to_string()),
        ("hostile delivered", v["forged_delivered"].to_string()),
        ("relay drops", v["relay"]["dropped"].to_string()),
        ("latency", l(lat)),
        ("  emergency", l(&lat["emergency"])),
        ("  normal", l(&lat["normal"])),
        (
            "relay CPU per packet",
            per(&v["relay"]["cpu_ns_per_packet"]),
        ),
        (
            "generator CPU per packet",
            per(&v["generator"]["cpu_ns_per_packet"]),
        ),
        (
            "rollover",
            match v["rollover"].as_object() {
                Some(r) => format!("{} clients in {} ms", r["clients"], r["took_ms"]),
                None => "none".into(),
            },
        ),
        ("I/O backend", v["io"].as_str().unwrap_or("").to_owned()),
    ];
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (k, val) in rows {
        println!("{k:<w$}  {val}");
    }
}
