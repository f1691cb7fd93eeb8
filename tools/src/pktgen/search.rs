//! The highest rate a relay carries without loss (NDR) and with at most 0.1% loss (PDR), by
//! the binary search of RFC 2544 §26.1 as FD.io's NDR/PDR search runs it: a trial at a
//! rate, then the middle of the interval that still holds the answer, until the interval is
//! narrower than the precision. Each trial is a whole run (set-up, traffic, take-down) of
//! the scenario at that rate; the first goes flat out and bounds the search from above.

use serde_json::{Value, json};

use super::report::Summary;
use super::{Options, run};

/// Search settings.
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    /// Seconds per trial.
    pub trial_s: f64,
    /// Stop when the interval is narrower than this share of its top.
    pub precision: f64,
    /// Most trials per search.
    pub max_trials: usize,
    /// The loss a PDR trial may have.
    pub pdr_loss: f64,
}

impl Default for SearchOptions {
    fn default() -> SearchOptions {
        SearchOptions {
            trial_s: 1.0,
            precision: 0.05,
            max_trials: 8,
            pdr_loss: 0.001,
        }
    }
}

/// One trial.
#[derive(Clone, Debug)]
pub struct Trial {
    /// What it was for: `ceiling`, `ndr` or `pdr`.
    pub search: &'static str,
    /// The rate asked for (0: flat out).
    pub rate_pps: f64,
    /// Its summary.
    pub summary: Summary,
}

/// The searches' results.
#[derive(Clone, Debug)]
pub struct Found {
    /// Highest rate without loss.
    pub ndr_pps: f64,
    /// Highest rate with loss at most `pdr_loss`.
    pub pdr_pps: f64,
    /// What the flat-out trial reached.
    pub ceiling_pps: f64,
    /// Every trial, in order.
    pub trials: Vec<Trial>,
}

fn passes(s: &Summary, loss: f64) -> bool {
    s.failures().is_empty() && s.loss_ratio_steady() <= loss
}

/// Runs both searches.
pub fn search(o: &Options, so: &SearchOptions) -> Result<Found, String> {
    let mut trials = Vec::new();
    let mut trial = |search: &'static str, rate: f64| -> Result<Summary, String> {
        let mut t = o.clone();
        t.scenario.rate_pps = rate;
        t.scenario.ramp_from_pps = 0.0;
        t.scenario.steps.clear();
        t.scenario.duration_s = so.trial_s;
        t.scenario.rollover_at_s = 0.0;
        t.pcap = None;
        t.plot = None;
        t.progress = false;
        t.json_lines = false;
        let s = run(&t)?;
        eprintln!(
            "  {search:<8} {:>10}  sent {:>9}  received {:>9}  loss {:>8.4}%  p50 {:>6} µs  p99 {:>6} µs",
            if rate == 0.0 {
                "flat out".to_owned()
            } else {
                format!("{rate:.0}/s")
            },
            s.sent_total(),
            s.received(),
            s.loss_ratio() * 100.0,
            s.latency[0].value_at_quantile(0.5),
            s.latency[0].value_at_quantile(0.99),
        );
        trials.push(Trial {
            search,
            rate_pps: rate,
            summary: s.clone(),
        });
        Ok(s)
    };
    eprintln!("  search   rate        sent       received   loss       latency");
    let top = trial("ceiling", 0.0)?;
    let ceiling = top.sent_total() as f64 / top.seconds;
    let mut bisect = |search: &'static str, lo0: f64, loss: f64| -> Result<f64, String> {
        let (mut lo, mut hi) = (lo0, ceiling);
        for _ in 0..so.max_trials {
            if hi - lo <= so.precision * hi {
                break;
            }
            let mid = (lo + hi) / 2.0;
            if passes(&trial(search, mid)?, loss) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    };
    let ndr = bisect("ndr", 0.0, 0.0)?;
    let pdr = bisect("pdr", ndr, so.pdr_loss)?;
    Ok(Found {
        ndr_pps: ndr,
        pdr_pps: pdr,
        ceiling_pps: ceiling,
        trials,
    })
}

impl Found {
    /// The results as JSON.
    pub fn to_json(&self, so: &SearchOptions) -> Value {
        json!({
            "type": "search",
            "schema": "mcx-pktgen-search/1",
            "ndr_pps": self.ndr_pps.round() as u64,
            "pdr_pps": self.pdr_pps.round() as u64,
            "pdr_loss": so.pdr_loss,
            "ceiling_pps": self.ceiling_pps.round() as u64,
            "trial_s": so.trial_s,
            "trials": self.trials.iter().map(|t| json!({
                "search": t.search, "rate_pps": t.rate_pps.round() as u64,
                "sent": t.summary.sent_total(), "received": t.summary.received(),
                "loss_ratio": t.summary.loss_ratio(),
                "latency_us": {"p50": t.summary.latency[0].value_at_quantile(0.5),
                    "p99": t.summary.latency[0].value_at_quantile(0.99)},
            })).collect::<Vec<_>>(),
        })
    }
}
