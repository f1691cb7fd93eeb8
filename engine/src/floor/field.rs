//! The fields of floor-control messages (TS 24.380 §8.2.3): their IDs in both numberings,
//! their value layouts, and a borrowed, checked view of each value.

use core::fmt;

use super::Error;

/// Which field-ID numbering a packet uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// TS 24.380 Table 8.2.3.1-2 as it stands: IDs 0 (Floor Priority) to 20 (List of
    /// Locations), the numbering Wireshark decodes. The default.
    #[default]
    Current,
    /// The early Rel-13 numbering, 102 (Floor Priority) to 116 (Floor Indicator), for peers
    /// that still send it. Fields added after it (SSRC and on) keep their current IDs.
    Legacy,
}

impl Profile {
    /// The profile's name in configurations: `current` or `legacy`.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Current => "current",
            Profile::Legacy => "legacy",
        }
    }

    /// The profile named `name`.
    pub fn from_name(name: &str) -> Option<Profile> {
        match name {
            "current" => Some(Profile::Current),
            "legacy" => Some(Profile::Legacy),
            _ => None,
        }
    }
}

/// A floor-control field (TS 24.380 §8.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FieldId {
    /// Floor Priority: priority, spare (2 octets).
    FloorPriority = 0,
    /// Duration in seconds (2 octets).
    Duration = 1,
    /// Reject Cause: cause (2 octets), then a reject phrase.
    RejectCause = 2,
    /// Queue Info: queue position, queue priority level (1 octet each).
    QueueInfo = 3,
    /// Granted Party's Identity (text).
    GrantedPartyIdentity = 4,
    /// Permission to Request the Floor (2 octets).
    PermissionToRequest = 5,
    /// User ID (text).
    UserId = 6,
    /// Queue Size (2 octets).
    QueueSize = 7,
    /// Message Sequence-Number (2 octets).
    SequenceNumber = 8,
    /// Queued User ID (text).
    QueuedUserId = 9,
    /// Source (2 octets): participant, participating, controlling or non-controlling function.
    Source = 10,
    /// Track Info: queueing capability, participant type, floor participant references.
    TrackInfo = 11,
    /// Message Type (1 octet, 1 spare): the message an acknowledgement answers.
    MessageType = 12,
    /// Floor Indicator (16 bits).
    FloorIndicator = 13,
    /// SSRC (4 octets, 2 spare).
    Ssrc = 14,
    /// List of Granted Users: a count, then length-prefixed user IDs.
    ListOfGrantedUsers = 15,
    /// List of SSRCs: a count, 2 spare octets, then SSRCs.
    ListOfSsrcs = 16,
    /// Functional Alias (text).
    FunctionalAlias = 17,
    /// List of Functional Aliases: a count, then length-prefixed aliases.
    ListOfFunctionalAliases = 18,
    /// Location: a type, then a value of the type's size.
    Location = 19,
    /// List of Locations: a count, then locations.
    ListOfLocations = 20,
}

impl FieldId {
    /// Every field, in current-ID order.
    pub const ALL: [FieldId; 21] = [
        FieldId::FloorPriority,
        FieldId::Duration,
        FieldId::RejectCause,
        FieldId::QueueInfo,
        FieldId::GrantedPartyIdentity,
        FieldId::PermissionToRequest,
        FieldId::UserId,
        FieldId::QueueSize,
        FieldId::SequenceNumber,
        FieldId::QueuedUserId,
        FieldId::Source,
        FieldId::TrackInfo,
        FieldId::MessageType,
        FieldId::FloorIndicator,
        FieldId::Ssrc,
        FieldId::ListOfGrantedUsers,
        FieldId::ListOfSsrcs,
        FieldId::FunctionalAlias,
        FieldId::ListOfFunctionalAliases,
        FieldId::Location,
        FieldId::ListOfLocations,
    ];

    /// The ID on the wire under `profile`.
    pub const fn wire(self, profile: Profile) -> u8 {
        match profile {
            Profile::Current => self as u8,
            Profile::Legacy => match self {
                FieldId::FloorPriority => 102,
                FieldId::Duration => 103,
                FieldId::RejectCause => 104,
                FieldId::QueueInfo => 105,
                FieldId::GrantedPartyIdentity => 106,
                // 107 has no field in the legacy table.
                FieldId::PermissionToRequest => 108,
                FieldId::UserId => 109,
                FieldId::QueueSize => 110,
                FieldId::SequenceNumber => 111,
                FieldId::QueuedUserId => 112,
                FieldId::Source => 113,
                FieldId::TrackInfo => 114,
                FieldId::MessageType => 115,
                FieldId::FloorIndicator => 116,
                other => other as u8,
            },
        }
    }

    /// The field a wire ID names under `profile`; `None` for an ID it does not define.
    pub const fn from_wire(id: u8, profile: Profile) -> Option<FieldId> {
        let current = match profile {
            Profile::Current => id,
            Profile::Legacy => match id {
                102..=106 => id - 102,
                108..=116 => id - 103,
                14..=20 => id,
                _ => return None,
            },
        };
        if (current as usize) < FieldId::ALL.len() {
            Some(FieldId::ALL[current as usize])
        } else {
            None
        }
    }

    /// The field whose [`FieldId::name`] is `name`.
    pub fn from_name(name: &str) -> Option<FieldId> {
        FieldId::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The name TS 24.380 gives the field.
    pub const fn name(self) -> &'static str {
        match self {
            FieldId::FloorPriority => "Floor Priority",
            FieldId::Duration => "Duration",
            FieldId::RejectCause => "Reject Cause",
            FieldId::QueueInfo => "Queue Info",
            FieldId::GrantedPartyIdentity => "Granted Party's Identity",
            FieldId::PermissionToRequest => "Permission to Request the Floor",
            FieldId::UserId => "User ID",
            FieldId::QueueSize => "Queue Size",
            FieldId::SequenceNumber => "Message Sequence-Number",
            FieldId::QueuedUserId => "Queued User ID",
            FieldId::Source => "Source",
            FieldId::TrackInfo => "Track Info",
            FieldId::MessageType => "Message Type",
            FieldId::FloorIndicator => "Floor Indicator",
            FieldId::Ssrc => "SSRC",
            FieldId::ListOfGrantedUsers => "List of Granted Users",
            FieldId::ListOfSsrcs => "List of SSRCs",
            FieldId::FunctionalAlias => "Functional Alias",
            FieldId::ListOfFunctionalAliases => "List of Functional Aliases",
            FieldId::Location => "Location",
            FieldId::ListOfLocations => "List of Locations",
        }
    }

    /// Whether the field names a user or a function: what topology hiding rewrites.
    pub const fn is_identity(self) -> bool {
        matches!(
            self,
            FieldId::GrantedPartyIdentity
                | FieldId::UserId
                | FieldId::QueuedUserId
                | FieldId::ListOfGrantedUsers
                | FieldId::FunctionalAlias
                | FieldId::ListOfFunctionalAliases
        )
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Octets of a location value after its type octet, by type (TS 24.380 §8.2.3.20): not
/// provided, ECGI, tracking area, PLMN ID, MBMS service area, MBSFN area ID, geographic
/// coordinates.
pub const fn location_len(kind: u8) -> Option<usize> {
    match kind {
        0 => Some(0),
        1 => Some(7),
        2 => Some(5),
        3 => Some(3),
        4 => Some(2),
        5 => Some(1),
        6 => Some(6),
        _ => None,
    }
}

/// One location: its type and the value (of [`location_len`] octets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location<'a> {
    /// Location type.
    pub kind: u8,
    /// The value after the type octet.
    pub value: &'a [u8],
}

/// A field's value, checked, borrowing from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A 16-bit number: Duration, Permission to Request, Queue Size, Sequence-Number,
    /// Source, Floor Indicator.
    U16(u16),
    /// Floor Priority or Message Type: one octet (and a spare one).
    U8(u8),
    /// A text field: an identity (User ID …) or a functional alias.
    Text(&'a str),
    /// Reject Cause: the cause and the reject phrase.
    RejectCause {
        /// The cause value.
        cause: u16,
        /// The phrase (may be empty).
        phrase: &'a str,
    },
    /// Queue Info.
    QueueInfo {
        /// Queue position.
        position: u8,
        /// Queue priority level.
        priority: u8,
    },
    /// Track Info.
    TrackInfo {
        /// Queueing capability.
        queueing: u8,
        /// Participant type.
        participant_type: &'a str,
        /// Floor participant references, 4 octets each.
        references: &'a [u8],
    },
    /// SSRC.
    Ssrc(u32),
    /// A list of texts (granted users, functional aliases): the count, then each text
    /// behind its length octet.
    Texts {
        /// How many.
        count: u8,
        /// The encoded entries.
        entries: &'a [u8],
    },
    /// List of SSRCs: 4 octets each.
    Ssrcs(&'a [u8]),
    /// Location.
    Location(Location<'a>),
    /// List of Locations: the count, then each location (type and value).
    Locations {
        /// How many.
        count: u8,
        /// The encoded entries.
        entries: &'a [u8],
    },
}

impl<'a> Value<'a> {
    /// Checks `v`, the value of a field `id`, and views it.
    pub fn parse(id: FieldId, v: &'a [u8]) -> Result<Value<'a>, Error> {
        let bad = Error::BadField(id);
        let u16_of = |v: &[u8]| -> Result<u16, Error> {
            match v {
                [a, b] => Ok(u16::from_be_bytes([*a, *b])),
                _ => Err(bad),
            }
        };
        Ok(match id {
            FieldId::FloorPriority | FieldId::MessageType => match v {
                [x, _] => Value::U8(*x),
                _ => return Err(bad),
            },
            FieldId::Duration
            | FieldId::PermissionToRequest
            | FieldId::QueueSize
            | FieldId::SequenceNumber
            | FieldId::Source
            | FieldId::FloorIndicator => Value::U16(u16_of(v)?),
            FieldId::GrantedPartyIdentity
            | FieldId::UserId
            | FieldId::QueuedUserId
            | FieldId::FunctionalAlias => Value::Text(text(v, id)?),
            FieldId::RejectCause => {
                if v.len() < 2 {
                    return Err(bad);
                }
                Value::RejectCause {
                    cause: u16_of(&v[..2])?,
                    phrase: text(&v[2..], id)?,
                }
            }
            FieldId::QueueInfo => match v {
                [p, q] => Value::QueueInfo {
                    position: *p,
                    priority: *q,
                },
                _ => return Err(bad),
            },
            FieldId::TrackInfo => {
                let [queueing, l, rest @ ..] = v else {
                    return Err(bad);
                };
                let l = *l as usize;
                let padded = l.next_multiple_of(4);
                if rest.len() < padded || rest[l..padded].iter().any(|&b| b != 0) {
                    return Err(bad);
                }
                let references = &rest[padded..];
                if !references.len().is_multiple_of(4) {
                    return Err(bad);
                }
                Value::TrackInfo {
                    queueing: *queueing,
                    participant_type: text(&rest[..l], id)?,
                    references,
                }
            }
            FieldId::Ssrc => match v {
                [a, b, c, d, _, _] => Value::Ssrc(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => return Err(bad),
            },
            FieldId::ListOfGrantedUsers | FieldId::ListOfFunctionalAliases => {
                let [count, entries @ ..] = v else {
                    return Err(bad);
                };
                let mut rest = entries;
                for _ in 0..*count {
                    let [l, tail @ ..] = rest else {
                        return Err(bad);
                    };
                    let l = *l as usize;
                    if tail.len() < l {
                        return Err(bad);
                    }
                    text(&tail[..l], id)?;
                    rest = &tail[l..];
                }
                if !rest.is_empty() {
                    return Err(bad);
                }
                Value::Texts {
                    count: *count,
                    entries,
                }
            }
            FieldId::ListOfSsrcs => {
                let [count, _, _, ssrcs @ ..] = v else {
                    return Err(bad);
                };
                if ssrcs.len() != 4 * *count as usize {
                    return Err(bad);
                }
                Value::Ssrcs(ssrcs)
            }
            FieldId::Location => {
                let (loc, rest) = location(v, id)?;
                if !rest.is_empty() {
                    return Err(bad);
                }
                Value::Location(loc)
            }
            FieldId::ListOfLocations => {
                let [count, entries @ ..] = v else {
                    return Err(bad);
                };
                let mut rest = entries;
                for _ in 0..*count {
                    rest = location(rest, id)?.1;
                }
                if !rest.is_empty() {
                    return Err(bad);
                }
                Value::Locations {
                    count: *count,
                    entries,
                }
            }
        })
    }

    /// The entries of a [`Value::Texts`], in order (empty for other values).
    pub fn texts(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut rest = match self {
            Value::Texts { entries, .. } => *entries,
            _ => &[],
        };
        core::iter::from_fn(move || {
            let (&l, tail) = rest.split_first()?;
            let (t, r) = tail.split_at_checked(l as usize)?;
            rest = r;
            // Checked when the value was parsed.
            core::str::from_utf8(t).ok()
        })
    }

    /// The SSRCs of a [`Value::Ssrcs`] or the references of a [`Value::TrackInfo`].
    pub fn words(&self) -> impl Iterator<Item = u32> + 'a {
        let w: &'a [u8] = match self {
            Value::Ssrcs(w) => w,
            Value::TrackInfo { references, .. } => references,
            _ => &[],
        };
        w.chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The entries of a [`Value::Locations`], in order.
    pub fn locations(&self) -> impl Iterator<Item = Location<'a>> + 'a {
        let mut rest = match self {
            Value::Locations { entries, .. } => *entries,
            _ => &[],
        };
        core::iter::from_fn(move || {
            let (loc, r) = location(rest, FieldId::ListOfLocations).ok()?;
            rest = r;
            Some(loc)
        })
    }
}

fn text(v: &[u8], id: FieldId) -> Result<&str, Error> {
    core::str::from_utf8(v).map_err(|_| Error::BadText(id))
}

/// One location at the front of `v`, and what follows it.
fn location(v: &[u8], id: FieldId) -> Result<(Location<'_>, &[u8]), Error> {
    let [kind, rest @ ..] = v else {
        return Err(Error::BadField(id));
    };
    let n = location_len(*kind).ok_or(Error::BadField(id))?;
    if rest.len() < n {
        return Err(Error::BadField(id));
    }
    Ok((
        Location {
            kind: *kind,
            value: &rest[..n],
        },
        &rest[n..],
    ))
}
