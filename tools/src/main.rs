//! `mcx`: the mcx-engine command line.
//!
//! - `mcx derive srtcp|xml` — MC key derivations (TS 33.180 §7.4, F.1.4).
//! - `mcx srtcp protect|unprotect` — one SRTCP packet from hex (RFC 7714).
//! - `mcx mcdata protect|unprotect` — one MCData protected payload from hex (TS 33.180 §8.5.4).
//! - `mcx xml protect|unprotect|sign|verify` — an XML body on stdin (TS 33.180 §9.3).
//! - `mcx backends` — the AES-GCM backends this CPU runs, one per line.
//! - `mcx relay` — the SRTCP relay in the foreground; `mcx relay ctl` drives a running one.
//! - `mcx demo` — the main job: a relay in a CS proxy role on loopback and the packet
//!   generator through it (`mcx_tools::pktgen`), every octet verified, a summary printed.
//!
//! Human output by default, `--json` for one JSON object on stdout. A bad argument or a
//! failed check prints a message on stderr and exits non-zero (2 for usage, 1 otherwise).

mod cli;
mod demo;
mod derive;
mod floor;
mod mcdata;
mod output;
mod relay;
mod srtcp;
mod xml;

use clap::{CommandFactory, FromArgMatches};

/// The AES-GCM provider the commands run on: the start-up measurement, or
/// `MCX_AEAD_BACKEND` (`mcx_engine::startup`).
pub(crate) fn provider() -> mcx_engine::aead::Provider {
    mcx_engine::startup::provider_from_env().provider
}

fn main() {
    // The version line names the AES-GCM backend the engine chose on this machine.
    let choice = mcx_engine::startup::provider_from_env();
    let mut version = format!(
        "{}\nAES-GCM backend: {}",
        env!("CARGO_PKG_VERSION"),
        choice.provider.description()
    );
    if let Some(w) = &choice.warning {
        version.push_str(&format!("\nwarning: {w}"));
    }
    if let Some(n) = &choice.note {
        version.push_str(&format!("\nnote: {n}"));
    }
    let matches = cli::Cli::command()
        .version(version.clone())
        .long_version(version)
        .get_matches();
    let args = match cli::Cli::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let json = args.json;
    let result = match args.command {
        cli::Command::Derive(cmd) => derive::run(cmd, json),
        cli::Command::Srtcp(cmd) => srtcp::run(cmd, json),
        cli::Command::Mcdata(cmd) => mcdata::run(cmd, json),
        cli::Command::Xml(cmd) => xml::run(cmd, json),
        cli::Command::Floor(cmd) => floor::run(cmd, json),
        cli::Command::Demo(cmd) => demo::run(cmd, json),
        cli::Command::Backends => backends(json),
        cli::Command::Relay(cmd) => relay::run(cmd),
    };
    if let Err(e) = result {
        eprintln!("mcx: error: {e}");
        std::process::exit(1);
    }
}

/// Lists the AES-GCM backends this CPU can run (names as `MCX_AEAD_BACKEND` takes them).
fn backends(json: bool) -> Result<(), String> {
    use mcx_engine::aead::Provider;
    let names: Vec<&str> = Provider::available().map(|b| b.name()).collect();
    if json {
        let choice = mcx_engine::startup::provider_from_env();
        println!(
            "{}",
            serde_json::json!({
                "available": names,
                "active": choice.provider.name(),
                "note": choice.note,
            })
        );
    } else {
        // A reader that stops early (`| head -1`) closes the pipe: stop quietly.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for n in names {
            if writeln!(out, "{n}").is_err() {
                break;
            }
        }
    }
    Ok(())
}
