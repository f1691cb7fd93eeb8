//! What a submitter hands the pool and gets back: jobs, their packets, completions.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::PacketBuf;

use super::Error;
use crate::Processed;
use crate::keys::{KeyId, SrtcpUse};
use crate::mcdata::{self, PayloadKey};
use crate::time::Timestamp;
use crate::xml::{Elements, Limits, XmlKey};

/// One packet of a job. The buffer moves into the pool and comes back in the completion,
/// without copies: leave [`crate::srtcp::MAX_SRTCP_TRAILER`] octets of spare capacity
/// (`BytesMut::with_capacity`) behind a packet to protect, or the buffer grows (one copy).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Packet<B = BytesMut> {
    /// The key to protect with (protect and fan-out); `None` for unprotect, where the MKI
    /// names the key.
    pub key_id: Option<KeyId>,
    /// Protect: the RTCP packet, exactly its length. Unprotect: the SRTCP packet. Fan-out:
    /// any buffer, ideally with room for the protected packet. After the job it holds the
    /// result (SRTCP or RTCP), or, on failure, what it held before (a fan-out target: empty).
    /// After [`Error::Internal`](super::Error::Internal) its contents are unspecified.
    pub buf: B,
    /// What happened to this packet; `None` until the job completed.
    pub result: Option<Result<Processed, Error>>,
}

impl<B: PacketBuf> Packet<B> {
    /// An RTCP packet to protect with `key_id`.
    pub fn protect(key_id: KeyId, buf: B) -> Packet<B> {
        Packet {
            key_id: Some(key_id),
            buf,
            result: None,
        }
    }

    /// A received SRTCP packet to unprotect.
    pub fn unprotect(buf: B) -> Packet<B> {
        Packet {
            key_id: None,
            buf,
            result: None,
        }
    }
}

/// Which operation a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobKind {
    /// SRTCP protect, each packet with its own key.
    Protect,
    /// SRTCP unprotect, each packet's key named by its MKI.
    Unprotect,
    /// One RTCP packet protected toward several recipients.
    FanOut,
    /// XML bodies: encrypt the configured elements of each document (`xml::protect`).
    XmlProtect,
    /// XML bodies: decrypt every `EncryptedData` of each document (`xml::unprotect`).
    XmlUnprotect,
    /// MCData payloads: build each protected payload (`mcdata::protect`, a fresh IV each).
    McdataProtect,
    /// MCData protected payloads: open each (`mcdata::unprotect`).
    McdataUnprotect,
}

/// The key (and settings) of an XML or MCData job, shared by the workers that run its parts.
#[derive(Clone, Debug)]
pub(super) enum App {
    Xml {
        key: Arc<XmlKey>,
        elements: Arc<Elements>,
        limits: Limits,
    },
    Mcdata {
        key: Arc<PayloadKey>,
        header: mcdata::Header,
    },
}

/// Work for the pool: a batch of packets and what to do with them.
#[derive(Debug)]
pub struct Job<B = BytesMut> {
    pub(super) kind: JobKind,
    pub(super) use_: Option<SrtcpUse>,
    pub(super) now: Timestamp,
    pub(super) plain: Bytes,
    pub(super) packets: Vec<Packet<B>>,
    pub(super) app: Option<Arc<App>>,
}

impl<B: PacketBuf> Job<B> {
    /// Protect each packet with its key, for the use the key's purpose implies.
    pub fn protect(packets: Vec<Packet<B>>, now: Timestamp) -> Job<B> {
        Job {
            kind: JobKind::Protect,
            use_: None,
            now,
            plain: Bytes::new(),
            packets,
            app: None,
        }
    }

    /// Unprotect each packet with the key its MKI names.
    pub fn unprotect(packets: Vec<Packet<B>>, now: Timestamp) -> Job<B> {
        Job {
            kind: JobKind::Unprotect,
            use_: None,
            now,
            plain: Bytes::new(),
            packets,
            app: None,
        }
    }

    /// Fan-out: protect the RTCP packet `plain` once per recipient, each with its own key
    /// (`Packet::key_id`), into the recipient's buffer — a CSK per client for unicast. For a
    /// multicast group give one recipient with the group's MuSiK (or MKFC) and
    /// [`SrtcpUse::Multicast`]: one packet protected once, to send to every member.
    pub fn fan_out(
        use_: SrtcpUse,
        plain: Bytes,
        recipients: Vec<Packet<B>>,
        now: Timestamp,
    ) -> Job<B> {
        Job {
            kind: JobKind::FanOut,
            use_: Some(use_),
            now,
            plain,
            packets: recipients,
            app: None,
        }
    }

    fn app(kind: JobKind, app: App, packets: Vec<Packet<B>>) -> Job<B> {
        Job {
            kind,
            use_: None,
            now: Timestamp(0),
            plain: Bytes::new(),
            packets,
            app: Some(Arc::new(app)),
        }
    }

    /// XML bodies, one per packet (`key_id` unused): each document's `elements` encrypted
    /// under `key` (TS 33.180 §9.3; [`crate::xml::protect`]). The buffer receives the protected
    /// document, which is longer: a buffer that cannot grow to it fails with
    /// `Error::Xml(TooLarge)` and keeps the document. Documents are spread over the workers;
    /// a job is one key's batch (one user's XPK).
    pub fn xml_protect(
        key: Arc<XmlKey>,
        elements: Arc<Elements>,
        limits: Limits,
        documents: Vec<Packet<B>>,
    ) -> Job<B> {
        let app = App::Xml {
            key,
            elements,
            limits,
        };
        Job::app(JobKind::XmlProtect, app, documents)
    }

    /// XML bodies, one per packet: every `EncryptedData` decrypted under `key`
    /// ([`crate::xml::unprotect`]); a document that fails keeps its octets.
    pub fn xml_unprotect(key: Arc<XmlKey>, limits: Limits, documents: Vec<Packet<B>>) -> Job<B> {
        let app = App::Xml {
            key,
            elements: Arc::new(Elements::new([])),
            limits,
        };
        Job::app(JobKind::XmlUnprotect, app, documents)
    }

    /// MCData payloads, one per packet: each protected under `key` with `header`'s fields
    /// and a fresh random IV ([`crate::mcdata::protect`]); the buffer receives the protected
    /// payload.
    pub fn mcdata_protect(
        key: Arc<PayloadKey>,
        header: mcdata::Header,
        payloads: Vec<Packet<B>>,
    ) -> Job<B> {
        Job::app(
            JobKind::McdataProtect,
            App::Mcdata { key, header },
            payloads,
        )
    }

    /// MCData protected payloads, one per packet, opened under `key`
    /// ([`crate::mcdata::unprotect`]); the buffer receives the payload.
    pub fn mcdata_unprotect(key: Arc<PayloadKey>, messages: Vec<Packet<B>>) -> Job<B> {
        let header = mcdata::Header {
            message_type: 0,
            date_time: 0,
            payload_id: 0,
            sequence: 0,
            iv: [0; mcdata::IV_LEN],
            iei: 0,
        };
        Job::app(
            JobKind::McdataUnprotect,
            App::Mcdata { key, header },
            messages,
        )
    }

    /// Refuse keys whose purpose does not fit `use_` (protect and unprotect; a fan-out
    /// names its use when it is made).
    pub fn for_use(mut self, use_: SrtcpUse) -> Job<B> {
        self.use_ = Some(use_);
        self
    }

    /// Which operation this job runs.
    pub fn kind(&self) -> JobKind {
        self.kind
    }

    /// The packets (recipients for a fan-out).
    pub fn packets(&self) -> &[Packet<B>] {
        &self.packets
    }

    /// Gives the packets back (after a refused submit, say).
    pub fn into_packets(self) -> Vec<Packet<B>> {
        self.packets
    }
}

impl Job<BytesMut> {
    /// As [`Job::fan_out`], with a fresh buffer per key.
    pub fn fan_out_to(use_: SrtcpUse, plain: Bytes, keys: &[KeyId], now: Timestamp) -> Job {
        let cap = plain.len() + crate::srtcp::MAX_SRTCP_TRAILER;
        let recipients = keys
            .iter()
            .map(|&k| Packet::protect(k, BytesMut::with_capacity(cap)))
            .collect();
        Job::fan_out(use_, plain, recipients, now)
    }
}

/// Names a submitted job; its completion carries the same ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub(super) u64);

impl Ticket {
    /// The ticket's number: a submitter numbers its jobs 0, 1, 2 …
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A finished job: the packets in the order they were submitted, each with its result.
#[derive(Debug)]
pub struct Completion<B = BytesMut> {
    /// The job's ticket.
    pub ticket: Ticket,
    /// The job's operation.
    pub kind: JobKind,
    /// The packets, in submission order.
    pub packets: Vec<Packet<B>>,
    /// `false` when a worker panicked on part of the job: those packets carry
    /// [`Error::Internal`](super::Error::Internal).
    pub clean: bool,
}

impl<B> Completion<B> {
    /// How many packets succeeded.
    pub fn succeeded(&self) -> usize {
        self.packets
            .iter()
            .filter(|p| matches!(p.result, Some(Ok(_))))
            .count()
    }
}

/// Why the pool refused a job. The job comes back untouched in [`Rejected::job`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// A worker's ring, or this submitter's completion queue, is full: poll completions or
    /// try again later (back-pressure).
    Busy,
    /// The pool is shutting down and accepts no new work.
    Closed,
    /// The job has more than [`super::MAX_JOB_PACKETS`] packets: split it.
    TooLarge,
}

/// A refused submit, with the job given back.
#[derive(Debug)]
pub struct Rejected<B = BytesMut> {
    /// Why.
    pub reason: RejectReason,
    /// The job, as it was submitted.
    pub job: Job<B>,
}

impl<B> core::fmt::Display for Rejected<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.reason {
            RejectReason::Busy => f.write_str("pool busy: queues full"),
            RejectReason::Closed => f.write_str("pool closed"),
            RejectReason::TooLarge => f.write_str("job too large"),
        }
    }
}

impl<B: core::fmt::Debug> core::error::Error for Rejected<B> {}
