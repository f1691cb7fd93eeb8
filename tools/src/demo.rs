//! `mcx demo`: simulated MCPTT clients and their participating server exchange floor control
//! in memory, each client protected with its own CSK (TS 33.180 §7.4, CS-ID 6, MKI = CSK-ID).

use std::time::Instant;

use mcx_engine::keys::{CsId, KeyId, Purpose, derive_srtp_master};
use mcx_engine::srtcp::{
    MAX_SRTCP_TRAILER, Mki, RxConfig, RxContext, SrtcpKeys, TxConfig, TxContext,
};
use serde_json::json;

use crate::cli::DemoArgs;
use crate::floor::{FloorPacket, floor_granted, floor_request};
use crate::output::print;

/// One client as both ends see it: uplink (client → server) and downlink (server → client)
/// contexts under the same CSK, with distinct SSRCs so that no IV repeats.
struct Client {
    uplink_tx: TxContext,
    uplink_rx: RxContext,
    downlink_tx: TxContext,
    downlink_rx: RxContext,
    request: FloorPacket,
    granted: FloorPacket,
}

fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| format!("OS random source: {e}"))?;
    Ok(b)
}

fn new_client(n: u32) -> Result<Client, String> {
    // What the CSK upload (TS 33.180 §5.4) would hand the server: key, ID and MIKEY RAND.
    let csk: [u8; 16] = random()?;
    let rand: [u8; 16] = random()?;
    let csk_id = KeyId::random(Purpose::Csk).map_err(|e| e.to_string())?;
    let (mk, ms) = derive_srtp_master(&csk, CsId::CskSrtcpMcptt, csk_id.get(), &rand)
        .map_err(|e| e.to_string())?;
    let keys = SrtcpKeys::from_master(&mk, &ms);
    let mki = Mki::from_key_id(csk_id);
    let up_ssrc = u32::from_be_bytes(random()?);
    let down_ssrc = up_ssrc ^ 0x8000_0000;
    let rx = |k: SrtcpKeys| RxContext::new(k, RxConfig::new(mki)).map_err(|e| e.to_string());
    Ok(Client {
        uplink_tx: TxContext::new(keys.clone(), TxConfig::new(mki)),
        uplink_rx: rx(keys.clone())?,
        downlink_tx: TxContext::new(keys.clone(), TxConfig::new(mki)),
        downlink_rx: rx(keys)?,
        request: floor_request(up_ssrc, &format!("sip:user{n}@mcptt.example.org"), 5),
        granted: floor_granted(down_ssrc, 30, 5),
    })
}

pub(crate) fn run(a: DemoArgs, json: bool) -> Result<(), String> {
    if a.clients == 0 || a.packets == 0 {
        return Err("--clients and --packets must be at least 1".into());
    }
    let mut clients = (0..a.clients)
        .map(new_client)
        .collect::<Result<Vec<_>, _>>()?;
    let mut wire = vec![0u8; 256 + MAX_SRTCP_TRAILER];
    let mut plain = vec![0u8; 256 + MAX_SRTCP_TRAILER];
    let mut verified = 0u64;
    let mut failed = 0u64;

    let start = Instant::now();
    for n in 0..a.packets {
        let c = &mut clients[(n % a.clients as u64) as usize];
        let uplink = (n / a.clients as u64).is_multiple_of(2);
        let (pkt, tx, rx) = if uplink {
            (&mut c.request, &mut c.uplink_tx, &mut c.uplink_rx)
        } else {
            (&mut c.granted, &mut c.downlink_tx, &mut c.downlink_rx)
        };
        pkt.set_sequence(n as u16);
        let ok = match tx.protect(&pkt.bytes, &mut wire) {
            Ok(p) => match rx.unprotect(&wire[..p.len], &mut plain) {
                Ok(u) => plain[..u.len] == pkt.bytes[..],
                Err(_) => false,
            },
            Err(_) => false,
        };
        if ok {
            verified += 1;
        } else {
            failed += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let pps = a.packets as f64 / secs;

    print(
        json,
        &[
            ("clients", json!(a.clients)),
            ("packets", json!(a.packets)),
            ("verified", json!(verified)),
            ("failed", json!(failed)),
            ("seconds", json!((secs * 1e6).round() / 1e6)),
            ("packets_per_second", json!(pps.round() as u64)),
            ("ns_per_packet", json!((1e9 / pps * 10.0).round() / 10.0)),
            ("backend", json!(mcx_engine::aead::backend_name())),
        ],
    );
    if failed > 0 {
        return Err(format!(
            "{failed} of {} packets did not round-trip",
            a.packets
        ));
    }
    Ok(())
}
