//! Command-line grammar.

use clap::{Args, Parser, Subcommand};

/// mcx-engine: data-plane crypto for 3GPP Mission Critical signalling.
#[derive(Parser, Debug)]
#[command(name = "mcx", version, about)]
pub(crate) struct Cli {
    /// Print one JSON object on stdout instead of human-readable text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Derive working keys from an MC key.
    #[command(subcommand)]
    Derive(DeriveCmd),
    /// Protect or unprotect one SRTCP packet (RFC 7714 AEAD_AES_*_GCM).
    #[command(subcommand)]
    Srtcp(SrtcpCmd),
    /// Protect or unprotect one MCData protected payload (TS 33.180 §8.5.4) under the DPCK
    /// derived from a DPPK (PCK or GMK).
    #[command(subcommand)]
    Mcdata(McdataCmd),
    /// Protect, unprotect, sign or verify an XML body of a SIP message (TS 33.180 §9.3,
    /// TS 24.379 §6.6.2): the document on stdin, the result on stdout.
    #[command(subcommand)]
    Xml(XmlCmd),
    /// Read or build one TS 24.380 floor-control packet (RTCP APP "MCPT"), as JSON with
    /// `--json`.
    #[command(subcommand)]
    Floor(FloorCmd),
    /// The real data plane on loopback: a relay in a CS proxy role and `mcx-pktgen`
    /// through it for a few seconds, every octet verified, then a summary.
    Demo(DemoArgs),
    /// List the AES-GCM backends this CPU can run (for MCX_AEAD_BACKEND).
    Backends,
    /// Run the SRTCP relay in the foreground (`ready` on stdout once it listens; SIGINT or
    /// SIGTERM drains it), or talk to a running one (`mcx relay ctl`).
    Relay(RelayArgs),
}

/// `mcx floor`.
#[derive(Subcommand, Debug)]
pub(crate) enum FloorCmd {
    /// Print the message type, SSRC and every field of a packet (plain RTCP, e.g. from
    /// `mcx srtcp unprotect`), or fail with the reason it is not a floor-control packet.
    Parse {
        /// The packet, hex.
        #[arg(long = "in", value_name = "HEX")]
        hex: String,
        /// Field-ID numbering: current (TS 24.380 today, 0-20) or legacy (early Rel-13,
        /// 102-116).
        #[arg(long, default_value = "current")]
        profile: String,
    },
    /// Build a packet from a JSON object (as `parse --json` prints it) and print it as hex.
    Build {
        /// The JSON file.
        #[arg(long, value_name = "FILE")]
        json_in: std::path::PathBuf,
    },
}

/// `mcx relay`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct RelayArgs {
    /// The configuration file (TOML); without it, the built-in default: two legs on
    /// loopback (`clients` 127.0.0.1:40000, `core` 127.0.0.1:40002).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<std::path::PathBuf>,
    /// Print the effective configuration and exit.
    #[arg(long)]
    pub(crate) print_config: bool,
    #[command(subcommand)]
    pub(crate) ctl: Option<RelayCmd>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum RelayCmd {
    /// Send one JSON line to a running relay's control socket and print the reply.
    Ctl {
        /// The control socket.
        #[arg(long, value_name = "PATH", default_value = "/run/mcx/relay.sock")]
        socket: std::path::PathBuf,
        /// The request, e.g. '{"op":"stats"}'.
        request: String,
    },
    /// Send datagrams (hex) to an address, e.g. an SRTCP packet from `mcx srtcp protect` to a
    /// relay's leg.
    Send {
        /// Where to.
        #[arg(long, value_name = "IP:PORT")]
        to: std::net::SocketAddr,
        /// Where from (default: a port the kernel picks).
        #[arg(long, value_name = "IP:PORT")]
        from: Option<std::net::SocketAddr>,
        /// The datagrams, hex.
        #[arg(required = true, value_name = "HEX")]
        packets: Vec<String>,
    },
    /// Receive datagrams on an address and print each as hex, one per line; fails when fewer
    /// than --count came in time.
    Recv {
        /// The address to listen on.
        #[arg(long, value_name = "IP:PORT")]
        on: std::net::SocketAddr,
        /// How many to wait for.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// How long to wait in all, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum DeriveCmd {
    /// SRTP master key and salt (MIKEY PRF, TS 33.180 §7.4) and the SRTCP session key and
    /// salt (RFC 3711 §4.3).
    Srtcp(McKeyArgs),
    /// XML confidentiality (FC 0x51) and integrity (FC 0x52) keys (TS 33.180 F.1.4).
    Xml(XmlArgs),
}

/// An MC key, its ID and the MIKEY RAND that delivered it.
#[derive(Args, Debug, Clone)]
pub(crate) struct McKeyArgs {
    /// The MC key (CSK, MuSiK, PCK, GMK …): 16 or 32 octets, hex.
    #[arg(long, value_name = "HEX")]
    pub(crate) key: String,
    /// The key ID (CSB ID; the GUK-ID for a GMK): 4 octets, hex.
    #[arg(long, value_name = "HEX")]
    pub(crate) key_id: String,
    /// The MIKEY RAND: 16 to 255 octets, hex.
    #[arg(long, value_name = "HEX")]
    pub(crate) rand: String,
    /// CS-ID of TS 33.180 Table E.1.3-1 (6: CSK SRTCP for MCPTT, 7: MuSiK SRTCP for MCPTT …).
    #[arg(long, value_name = "N")]
    pub(crate) cs_id: u8,
}

#[derive(Args, Debug)]
pub(crate) struct XmlArgs {
    /// The XPK (the CSK client-server, the SPK server-server): 16 or 32 octets, hex.
    #[arg(long, value_name = "HEX")]
    pub(crate) key: String,
    /// The XPK-ID: 4 octets, hex.
    #[arg(long, value_name = "HEX")]
    pub(crate) key_id: String,
    /// The MC Service user ID, e.g. sip:alice@example.org.
    #[arg(long, value_name = "URI")]
    pub(crate) user_id: String,
}

#[derive(Subcommand, Debug)]
pub(crate) enum SrtcpCmd {
    /// Protect an RTCP packet; prints the SRTCP packet as hex.
    Protect(ProtectArgs),
    /// Unprotect an SRTCP packet; prints the RTCP packet as hex, or fails with the reason.
    Unprotect(UnprotectArgs),
}

/// Where the SRTCP keys come from: a raw master key and salt, or the MC chain.
#[derive(Args, Debug, Clone)]
pub(crate) struct KeySource {
    /// SRTP master key (16 or 32 octets, hex). Use with --master-salt.
    #[arg(long, value_name = "HEX", requires = "master_salt", conflicts_with_all = ["key", "key_id", "rand", "cs_id"])]
    pub(crate) master_key: Option<String>,
    /// SRTP master salt (12 octets, hex).
    #[arg(long, value_name = "HEX", requires = "master_key")]
    pub(crate) master_salt: Option<String>,
    /// MC key (16 or 32 octets, hex): the master key and salt are derived (TS 33.180 §7.4).
    #[arg(long, value_name = "HEX", requires_all = ["key_id", "rand", "cs_id"])]
    pub(crate) key: Option<String>,
    /// Key ID (4 octets, hex); also the MKI unless --mki says otherwise.
    #[arg(long, value_name = "HEX")]
    pub(crate) key_id: Option<String>,
    /// MIKEY RAND (hex).
    #[arg(long, value_name = "HEX")]
    pub(crate) rand: Option<String>,
    /// CS-ID (TS 33.180 Table E.1.3-1).
    #[arg(long, value_name = "N")]
    pub(crate) cs_id: Option<u8>,
    /// MKI (0, 4 or 8 octets, hex; "" for none).
    #[arg(long, value_name = "HEX")]
    pub(crate) mki: Option<String>,
    /// Authenticated only (E=0).
    #[arg(long)]
    pub(crate) auth_only: bool,
    /// Check only the RTCP version, not that the length fields match the packet (the
    /// RFC 7714 §17 sample packets need this).
    #[arg(long)]
    pub(crate) lenient_length: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ProtectArgs {
    /// SRTCP index of the packet (0 ..= 2^31-1).
    #[arg(long, value_name = "N")]
    pub(crate) index: u32,
    #[command(flatten)]
    pub(crate) keys: KeySource,
    /// The RTCP packet, hex.
    #[arg(long = "in", value_name = "HEX")]
    pub(crate) input: String,
}

#[derive(Args, Debug)]
pub(crate) struct UnprotectArgs {
    #[command(flatten)]
    pub(crate) keys: KeySource,
    /// The SRTCP packet, hex.
    #[arg(long = "in", value_name = "HEX")]
    pub(crate) input: String,
}

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Simulated clients, each with its own CSK and a session through the relay.
    #[arg(long, default_value_t = 16)]
    pub(crate) clients: u32,
    /// Groups, each with its MuSiK (a fan-out to the group and its members) and MSCCK.
    #[arg(long, default_value_t = 2)]
    pub(crate) groups: u32,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) seconds: f64,
    /// Packets per second the generator sends (open loop).
    #[arg(long, default_value_t = 20_000.0)]
    pub(crate) rate: f64,
    /// Relay workers.
    #[arg(long, default_value_t = 1)]
    pub(crate) workers: usize,
    /// I/O backend of the relay and the generator: auto, uring or mmsg.
    #[arg(long, default_value = "auto")]
    pub(crate) io: String,
}

#[derive(Subcommand, Debug)]
pub(crate) enum McdataCmd {
    /// Protect a payload; prints the protected payload as hex (a fresh random IV).
    Protect(McdataProtectArgs),
    /// Unprotect a protected payload; prints the payload and the header fields.
    Unprotect(McdataUnprotectArgs),
}

/// The DPPK and its ID: the DPCK is derived from them (TS 33.180 F.1.5, FC 0x53).
#[derive(Args, Debug)]
pub(crate) struct DppkArgs {
    /// The DPPK (the PCK one-to-one, the GMK for a group): 16 or 32 octets, hex.
    #[arg(long, value_name = "HEX")]
    pub(crate) dppk: String,
    /// The DPPK-ID (the PCK-ID or GMK-ID): 4 octets, hex.
    #[arg(long, value_name = "HEX")]
    pub(crate) dppk_id: String,
}

#[derive(Args, Debug)]
pub(crate) struct McdataProtectArgs {
    #[command(flatten)]
    pub(crate) key: DppkArgs,
    /// Message type (TS 24.282 §15.2.2).
    #[arg(long, default_value_t = 0x43)]
    pub(crate) message_type: u8,
    /// Date and time (40 bits); default: now, in seconds since the Unix epoch.
    #[arg(long)]
    pub(crate) date_time: Option<u64>,
    /// Payload ID.
    #[arg(long, default_value_t = 0)]
    pub(crate) payload_id: u32,
    /// Payload sequence number.
    #[arg(long, default_value_t = 0)]
    pub(crate) sequence: u8,
    /// The payload TLV-E's IEI.
    #[arg(long, default_value_t = 0)]
    pub(crate) iei: u8,
    /// The payload, hex.
    #[arg(long = "in", value_name = "HEX")]
    pub(crate) input: String,
}

#[derive(Args, Debug)]
pub(crate) struct McdataUnprotectArgs {
    #[command(flatten)]
    pub(crate) key: DppkArgs,
    /// The protected payload, hex.
    #[arg(long = "in", value_name = "HEX")]
    pub(crate) input: String,
}

#[derive(Subcommand, Debug)]
pub(crate) enum XmlCmd {
    /// Encrypt the sensitive elements (xenc:EncryptedData, aes128-gcm or aes256-gcm under the
    /// FC 0x51 key); writes the document on stdout.
    Protect(XmlProtectArgs),
    /// Decrypt every xenc:EncryptedData; writes the document on stdout.
    Unprotect(XmlArgs),
    /// Write the signatures body (application/vnd.3gpp.mcptt-signed+xml) for the document,
    /// HMAC-SHA-256 under the FC 0x52 key.
    Sign(XmlSignArgs),
    /// Check the signatures body in --signature against the document; exits 0 when it
    /// verifies, 1 with the reason when not.
    Verify(XmlVerifyArgs),
}

#[derive(Args, Debug)]
pub(crate) struct XmlProtectArgs {
    #[command(flatten)]
    pub(crate) key: XmlArgs,
    /// Local names of the elements to encrypt, comma-separated (default: the TS 24.379 §4.8
    /// / TS 24.282 §4.6 list of the engine's `DEFAULT_ELEMENTS`).
    #[arg(long, value_name = "A,B,…")]
    pub(crate) elements: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct XmlSignArgs {
    #[command(flatten)]
    pub(crate) key: XmlArgs,
    /// The Content-ID of the XML body (with or without <>).
    #[arg(long, value_name = "ID")]
    pub(crate) content_id: String,
}

#[derive(Args, Debug)]
pub(crate) struct XmlVerifyArgs {
    #[command(flatten)]
    pub(crate) key: XmlArgs,
    /// The Content-ID of the XML body (with or without <>).
    #[arg(long, value_name = "ID")]
    pub(crate) content_id: String,
    /// A file holding the signatures body.
    #[arg(long, value_name = "FILE")]
    pub(crate) signature: std::path::PathBuf,
}
