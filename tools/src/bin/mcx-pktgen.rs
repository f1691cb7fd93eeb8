//! `mcx-pktgen`: the load generator and verifier for MC signalling through an mcx relay in
//! a CS proxy role (or, with `--sink`, straight to its own receivers). The final summary is
//! one JSON object on stdout; `--report` adds a JSON line per interval before it, the live
//! progress line goes to stderr. Exit status: 0 when every packet verified, 1 on an error
//! or a failed verification (or loss over `--max-loss`), 2 for bad options or a bad
//! scenario. SIGINT or SIGTERM ends the run early: its sessions and keys are taken out of
//! the relay, and the exit status is 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mcx_tools::pktgen::search::{SearchOptions, search};
use mcx_tools::pktgen::{INTERRUPTED, Options, Scenario, run};

/// What went wrong: the options (exit 2) or the run (exit 1).
enum Failure {
    Usage(String),
    Run(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Run(e)
    }
}

/// Load generator and verifier for MC signalling (floor control, transmission control,
/// MBMS subchannel control under MC keys) through an mcx relay.
#[derive(Parser, Debug)]
#[command(name = "mcx-pktgen", version)]
struct Args {
    /// The relay's control socket (a relay with `[proxy] role = "cs-proxy"`).
    #[arg(long, value_name = "PATH", conflicts_with = "sink")]
    control: Option<PathBuf>,
    /// No relay: each stream goes straight to its receivers (the generator's own ceiling).
    #[arg(long)]
    sink: bool,
    /// Scenario file (TOML); the options below override it.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Print the scenario (built-in defaults, file and options merged) as TOML and exit.
    #[arg(long)]
    print_scenario: bool,
    /// Clients, each with its own CSK.
    #[arg(long)]
    clients: Option<u32>,
    /// Groups, each with its MuSiK (and MSCCK).
    #[arg(long)]
    groups: Option<u32>,
    /// Packets per second (0: as fast as possible).
    #[arg(long, value_name = "PPS")]
    rate: Option<f64>,
    /// Ramp linearly from this rate to --rate.
    #[arg(long, value_name = "PPS")]
    ramp_from: Option<f64>,
    /// Seconds of traffic.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Replace every client's CSK by a key download this many seconds in.
    #[arg(long, value_name = "SECONDS")]
    rollover_at: Option<f64>,
    /// Share of forged packets (a flipped octet).
    #[arg(long)]
    forged: Option<f64>,
    /// Share of replayed packets.
    #[arg(long)]
    replayed: Option<f64>,
    /// Share of truncated packets.
    #[arg(long)]
    truncated: Option<f64>,
    /// Share of packets under a key the relay does not have.
    #[arg(long)]
    unknown_key: Option<f64>,
    /// Generator threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Pin the generator threads to these cores (comma-separated).
    #[arg(long, value_delimiter = ',')]
    cores: Option<Vec<usize>>,
    /// I/O backend: auto, uring or mmsg.
    #[arg(long)]
    io: Option<String>,
    /// Datagrams per send and receive.
    #[arg(long)]
    batch: Option<usize>,
    /// A JSON line on stdout every this many seconds (and the progress line's interval).
    #[arg(long, value_name = "SECONDS")]
    report: Option<f64>,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
    /// Draw latency percentiles and throughput over time (SVG).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Write the packets sent, in clear, as a pcap (IPv4/UDP; tshark decodes them with
    /// `-d udp.port==PORT,rtcp`).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// At most this many packets in the pcap.
    #[arg(long, default_value_t = 10_000)]
    pcap_max: usize,
    /// Search the no-drop rate (NDR) and the 0.1%-loss rate (PDR) instead of one run.
    #[arg(long)]
    search: bool,
    /// Seconds per search trial.
    #[arg(long, default_value_t = 1.0)]
    trial: f64,
    /// Exit 1 when the loss outside the rollover exceeds this share.
    #[arg(long)]
    max_loss: Option<f64>,
    /// Where the generator's sockets bind.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// The relay's outside and inside legs.
    #[arg(long, value_delimiter = ',', default_value = "clients,core")]
    legs: Vec<String>,
}

fn scenario(a: &Args) -> Result<Scenario, String> {
    let mut s = match &a.scenario {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Scenario::from_toml(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => Scenario::default(),
    };
    macro_rules! set {
        ($($f:ident => $($path:ident).+),*) => {$(
            if let Some(v) = a.$f.clone() {
                s.$($path).+ = v;
            }
        )*};
    }
    set!(clients => clients, groups => groups, rate => rate_pps, ramp_from => ramp_from_pps,
        duration => duration_s, rollover_at => rollover_at_s, forged => attack.forged,
        replayed => attack.replayed, truncated => attack.truncated,
        unknown_key => attack.unknown_key, threads => threads, cores => cores, io => io,
        batch => batch);
    if a.rate.is_some() || a.duration.is_some() {
        s.steps.clear();
    }
    s.validate()?;
    Ok(s)
}

fn main() {
    let a = Args::parse();
    // SIGINT and SIGTERM end the run through its teardown: every thread started from here
    // has them blocked, and one thread waits for them.
    if mcx_io::signals::block_termination().is_ok() {
        std::thread::spawn(|| {
            if mcx_io::signals::wait_termination().is_ok() {
                INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    let code = match go(&a) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(Failure::Usage(e)) => {
            eprintln!("mcx-pktgen: error: {e}");
            2
        }
        Err(Failure::Run(e)) => {
            eprintln!("mcx-pktgen: error: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn go(a: &Args) -> Result<bool, Failure> {
    let usage = |e: String| Failure::Usage(e);
    let s = scenario(a).map_err(usage)?;
    if a.print_scenario {
        print!("{}", s.to_toml());
        return Ok(true);
    }
    if a.control.is_none() && !a.sink {
        return Err(usage(
            "--control PATH (a relay's control socket) or --sink".into(),
        ));
    }
    if a.legs.len() != 2 {
        return Err(usage("--legs OUTSIDE,INSIDE".into()));
    }
    let report = a.report.unwrap_or(1.0);
    if !(0.01..=3600.0).contains(&report) {
        return Err(usage("--report: 0.01 to 3600 seconds".into()));
    }
    if !(a.trial > 0.0 && a.trial <= 60.0) {
        return Err(usage("--trial: more than 0, at most 60 seconds".into()));
    }
    if a.max_loss.is_some_and(|m| !(0.0..=1.0).contains(&m)) {
        return Err(usage("--max-loss: a share from 0 to 1".into()));
    }
    if a.sink && s.attack.total() > 0.0 {
        return Err(usage(
            "--sink: hostile shares need a relay (nothing would refuse them)".into(),
        ));
    }
    let o = Options {
        scenario: s,
        control: a.control.clone(),
        bind: a.bind,
        legs: (a.legs[0].clone(), a.legs[1].clone()),
        report: Duration::from_secs_f64(report),
        progress: !a.quiet,
        json_lines: a.report.is_some(),
        pcap: a.pcap.clone(),
        pcap_max: a.pcap_max,
        plot: a.plot.clone(),
    };
    if a.search {
        let so = SearchOptions {
            trial_s: a.trial,
            ..SearchOptions::default()
        };
        let f = search(&o, &so)?;
        eprintln!(
            "NDR {:.0} packets/s, PDR ({}% loss) {:.0} packets/s, flat out {:.0} packets/s",
            f.ndr_pps,
            so.pdr_loss * 100.0,
            f.pdr_pps,
            f.ceiling_pps
        );
        println!("{}", f.to_json(&so));
        // A trial that failed verification fails the search, whatever the rates.
        let failed: Vec<String> = f.trials.iter().flat_map(|t| t.summary.failures()).collect();
        for e in &failed {
            eprintln!("mcx-pktgen: {e}");
        }
        return Ok(failed.is_empty());
    }
    let summary = run(&o)?;
    println!("{}", summary.to_json());
    let mut ok = true;
    for f in summary.failures() {
        eprintln!("mcx-pktgen: {f}");
        ok = false;
    }
    if let Some(m) = a.max_loss
        && summary.loss_ratio_steady() > m
    {
        eprintln!(
            "mcx-pktgen: loss {:.4}% over --max-loss {:.4}%",
            summary.loss_ratio_steady() * 100.0,
            m * 100.0
        );
        ok = false;
    }
    Ok(ok)
}
