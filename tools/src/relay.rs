//! `mcx relay`: the SRTCP relay of `mcx-io` in the foreground, and `mcx relay ctl`.
//!
//! Start-up: the configuration (a file, or the built-in default), the sockets bound, the
//! workers running, the control socket listening — then one line `ready` on stdout; from
//! then on the log goes to stderr. SIGINT or SIGTERM drains the workers and exits 0.

use std::io::Write;

use mcx_io::relay::{Relay, RelayConfig};

use crate::cli::{RelayArgs, RelayCmd};

pub(crate) fn run(a: RelayArgs) -> Result<(), String> {
    match a.ctl {
        Some(RelayCmd::Send { to, from, packets }) => {
            let data = packets
                .iter()
                .map(|p| crate::output::parse_hex("packet", p))
                .collect::<Result<Vec<_>, _>>()?;
            let src =
                mcx_io::probe::send(from, to, &data).map_err(|e| format!("send to {to}: {e}"))?;
            eprintln!("sent {} datagram(s) from {src} to {to}", data.len());
            return Ok(());
        }
        Some(RelayCmd::Recv {
            on,
            count,
            timeout_ms,
        }) => {
            let got =
                mcx_io::probe::receive(on, count, std::time::Duration::from_millis(timeout_ms))
                    .map_err(|e| format!("receive on {on}: {e}"))?;
            for (from, d) in &got {
                println!("{}", hex::encode(d));
                eprintln!("{} octets from {from}", d.len());
            }
            return if got.len() < count {
                Err(format!(
                    "{} of {count} datagrams in {timeout_ms} ms",
                    got.len()
                ))
            } else {
                Ok(())
            };
        }
        _ => {}
    }
    if let Some(RelayCmd::Ctl { socket, request }) = a.ctl {
        let reply = mcx_io::control::request(&socket, &request)
            .map_err(|e| format!("control socket {}: {e}", socket.display()))?;
        println!("{reply}");
        return if mcx_io::control::reply_ok(&reply) {
            Ok(())
        } else {
            Err("the relay refused the request".into())
        };
    }
    let config = match &a.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            RelayConfig::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => RelayConfig::default(),
    };
    if a.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    // Every thread the relay starts inherits this mask; the main thread takes the signals.
    mcx_io::signals::block_termination().map_err(|e| format!("signal mask: {e}"))?;
    let relay = Relay::start(&config).map_err(|e| format!("relay: {e}"))?;
    let control = relay.control();
    let (io, why) = control.io();
    eprintln!("mcx relay: I/O backend {io} ({why})");
    for (name, addr) in control.legs() {
        eprintln!("mcx relay: leg {name:?} listens on {addr}");
    }
    let workers = control.stats().workers;
    for w in &workers {
        match w.core {
            Some(c) => eprintln!("mcx relay: worker {} pinned to core {c}", w.worker),
            None => eprintln!("mcx relay: worker {} not pinned", w.worker),
        }
    }
    if !config.relay.control.as_os_str().is_empty() {
        eprintln!(
            "mcx relay: control socket {}",
            config.relay.control.display()
        );
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let sig = mcx_io::signals::wait_termination().map_err(|e| format!("sigwait: {e}"))?;
    let name = mcx_io::signals::name(sig);
    eprintln!("mcx relay: {name}: draining");
    let s = relay.shutdown();
    eprintln!(
        "mcx relay: stopped: received {}, sent {}, dropped {}",
        s.received,
        s.sent,
        s.dropped.total()
    );
    Ok(())
}
