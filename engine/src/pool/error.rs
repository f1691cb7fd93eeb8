//! Why a packet of a pool job failed: what the data path said, or what only the pool adds.

use core::fmt;

/// Why a packet of a job failed. The packet's buffer is as it was, except after
/// [`Error::Internal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The data path refused the packet ([`crate::Error`]).
    Datapath(crate::Error),
    /// The worker processing this packet failed (a bug caught at the pool's panic
    /// boundary); what became of the packet is unknown, so drop it.
    Internal,
    /// An XML document of the job was refused ([`crate::xml::Error`]).
    Xml(crate::xml::Error),
    /// An MCData payload of the job was refused ([`crate::mcdata::Error`]).
    Mcdata(crate::mcdata::Error),
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Error {
        Error::Datapath(e)
    }
}

impl From<crate::srtcp::Error> for Error {
    fn from(e: crate::srtcp::Error) -> Error {
        Error::Datapath(crate::Error::Srtcp(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Datapath(e) => write!(f, "{e}"),
            Error::Internal => f.write_str("internal error in the worker (panic caught)"),
            Error::Xml(e) => write!(f, "{e}"),
            Error::Mcdata(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for Error {}
