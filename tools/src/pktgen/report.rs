//! What a run reports: the live progress line (stderr), a JSON line per interval and the
//! summary (stdout), the plot (SVG) and the pcap of what was sent.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::Options;
use super::run::{Corrupted, Interval, Shared, ThreadResult, histogram};
use super::scenario::Scenario;
use super::traffic::{Slot, StreamKind};

/// The summary's schema version.
pub const SCHEMA: &str = "mcx-pktgen/1";

/// One interval, all threads together.
#[derive(Clone, Debug)]
pub struct Point {
    /// The interval's end, seconds since the start.
    pub t_s: f64,
    /// Datagrams sent per second.
    pub sent_pps: f64,
    /// Verified deliveries per second.
    pub received_pps: f64,
    /// p50, p99, p99.9 latency in µs (0 when nothing arrived).
    pub latency_us: [u64; 3],
}

/// Collects the threads' intervals into points, printing them as they complete.
pub struct Progress {
    /// Per thread: the highest interval it reported, and whether it is done.
    seen: Vec<(Option<u64>, bool)>,
    interval_s: f64,
    live: bool,
    json_lines: bool,
    pending: BTreeMap<u64, (usize, u64, u64, Histogram<u64>)>,
    /// Completed intervals.
    pub points: Vec<Point>,
    sent: u64,
    received: u64,
    all: Histogram<u64>,
}

fn pcts(h: &Histogram<u64>) -> [u64; 3] {
    if h.is_empty() {
        return [0; 3];
    }
    [
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
    ]
}

fn rate(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

impl Progress {
    /// For a run of `threads` threads.
    pub fn new(o: &Options, threads: usize, sh: &Shared) -> Progress {
        Progress {
            seen: vec![(None, false); threads],
            interval_s: sh.report_us as f64 / 1e6,
            live: o.progress,
            json_lines: o.json_lines,
            pending: BTreeMap::new(),
            points: Vec::new(),
            sent: 0,
            received: 0,
            all: histogram(),
        }
    }

    /// One thread's interval.
    pub fn add(&mut self, iv: Interval) {
        let e = self
            .pending
            .entry(iv.index)
            .or_insert_with(|| (0, 0, 0, histogram()));
        e.0 += 1;
        e.1 += iv.sent;
        e.2 += iv.received;
        let _ = e.3.add(&iv.latency);
        if let Some(t) = self.seen.get_mut(iv.thread) {
            t.0 = Some(t.0.map_or(iv.index, |x| x.max(iv.index)));
            t.1 |= iv.last;
        }
        // An interval is complete once every thread reported it or a later one, or is done.
        while let Some(&i) = self.pending.keys().next() {
            if !self
                .seen
                .iter()
                .all(|(hi, done)| *done || hi.is_some_and(|h| h >= i))
            {
                break;
            }
            let (_, sent, received, h) = self.pending.remove(&i).expect("present");
            self.emit(i, sent, received, &h);
        }
    }

    fn emit(&mut self, i: u64, sent: u64, received: u64, h: &Histogram<u64>) {
        // The quiet wait for stragglers after the last send.
        if sent == 0 && received == 0 && !self.points.is_empty() {
            return;
        }
        let t_s = (i + 1) as f64 * self.interval_s;
        self.sent += sent;
        self.received += received;
        let _ = self.all.add(h);
        let p = Point {
            t_s,
            sent_pps: sent as f64 / self.interval_s,
            received_pps: received as f64 / self.interval_s,
            latency_us: pcts(h),
        };
        if self.json_lines {
            let line = json!({"type": "interval", "t_s": round3(t_s),
                "sent_pps": p.sent_pps.round() as u64,
                "received_pps": p.received_pps.round() as u64,
                "latency_us": {"p50": p.latency_us[0], "p99": p.latency_us[1], "p999": p.latency_us[2]}});
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
        if self.live {
            let a = pcts(&self.all);
            eprintln!(
                "{t_s:6.1} s  sent {:>7}/s  received {:>7}/s  (total {} / {})  latency p50 {} µs  p99 {} µs  p99.9 {} µs",
                rate(p.sent_pps),
                rate(p.received_pps),
                self.sent,
                self.received,
                a[0],
                a[1],
                a[2],
            );
        }
        self.points.push(p);
    }

    /// Flushes what is left (the threads' last partial intervals).
    pub fn finish(&mut self) {
        let rest: Vec<_> = std::mem::take(&mut self.pending).into_iter().collect();
        for (i, (_, sent, received, h)) in rest {
            self.emit(i, sent, received, &h);
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Counts of one receiver of one stream.
#[derive(Clone, Debug, Default)]
pub struct TargetCounts {
    /// Genuine packets it should have had.
    pub expected: u64,
    /// Verified first copies.
    pub delivered: u64,
    /// Never arrived.
    pub lost: u64,
    /// Of those, sent while the rollover ran.
    pub lost_rollover: u64,
    /// Came after a later packet.
    pub reordered: u64,
    /// Second copies.
    pub duplicated: u64,
}

/// A run's results.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Through a relay (else the sink).
    pub through_relay: bool,
    /// The I/O backend.
    pub io: String,
    /// Why it was chosen.
    pub io_reason: String,
    /// The scenario.
    pub scenario: Scenario,
    /// The planned rate (packets/s over the run); `None` flat out.
    pub rate_pps: Option<f64>,
    /// Seconds the run sent for.
    pub seconds: f64,
    /// Datagrams sent by kind: genuine, forged, replayed, truncated, unknown key.
    pub sent: [u64; 5],
    /// Per stream, per receiver.
    pub streams: Vec<(StreamKind, Vec<TargetCounts>)>,
    /// Verification failures.
    pub corrupted: Corrupted,
    /// Hostile packets delivered.
    pub forged_delivered: u64,
    /// Same SRTCP packet twice.
    pub wire_duplicates: u64,
    /// Latency: all, emergency, normal.
    pub latency: [Histogram<u64>; 3],
    /// The intervals.
    pub points: Vec<Point>,
    /// (clients, time) of the rollover.
    pub rollover: Option<(usize, Duration)>,
    /// The generator's CPU time, ns.
    pub cpu_ns: u64,
    /// The relay workers' CPU time over the run, ns.
    pub relay_cpu_ns: Option<u64>,
    /// The relay's counters over the run.
    pub relay: Option<Value>,
    /// Due packets that waited for a slot.
    pub backpressure: u64,
    /// Sends the kernel refused.
    pub send_errors: u64,
    /// Packets the generator's own protect refused.
    pub protect_failed: u64,
    /// Slots not sent while their CSK was replaced (in `lost_rollover`).
    pub rollover_unsent: u64,
}

impl Summary {
    /// From the threads' results.
    pub fn new(
        s: &Scenario,
        sh: &Shared,
        results: &[ThreadResult],
        progress: &Progress,
        through_relay: bool,
    ) -> Summary {
        let n = sh.streams.len();
        let mut sent_k = vec![0u64; n];
        let mut roll_k = vec![(0u64, 0u64); n];
        let mut sent = [0u64; 5];
        let mut corrupted = Corrupted::default();
        let (mut forged_delivered, mut wire_duplicates, mut cpu_ns) = (0, 0, 0);
        let (mut backpressure, mut send_errors, mut protect_failed) = (0, 0, 0);
        let mut rollover_unsent = 0;
        let mut latency = [histogram(), histogram(), histogram()];
        for r in results {
            for s in 0..n {
                sent_k[s] = sent_k[s].max(r.sent_k[s]);
                if r.rollover_k[s] != (0, 0) {
                    roll_k[s] = r.rollover_k[s];
                }
            }
            for (a, b) in sent.iter_mut().zip(r.sent) {
                *a += b;
            }
            corrupted.add(&r.corrupted);
            forged_delivered += r.forged_delivered;
            wire_duplicates += r.wire_duplicates;
            cpu_ns += r.cpu_ns;
            backpressure += r.backpressure;
            send_errors += r.io.send_errors;
            protect_failed += r.protect_failed;
            rollover_unsent += r.rollover_unsent;
            for (a, b) in latency.iter_mut().zip(&r.latency) {
                let _ = a.add(b);
            }
        }
        let mut streams: Vec<(StreamKind, Vec<TargetCounts>)> = sh
            .streams
            .iter()
            .map(|st| (st.kind, vec![TargetCounts::default(); st.targets.len()]))
            .collect();
        let ns = sh.plan.streams();
        for r in results {
            for ((s, ti), tr) in &r.tracks {
                let c = &mut streams[*s].1[*ti];
                c.delivered = tr.delivered;
                c.reordered = tr.reordered;
                c.duplicated = tr.duplicated;
                let (r0, r1) = roll_k[*s];
                for k in 0..sent_k[*s] {
                    if !matches!(sh.plan.slot(k * ns + *s as u64), Slot::Genuine(_)) {
                        continue;
                    }
                    c.expected += 1;
                    if !tr.has(k) {
                        c.lost += 1;
                        if k >= r0 && k < r1 && r1 > 0 {
                            c.lost_rollover += 1;
                        }
                    }
                }
            }
        }
        let seconds = match &sh.schedule {
            Some(sc) if sc.total() > 0 => sc.time_us(sc.total() - 1) as f64 / 1e6,
            _ => sh.flat_us as f64 / 1e6,
        };
        Summary {
            through_relay,
            io: String::new(),
            io_reason: String::new(),
            scenario: s.clone(),
            rate_pps: sh
                .schedule
                .as_ref()
                .map(|sc| sc.total() as f64 / s.length_s()),
            seconds: seconds.max(1e-6),
            sent,
            streams,
            corrupted,
            forged_delivered,
            wire_duplicates,
            latency,
            points: progress.points.clone(),
            rollover: None,
            cpu_ns,
            relay_cpu_ns: None,
            relay: None,
            backpressure,
            send_errors,
            protect_failed,
            rollover_unsent,
        }
    }

    /// The relay's counters over the run: `after` minus `before`.
    pub fn relay_delta(&mut self, before: &Value, after: &Value) {
        let num = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
        let mut dropped = serde_json::Map::new();
        if let Some(a) = after["dropped"].as_object() {
            for (k, v) in a {
                let d = v
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_sub(before["dropped"][k].as_u64().unwrap_or(0));
                if d > 0 {
                    dropped.insert(k.clone(), json!(d));
                }
            }
        }
        let received = num(after, "received").saturating_sub(num(before, "received"));
        self.relay = Some(json!({
            "received": received,
            "sent": num(after, "sent").saturating_sub(num(before, "sent")),
            "dropped": dropped,
            "workers": after["workers"].as_array().map_or(0, Vec::len),
            "cpu_ns_per_packet": self.relay_cpu_ns.filter(|_| received > 0)
                .map(|c| (c as f64 / received as f64 * 10.0).round() / 10.0),
        }));
    }

    fn total(&self, f: impl Fn(&TargetCounts) -> u64) -> u64 {
        self.streams.iter().flat_map(|s| &s.1).map(f).sum()
    }

    /// Genuine deliveries expected.
    pub fn expected(&self) -> u64 {
        self.total(|c| c.expected)
    }

    /// Verified deliveries.
    pub fn received(&self) -> u64 {
        self.total(|c| c.delivered)
    }

    /// Genuine deliveries that never came.
    pub fn lost(&self) -> u64 {
        self.total(|c| c.lost)
    }

    /// Of those, sent while the rollover ran.
    pub fn lost_rollover(&self) -> u64 {
        self.total(|c| c.lost_rollover)
    }

    /// Lost over expected.
    pub fn loss_ratio(&self) -> f64 {
        self.lost() as f64 / self.expected().max(1) as f64
    }

    /// Lost outside the rollover window, over expected.
    pub fn loss_ratio_steady(&self) -> f64 {
        (self.lost() - self.lost_rollover()) as f64 / self.expected().max(1) as f64
    }

    /// Hostile datagrams sent.
    pub fn forged_sent(&self) -> u64 {
        self.sent[1..].iter().sum()
    }

    /// Datagrams sent.
    pub fn sent_total(&self) -> u64 {
        self.sent.iter().sum()
    }

    /// What failed verification, as sentences (empty: everything verified).
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.corrupted.total() > 0 {
            f.push(format!(
                "{} datagrams failed verification",
                self.corrupted.total()
            ));
        }
        if self.protect_failed > 0 {
            f.push(format!(
                "the generator could not protect {} packets",
                self.protect_failed
            ));
        }
        if self.forged_delivered > 0 {
            f.push(format!(
                "{} hostile packets came through",
                self.forged_delivered
            ));
        }
        f
    }

    /// The summary object.
    pub fn to_json(&self) -> Value {
        let lat = |h: &Histogram<u64>| {
            if h.is_empty() {
                return json!({"count": 0});
            }
            json!({"count": h.len(), "p50": h.value_at_quantile(0.5), "p90": h.value_at_quantile(0.9),
                "p99": h.value_at_quantile(0.99), "p999": h.value_at_quantile(0.999),
                "max": h.max(), "mean": (h.mean() * 10.0).round() / 10.0})
        };
        let mut latency = lat(&self.latency[0]);
        latency["emergency"] = lat(&self.latency[1]);
        latency["normal"] = lat(&self.latency[2]);
        let c = &self.corrupted;
        let sent = self.sent_total();
        let streams: Vec<Value> = self
            .streams
            .iter()
            .enumerate()
            .map(|(i, (k, t))| {
                let (kind, of) = match k {
                    StreamKind::Uplink(c) => ("uplink", c),
                    StreamKind::Downlink(c) => ("downlink", c),
                    StreamKind::Group(j) => ("group", j),
                    StreamKind::Mbms(j) => ("mbms", j),
                };
                json!({"stream": i, "kind": kind, "of": of, "targets": t.iter().map(|c| json!({
                    "expected": c.expected, "delivered": c.delivered, "lost": c.lost,
                    "reordered": c.reordered, "duplicated": c.duplicated})).collect::<Vec<_>>()})
            })
            .collect();
        let s = &self.scenario;
        json!({
            "type": "summary",
            "schema": SCHEMA,
            "mode": if self.through_relay { "relay" } else { "sink" },
            "io": self.io,
            "io_reason": self.io_reason,
            "clients": s.clients,
            "groups": s.groups,
            "mbms": s.mbms,
            "threads": s.threads,
            "seconds": round3(self.seconds),
            "rate_pps": self.rate_pps.map(|r| r.round() as u64),
            "achieved_pps": (sent as f64 / self.seconds).round() as u64,
            "sent": sent,
            "sent_genuine": self.sent[0],
            "expected": self.expected(),
            "received": self.received(),
            "lost": self.lost(),
            "lost_rollover": self.lost_rollover(),
            "loss_ratio": self.loss_ratio(),
            "reordered": self.total(|c| c.reordered),
            "duplicated": self.total(|c| c.duplicated) + self.wire_duplicates,
            "corrupted": c.total(),
            "corrupted_by": {"unprotect": c.unprotect, "wrong_key": c.wrong_key,
                "unknown": c.unknown, "misrouted": c.misrouted, "content": c.content},
            "forged_sent": self.forged_sent(),
            "forged_by": {"forged": self.sent[1], "replayed": self.sent[2],
                "truncated": self.sent[3], "unknown_key": self.sent[4]},
            "forged_delivered": self.forged_delivered,
            "latency_us": latency,
            "rollover": self.rollover.map(|(n, d)| json!({"at_s": s.rollover_at_s, "clients": n,
                "took_ms": round3(d.as_secs_f64() * 1e3)})),
            "generator": {"cpu_ns_per_packet": ((self.cpu_ns as f64 / (sent + self.received()).max(1) as f64) * 10.0).round() / 10.0,
                "backpressure": self.backpressure, "send_errors": self.send_errors,
                "protect_failed": self.protect_failed,
                "rollover_unsent": self.rollover_unsent},
            "relay": self.relay,
            "streams": if self.streams.len() <= 256 { Value::Array(streams) } else { Value::Null },
        })
    }
}

/// The plot: throughput (sent, received) and latency percentiles over time, as SVG.
pub fn svg(s: &Summary) -> String {
    let (w, h, pad) = (900.0, 560.0, 60.0);
    let ph = (h - 3.0 * pad) / 2.0;
    let pts = &s.points;
    let tmax = pts.iter().map(|p| p.t_s).fold(1e-3, f64::max);
    let rmax = pts
        .iter()
        .map(|p| p.sent_pps.max(p.received_pps))
        .fold(1.0, f64::max);
    let lmax = pts
        .iter()
        .map(|p| p.latency_us[2] as f64)
        .fold(1.0, f64::max);
    let x = |t: f64| pad + t / tmax * (w - 2.0 * pad);
    let line = |vals: Vec<(f64, f64)>, top: f64, max: f64, colour: &str| {
        let d: Vec<String> = vals
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), top + ph - v / max * ph))
            .collect();
        format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n",
            d.join(" ")
        )
    };
    let mut o = String::new();
    o.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    ));
    o.push_str(&format!(
        "<text x=\"{pad}\" y=\"20\" font-size=\"14\">mcx-pktgen: {} clients, {} groups, {} ({}), {} sent, {} lost, {} corrupted</text>\n",
        s.scenario.clients,
        s.scenario.groups,
        if s.through_relay { "through the relay" } else { "sink" },
        s.io,
        s.sent_total(),
        s.lost(),
        s.corrupted.total()
    ));
    for (i, (title, max, unit)) in [
        ("throughput", rmax, "packets/s"),
        ("latency (p50, p99, p99.9)", lmax, "µs"),
    ]
    .iter()
    .enumerate()
    {
        let top = pad + i as f64 * (ph + pad);
        o.push_str(&format!(
            "<rect x=\"{pad}\" y=\"{top}\" width=\"{}\" height=\"{ph}\" fill=\"none\" stroke=\"#888\"/>\n<text x=\"{pad}\" y=\"{}\">{title}</text>\n<text x=\"4\" y=\"{}\">{:.0}</text>\n<text x=\"4\" y=\"{}\">0</text>\n<text x=\"4\" y=\"{}\">{unit}</text>\n",
            w - 2.0 * pad,
            top - 6.0,
            top + 12.0,
            max,
            top + ph,
            top + ph / 2.0
        ));
    }
    o.push_str(&format!(
        "<text x=\"{}\" y=\"{}\">{tmax:.1} s</text>\n",
        w - pad - 30.0,
        h - pad / 2.0 + 10.0
    ));
    let top0 = pad;
    o.push_str(&line(
        pts.iter().map(|p| (p.t_s, p.sent_pps)).collect(),
        top0,
        rmax,
        "#1f77b4",
    ));
    o.push_str(&line(
        pts.iter().map(|p| (p.t_s, p.received_pps)).collect(),
        top0,
        rmax,
        "#2ca02c",
    ));
    let top1 = pad + ph + pad;
    for (i, colour) in ["#2ca02c", "#ff7f0e", "#d62728"].iter().enumerate() {
        o.push_str(&line(
            pts.iter()
                .map(|p| (p.t_s, p.latency_us[i] as f64))
                .collect(),
            top1,
            lmax,
            colour,
        ));
    }
    o.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">sent</text><text x=\"{}\" y=\"{}\" fill=\"#2ca02c\">received</text>\n",
        w - pad - 120.0, top0 + 16.0, w - pad - 70.0, top0 + 16.0
    ));
    o.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" fill=\"#2ca02c\">p50</text><text x=\"{}\" y=\"{}\" fill=\"#ff7f0e\">p99</text><text x=\"{}\" y=\"{}\" fill=\"#d62728\">p99.9</text>\n",
        w - pad - 130.0, top1 + 16.0, w - pad - 90.0, top1 + 16.0, w - pad - 50.0, top1 + 16.0
    ));
    o.push_str("</svg>\n");
    o
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ipv4_udp(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let (SocketAddr::V4(f), SocketAddr::V4(t)) = (from, to) else {
        return None;
    };
    let ulen = 8 + payload.len() as u16;
    let mut udp = Vec::with_capacity(ulen as usize);
    udp.extend_from_slice(&f.port().to_be_bytes());
    udp.extend_from_slice(&t.port().to_be_bytes());
    udp.extend_from_slice(&ulen.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::with_capacity(12 + udp.len());
    pseudo.extend_from_slice(&f.ip().octets());
    pseudo.extend_from_slice(&t.ip().octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&ulen.to_be_bytes());
    pseudo.extend_from_slice(&udp);
    let c = match checksum(&pseudo) {
        0 => 0xffff,
        c => c,
    };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(20 + ulen).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&f.ip().octets());
    ip.extend_from_slice(&t.ip().octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&udp);
    Some(ip)
}

/// A pcap (LINKTYPE_RAW, IPv4/UDP) of `(µs since the start, from, to, payload)`; packets
/// over IPv6 are left out.
pub fn pcap(pkts: &[(u64, SocketAddr, SocketAddr, Vec<u8>)]) -> Vec<u8> {
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65_535u32.to_le_bytes());
    f.extend_from_slice(&101u32.to_le_bytes());
    for (t, from, to, p) in pkts {
        let Some(ip) = ipv4_udp(*from, *to, p) else {
            continue;
        };
        let ts = base + t;
        f.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        f.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        f.extend_from_slice(&ip);
    }
    f
}
