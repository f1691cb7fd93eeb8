//! The load generator and verifier for MC signalling: drives a relay in a CS proxy role from
//! both sides (clients outside, servers inside), checks every octet that comes back and
//! reports what a person would look at first. `mcx-pktgen` and `mcx demo` run it.
//!
//! - [`scenario`]: what a run sends (TOML, with built-in defaults).
//! - [`traffic`]: which packet is which, and the messages themselves.
//! - [`schedule`]: when each packet is due on an open-loop run.
//! - [`setup`]: sockets, keys, identities and sessions, through the relay's control socket.
//! - [`run`]: the generator threads (send when due, verify what arrives).
//! - [`report`]: the summary, the progress line, the plot and the pcap.
//! - [`search`]: the highest rate without loss (NDR) and with at most 0.1% (PDR).

pub mod report;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod search;
pub mod setup;
pub mod traffic;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use mcx_engine::keys::{KeyId, Purpose};
use mcx_io::relay::IoChoice;
use serde_json::Value;

pub use scenario::Scenario;

use report::{Progress, Summary};
use run::{Shared, ThreadResult};
use schedule::Schedule;
use setup::{ControlClient, SetupOptions, Topology};

/// Set (by a signal handler thread, say) to stop the run in progress; it ends early, takes
/// its sessions and keys out of the relay and fails with "interrupted".
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Zeroizes the strings of a request that held key material.
pub(crate) fn zeroize_json(v: Value) {
    if let Value::Object(m) = v {
        for (_, x) in m {
            if let Value::String(s) = x {
                drop(zeroize::Zeroizing::new(s));
            }
        }
    }
}

/// How a run is driven and reported.
#[derive(Clone, Debug)]
pub struct Options {
    /// What to send.
    pub scenario: Scenario,
    /// The relay's control socket; `None`: no relay, each stream straight to its
    /// receivers (the generator's own ceiling).
    pub control: Option<PathBuf>,
    /// Where the generator's sockets bind.
    pub bind: SocketAddr,
    /// The relay's outside and inside leg names.
    pub legs: (String, String),
    /// Report interval.
    pub report: Duration,
    /// A live progress line on stderr.
    pub progress: bool,
    /// A JSON line per interval on stdout.
    pub json_lines: bool,
    /// Write the packets sent, in clear, to this pcap.
    pub pcap: Option<PathBuf>,
    /// At most this many packets in the pcap.
    pub pcap_max: usize,
    /// Draw latency percentiles and throughput over time to this SVG file.
    pub plot: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            scenario: Scenario::default(),
            control: None,
            bind: "127.0.0.1:0".parse().expect("address"),
            legs: ("clients".into(), "core".into()),
            report: Duration::from_secs(1),
            progress: false,
            json_lines: false,
            pcap: None,
            pcap_max: 10_000,
            plot: None,
        }
    }
}

/// The schedule of a scenario (`None`: flat out).
pub fn schedule_of(s: &Scenario) -> Option<Schedule> {
    if !s.steps.is_empty() {
        let p: Vec<(f64, f64, f64)> = s.steps.iter().map(|[d, r]| (*d, *r, *r)).collect();
        return Some(Schedule::new(&p, scenario::MAX_PACKETS));
    }
    if s.rate_pps == 0.0 {
        return None;
    }
    let from = if s.ramp_from_pps > 0.0 {
        s.ramp_from_pps
    } else {
        s.rate_pps
    };
    Some(Schedule::new(
        &[(s.duration_s, from, s.rate_pps)],
        scenario::MAX_PACKETS,
    ))
}

fn io_choice(name: &str) -> IoChoice {
    match name {
        "uring" => IoChoice::Uring,
        "mmsg" => IoChoice::Mmsg,
        _ => IoChoice::Auto,
    }
}

/// The relay's worker threads (their IDs) and counters, from its `stats`.
fn relay_stats(c: &mut ControlClient) -> Result<Value, String> {
    c.call(&serde_json::json!({"op": "stats"}))
}

/// CPU time of thread `tid` in ns (from /proc), if this process may read it.
pub fn task_cpu_ns(tid: u64) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// The relay workers' CPU time, when they are threads this process can see (a relay on
/// another host or in another PID namespace reports IDs that name other threads here, or
/// none: their names tell).
fn relay_cpu_ns(stats: &Value) -> Option<u64> {
    let w = stats["workers"].as_array()?;
    let mut sum = 0;
    for x in w {
        let tid = x["tid"].as_u64()?;
        let comm = std::fs::read_to_string(format!("/proc/{tid}/comm")).ok()?;
        if !comm.starts_with("mcx-relay-w") {
            return None;
        }
        sum += task_cpu_ns(tid)?;
    }
    Some(sum)
}

/// Replaces every client's CSK by a key download, then moves the relay's sessions to it.
fn rollover(
    t: &mut Topology,
    relay: Option<&mut ControlClient>,
    start: Instant,
) -> Result<(usize, Duration), String> {
    let began = Instant::now();
    let keys = Arc::clone(&t.keys);
    keys.roll_start_us.store(
        (start.elapsed().as_micros() as u64).max(1),
        Ordering::Release,
    );
    let mut relay = relay;
    let n = keys.current.len();
    for c in 0..n {
        let old = KeyId::new(keys.current[c].load(Ordering::Acquire)).map_err(|e| e.to_string())?;
        let new = setup::mc_key(
            &t.store,
            relay.as_deref_mut(),
            Purpose::Csk,
            &t.client_owner[c],
            "download",
        )
        .map_err(|e| format!("rollover, client {c}: {e}"))?;
        // From here the verifier takes the new key too; the senders switch once the
        // relay's sessions have.
        keys.next[c].store(new.get(), Ordering::Release);
        if let Some(r) = relay.as_deref_mut() {
            t.replaced_key(old, new);
            r.call(&serde_json::json!({"op": "session.rekey",
                "from": format!("{:08x}", old.get()), "to": format!("{:08x}", new.get())}))
                .map_err(|e| format!("rollover, client {c}: session.rekey: {e}"))?;
        }
        keys.previous[c].store(old.get(), Ordering::Release);
        keys.current[c].store(new.get(), Ordering::Release);
    }
    keys.roll_end_us.store(
        (start.elapsed().as_micros() as u64).max(1),
        Ordering::Release,
    );
    Ok((n, began.elapsed()))
}

/// One run: set up, send and verify, take down, summarize.
pub fn run(o: &Options) -> Result<Summary, String> {
    let s = &o.scenario;
    s.validate()?;
    if o.control.is_none() && s.attack.total() > 0.0 {
        return Err(
            "hostile shares need a relay: without one nothing would refuse them (--sink)".into(),
        );
    }
    let (io, io_reason) = mcx_io::relay::choose_io(io_choice(&s.io)).map_err(|e| e.to_string())?;
    let mut relay = match &o.control {
        Some(p) => Some(ControlClient::connect(p)?),
        None => None,
    };
    let plan = traffic::Plan::new(s);
    let mut topo = setup::setup(
        s,
        &plan,
        relay.as_mut(),
        &SetupOptions {
            bind: o.bind,
            legs: o.legs.clone(),
        },
    )?;
    let result = drive(o, io, plan, &mut topo, relay.as_mut());
    if let Some(r) = relay.as_mut() {
        topo.teardown(r);
    }
    let (mut summary, before, after) = result?;
    summary.io = io.name().to_owned();
    summary.io_reason = io_reason;
    if let (Some(b), Some(a)) = (before, after) {
        summary.relay_delta(&b, &a);
    }
    if let Some(p) = &o.plot {
        std::fs::write(p, report::svg(&summary))
            .map_err(|e| format!("--plot {}: {e}", p.display()))?;
    }
    Ok(summary)
}

type Driven = (Summary, Option<Value>, Option<Value>);

fn drive(
    o: &Options,
    io: mcx_io::backend::IoKind,
    plan: traffic::Plan,
    topo: &mut Topology,
    mut relay: Option<&mut ControlClient>,
) -> Result<Driven, String> {
    let s = &o.scenario;
    let mut tag = [0u8; 4];
    getrandom::fill(&mut tag).map_err(|e| format!("OS random source: {e}"))?;
    let sh = Shared {
        plan,
        streams: std::mem::take(&mut topo.streams),
        store: Arc::clone(&topo.store),
        keys: Arc::clone(&topo.keys),
        tag: u32::from_be_bytes(tag),
        schedule: schedule_of(s),
        flat_us: (s.length_s() * 1e6) as u64,
        report_us: (o.report.as_micros() as u64).max(10_000),
        pcap_left: AtomicUsize::new(if o.pcap.is_some() { o.pcap_max } else { 0 }),
        abort: AtomicBool::new(false),
        sending: AtomicUsize::new(s.threads),
        batch: s.batch,
    };
    let before = match relay.as_deref_mut() {
        Some(r) => Some(relay_stats(r)?),
        None => None,
    };
    let cpu_before = before.as_ref().and_then(relay_cpu_ns);
    let sockets = std::mem::take(&mut topo.sockets);
    let (tx, rx) = mpsc::channel();
    // The threads start together, a moment from now.
    let start = Instant::now() + Duration::from_millis(20);
    let mut progress = Progress::new(o, s.threads, &sh);
    let mut rolled = None;
    let mut failure = None;
    let results: Vec<Result<ThreadResult, String>> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (me, socks) in sockets.into_iter().enumerate() {
            let (sh, tx) = (&sh, tx.clone());
            let core = (!s.cores.is_empty()).then(|| s.cores[me % s.cores.len()]);
            let spawned = std::thread::Builder::new()
                .name(format!("mcx-pktgen-{me}"))
                .spawn_scoped(scope, move || {
                    if let Some(c) = core
                        && !core_affinity::set_for_current(core_affinity::CoreId { id: c })
                    {
                        eprintln!("mcx-pktgen: thread {me} could not be pinned to core {c}");
                    }
                    let r = run::thread_main(me, sh, io, socks, start, &tx);
                    if r.is_err() {
                        sh.abort.store(true, Ordering::Relaxed);
                    }
                    r
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    failure = Some(format!("cannot start generator thread {me}: {e}"));
                    sh.abort.store(true, Ordering::Relaxed);
                    // It will not send: the others must not wait for it.
                    sh.sending.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        drop(tx);
        let roll_at =
            (s.rollover_at_s > 0.0).then(|| start + Duration::from_secs_f64(s.rollover_at_s));
        loop {
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(iv) => progress.add(iv),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if INTERRUPTED.load(Ordering::Relaxed) && failure.is_none() {
                failure = Some("interrupted".to_owned());
                sh.abort.store(true, Ordering::Relaxed);
            }
            if let Some(at) = roll_at
                && rolled.is_none()
                && failure.is_none()
                && Instant::now() >= at
            {
                match rollover(topo, relay.as_deref_mut(), start) {
                    Ok(r) => rolled = Some(r),
                    Err(e) => {
                        failure = Some(e);
                        sh.abort.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a generator thread panicked".into()))
            })
            .collect()
    });
    progress.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    let results = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let after = match relay {
        Some(r) => Some(relay_stats(r)?),
        None => None,
    };
    let mut summary = Summary::new(s, &sh, &results, &progress, o.control.is_some());
    if let Some((clients, took)) = rolled {
        summary.rollover = Some((clients, took));
    }
    if let Some(a) = &after
        && let (Some(cb), Some(ca)) = (cpu_before, relay_cpu_ns(a))
    {
        summary.relay_cpu_ns = Some(ca.saturating_sub(cb));
    }
    if let Some(p) = &o.pcap {
        let mut pkts: Vec<_> = results.into_iter().flat_map(|r| r.pcap).collect();
        pkts.sort_by_key(|p| p.0);
        std::fs::write(p, report::pcap(&pkts))
            .map_err(|e| format!("--pcap {}: {e}", p.display()))?;
    }
    Ok((summary, before, after))
}
