//! `mcx demo`: simulated MCPTT clients and their participating server exchange floor control
//! in memory through the engine: the server generates a CSK per client (key download support,
//! TS 33.180 §5.8), installs it in the key store (CS-ID 6, MKI = CSK-ID), and every packet goes
//! through `Engine::srtcp_protect_for` / `srtcp_unprotect` — key lookup by ID and by MKI,
//! purpose and time checks, transmit index per (key, SSRC), replay window per stream.

use std::sync::Arc;
use std::time::Instant;

use mcx_engine::keys::{KeyId, Purpose, Service, SrtcpUse};
use mcx_engine::secret::KeyLen;
use mcx_engine::srtcp::MAX_SRTCP_TRAILER;
use mcx_engine::store::{KeyInstall, KeyStore, Owner, StoreConfig};
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig};
use serde_json::json;

use crate::cli::DemoArgs;
use crate::output::print;
use mcx_engine::floor::{FloorPacket, floor_granted, floor_request};

const SERVER: &str = "sip:mcptt-server.example.org";

/// One client: its CSK-ID and the two floor messages it exchanges, with distinct SSRCs for
/// the two directions (they share the CSK, so their IVs must differ).
struct Client {
    user: String,
    csk_id: KeyId,
    request: FloorPacket,
    granted: FloorPacket,
}

fn random_u32() -> Result<u32, String> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| format!("OS random source: {e}"))?;
    Ok(u32::from_be_bytes(b))
}

fn new_client(store: &KeyStore, n: u32, now: Timestamp) -> Result<Client, String> {
    let g = store
        .generate(Purpose::Csk, KeyLen::Aes128)
        .map_err(|e| e.to_string())?;
    let user = format!("sip:user{n}@mcptt.example.org");
    let k = KeyInstall::new(
        g.key.expose(),
        g.key_id,
        &g.rand,
        Service::Mcptt,
        Owner::new(user.clone()),
        SERVER,
    );
    store.install(&k, now).map_err(|e| e.to_string())?;
    let up_ssrc = random_u32()?;
    Ok(Client {
        request: floor_request(up_ssrc, &user, 5, mcx_engine::floor::INDICATOR_NORMAL)
            .map_err(|e| e.to_string())?,
        granted: floor_granted(up_ssrc ^ 0x8000_0000, 30, 5, &user).map_err(|e| e.to_string())?,
        user,
        csk_id: g.key_id,
    })
}

pub(crate) fn run(a: DemoArgs, json: bool) -> Result<(), String> {
    if a.clients == 0 || a.packets == 0 {
        return Err("--clients and --packets must be at least 1".into());
    }
    let now = Timestamp::now();
    let store = Arc::new(KeyStore::new(StoreConfig {
        provider: crate::provider(),
        ..StoreConfig::default()
    }));
    let mut clients = (0..a.clients)
        .map(|n| new_client(&store, n, now))
        .collect::<Result<Vec<_>, _>>()?;
    // The server's handle and one for the clients' side: each owns its replay windows.
    let mut server =
        Engine::new(Arc::clone(&store), EngineConfig::default()).map_err(|e| e.to_string())?;
    let mut phones = server.handle();
    let mut buf = vec![0u8; 256 + MAX_SRTCP_TRAILER];
    let mut verified = 0u64;
    let mut failed = 0u64;

    let start = Instant::now();
    for n in 0..a.packets {
        let c = &mut clients[(n % a.clients as u64) as usize];
        let uplink = (n / a.clients as u64).is_multiple_of(2);
        let (pkt, key, sender, receiver) = if uplink {
            (&mut c.request, Some(c.csk_id), &phones, &mut server)
        } else {
            // The server finds the CSK toward the client by who the client is.
            let key = store.key_for(Purpose::Csk, &c.user, SERVER);
            (&mut c.granted, key, &server, &mut phones)
        };
        pkt.set_sequence(n as u16);
        let len = pkt.bytes.len();
        buf[..len].copy_from_slice(&pkt.bytes);
        let ok = key.is_some_and(|key| {
            match sender.srtcp_protect_for(SrtcpUse::Unicast, key, &mut buf, len, now) {
                Ok(p) => match receiver.srtcp_unprotect(&mut buf[..p.len], now) {
                    Ok(u) => u.key_id == key && buf[..u.len] == pkt.bytes[..],
                    Err(_) => false,
                },
                Err(_) => false,
            }
        });
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
            ("backend", json!(server.provider().description())),
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
