//! `mcx floor parse` and `mcx floor build`: TS 24.380 floor-control packets (and TS 24.581
//! MCVideo transmission control, names `MCV0`–`MCV2`) to and from one JSON object
//! `{"message", "subtype", "ssrc", "fields": [{"id", "name", "value"}]}`.

use serde_json::{Map, Value as Json, json};

use mcx_engine::floor::video::{self, Video, VideoApp, VideoBuilder, VideoField, VideoMessage};
use mcx_engine::floor::{
    ACK_REQUIRED, App, Builder, FieldId, Location, Message, MessageType, Options, Profile, Unknown,
    Value, parse,
};

use crate::cli::FloorCmd;
use crate::output::parse_hex;

pub(crate) fn run(cmd: FloorCmd, json: bool) -> Result<(), String> {
    match cmd {
        FloorCmd::Parse { hex, profile } => {
            let pkt = parse_hex("in", &hex)?;
            let profile = profile_of(&profile)?;
            if pkt.len() >= 12 && VideoApp::from_name(&pkt[8..12]).is_some() {
                let v = video::parse(&pkt, Unknown::Reject)
                    .map_err(|e| format!("not an MCVideo transmission control packet: {e}"))?;
                let obj = video_json(&v, &pkt[8..12]);
                if json {
                    println!("{obj}");
                } else {
                    println!(
                        "{} {}{}, SSRC {:#010x}",
                        String::from_utf8_lossy(&pkt[8..12]),
                        v.message.name(),
                        if v.ack_required {
                            " (ack required)"
                        } else {
                            ""
                        },
                        v.ssrc
                    );
                    for f in v.fields() {
                        let (name, value) = match (f.id, f.value) {
                            (Some(id), Some(x)) => (id.name(), value_json(x).to_string()),
                            _ => ("unknown", hex::encode(f.raw)),
                        };
                        println!("  {name} ({}): {value}", f.wire_id);
                    }
                }
                return Ok(());
            }
            let options = Options {
                profile,
                ..Options::default()
            };
            let m = parse(&pkt, options).map_err(|e| format!("not a floor-control packet: {e}"))?;
            let obj = to_json(&m, profile);
            if json {
                println!("{obj}");
            } else {
                print_human(&m);
            }
            Ok(())
        }
        FloorCmd::Build { json_in } => {
            let text = std::fs::read_to_string(&json_in)
                .map_err(|e| format!("{}: {e}", json_in.display()))?;
            let v: Json =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json_in.display()))?;
            let pkt = from_json(&v)?;
            println!("{}", hex::encode(pkt));
            Ok(())
        }
    }
}

fn profile_of(name: &str) -> Result<Profile, String> {
    Profile::from_name(name).ok_or_else(|| format!("profile {name:?}: expected current or legacy"))
}

fn print_human(m: &Message<'_>) {
    let app = String::from_utf8_lossy(m.app.name()).into_owned();
    let ack = if m.ack_required() {
        " (ack required)"
    } else {
        ""
    };
    println!(
        "{app} {} subtype {}{ack}, SSRC {:#010x}",
        m.name(),
        m.subtype,
        m.ssrc
    );
    for f in m.fields() {
        let (name, value) = match (f.id, f.value) {
            (Some(id), Some(v)) => (id.name(), value_json(v).to_string()),
            _ => ("unknown", hex::encode(f.raw)),
        };
        println!("  {name} ({}): {value}", f.wire_id);
    }
}

/// One field's JSON object: `{"id", "name", "value"}`, an unknown one's value in hex.
fn field_json(wire_id: u8, name: Option<&str>, value: Option<Value<'_>>, raw: &[u8]) -> Json {
    match (name, value) {
        (Some(n), Some(v)) => json!({"id": wire_id, "name": n, "value": value_json(v)}),
        _ => json!({"id": wire_id, "name": null, "value": hex::encode(raw)}),
    }
}

/// The JSON object of a parsed message.
pub(crate) fn to_json(m: &Message<'_>, profile: Profile) -> Json {
    let fields: Vec<Json> = m
        .fields()
        .map(|f| field_json(f.wire_id, f.id.map(|i| i.name()), f.value, f.raw))
        .collect();
    json!({
        "app": String::from_utf8_lossy(m.app.name()),
        "message": m.message_type().map(MessageType::name),
        "subtype": m.subtype,
        "ack_required": m.ack_required(),
        "ssrc": m.ssrc,
        "profile": profile.name(),
        "fields": fields,
    })
}

fn value_json(v: Value<'_>) -> Json {
    match v {
        Value::U8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::Text(t) => json!(t),
        Value::RejectCause { cause, phrase } => json!({"cause": cause, "phrase": phrase}),
        Value::QueueInfo { position, priority } => {
            json!({"position": position, "priority": priority})
        }
        Value::TrackInfo {
            queueing,
            participant_type,
            ..
        } => json!({
            "queueing_capability": queueing,
            "participant_type": participant_type,
            "references": v.words().collect::<Vec<_>>(),
        }),
        Value::Ssrc(s) => json!(s),
        Value::Texts { .. } => json!(v.texts().collect::<Vec<_>>()),
        Value::Ssrcs(_) => json!(v.words().collect::<Vec<_>>()),
        Value::Location(l) => location_json(l),
        Value::Locations { .. } => Json::Array(v.locations().map(location_json).collect()),
    }
}

fn location_json(l: Location<'_>) -> Json {
    json!({"type": l.kind, "value": hex::encode(l.value)})
}

/// The JSON object of a parsed MCVideo message.
fn video_json(v: &Video<'_>, name: &[u8]) -> Json {
    let fields: Vec<Json> = v
        .fields()
        .map(|f| field_json(f.wire_id, f.id.map(|i| i.name()), f.value, f.raw))
        .collect();
    json!({
        "app": String::from_utf8_lossy(name),
        "message": v.message.name(),
        "subtype": v.message.value() | if v.ack_required { ACK_REQUIRED } else { 0 },
        "ack_required": v.ack_required,
        "ssrc": v.ssrc,
        "fields": fields,
    })
}

/// Builds an MCVideo packet from its JSON object: `message` by name, fields by `id` or
/// `name`, each value as for the floor-control field of the same layout.
fn video_from_json(o: &Map<String, Json>, app: VideoApp) -> Result<Vec<u8>, String> {
    let name = o
        .get("message")
        .and_then(Json::as_str)
        .ok_or("give \"message\" for an MCVideo packet")?;
    let m = VideoMessage::from_name(name)
        .filter(|m| m.app() == app)
        .ok_or(format!(
            "message {name:?}: not an MCVideo message of this app"
        ))?;
    let ack = o
        .get("ack_required")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let mut b = VideoBuilder::new(m, ack, num(o, "ssrc", u32::MAX.into())? as u32);
    let fields = match o.get("fields") {
        None => &Vec::new(),
        Some(f) => f.as_array().ok_or("fields: expected an array")?,
    };
    for (i, f) in fields.iter().enumerate() {
        b = video_field(b, f).map_err(|e| format!("fields[{i}]: {e}"))?;
    }
    b.finish().map_err(|e| e.to_string())
}

fn video_field(b: VideoBuilder, f: &Json) -> Result<VideoBuilder, String> {
    let o = f.as_object().ok_or("expected an object")?;
    let id = match (o.get("id"), o.get("name").and_then(Json::as_str)) {
        (Some(id), _) => {
            let id = id
                .as_u64()
                .filter(|x| *x <= 255)
                .ok_or("id: expected 0..255")? as u8;
            VideoField::from_wire(id).ok_or(format!("id {id}: no MCVideo field"))?
        }
        (None, Some(name)) => {
            VideoField::from_name(name).ok_or(format!("name {name:?}: unknown field"))?
        }
        (None, None) => return Err("give \"id\" or \"name\"".into()),
    };
    let v = o.get("value").ok_or("value missing")?;
    let Some(layout) = id.layout() else {
        let n = text(v, id.name())?;
        let app = VideoApp::from_name(n.as_bytes())
            .ok_or(format!("{id}: expected MCV0, MCV1 or MCV2"))?;
        return Ok(b.message_name(app));
    };
    // The value octets as the floor-control field of the same layout has them.
    let one = field(
        Builder::floor(MessageType::FloorRequest, false, 0),
        &json!({"name": layout.name(), "value": v}),
        Profile::Current,
    )
    .map_err(|e| e.replace(layout.name(), id.name()))?
    .finish()
    .map_err(|e| format!("{id}: {e}"))?;
    let m = parse(&one, Options::default()).map_err(|e| format!("{id}: {e}"))?;
    let raw = m
        .fields()
        .next()
        .map(|f| f.raw.to_vec())
        .unwrap_or_default();
    Ok(b.value(id, &raw))
}

/// Builds the packet a JSON object (as [`to_json`] writes it) describes. `message` (with
/// `ack_required`) or `subtype` gives the type; `app` defaults to MCPT, `profile` to current;
/// each field gives `id` or `name`.
pub(crate) fn from_json(v: &Json) -> Result<Vec<u8>, String> {
    let o = v.as_object().ok_or("expected a JSON object")?;
    if let Some(app) = o
        .get("app")
        .and_then(Json::as_str)
        .and_then(|a| VideoApp::from_name(a.as_bytes()))
    {
        return video_from_json(o, app);
    }
    let app = match o.get("app").and_then(Json::as_str) {
        None => App::FloorControl,
        Some(a) => App::from_name(a.as_bytes()).ok_or(format!(
            "app {a:?}: expected MCPT, MCPC, MCMC or MCV0..MCV2"
        ))?,
    };
    let profile = match o.get("profile").and_then(Json::as_str) {
        None => Profile::Current,
        Some(p) => profile_of(p)?,
    };
    let subtype = match (o.get("subtype"), o.get("message").and_then(Json::as_str)) {
        (Some(s), _) => {
            let s = s
                .as_u64()
                .filter(|s| *s <= 0x1f)
                .ok_or("subtype: expected 0..31")?;
            s as u8
        }
        (None, Some(name)) => {
            let t = MessageType::from_name(name).ok_or(format!("message {name:?}: unknown"))?;
            let ack = o
                .get("ack_required")
                .and_then(Json::as_bool)
                .unwrap_or(false);
            t as u8 | if ack { ACK_REQUIRED } else { 0 }
        }
        (None, None) => return Err("give \"message\" or \"subtype\"".into()),
    };
    let ssrc = num(o, "ssrc", u32::MAX.into())? as u32;
    let mut b = Builder::new(app, subtype, ssrc, profile);
    let fields = match o.get("fields") {
        None => &Vec::new(),
        Some(f) => f.as_array().ok_or("fields: expected an array")?,
    };
    for (i, f) in fields.iter().enumerate() {
        b = field(b, f, profile).map_err(|e| format!("fields[{i}]: {e}"))?;
    }
    b.finish().map_err(|e| e.to_string())
}

fn num(o: &Map<String, Json>, k: &str, max: u64) -> Result<u64, String> {
    o.get(k)
        .and_then(Json::as_u64)
        .filter(|x| *x <= max)
        .ok_or(format!("{k}: expected a number 0..={max}"))
}

fn text<'a>(v: &'a Json, k: &str) -> Result<&'a str, String> {
    v.as_str().ok_or(format!("{k}: expected a string"))
}

fn field(b: Builder, f: &Json, profile: Profile) -> Result<Builder, String> {
    let o = f.as_object().ok_or("expected an object")?;
    let id = match (o.get("id"), o.get("name").and_then(Json::as_str)) {
        (Some(id), _) => {
            let id = id
                .as_u64()
                .filter(|x| *x <= 255)
                .ok_or("id: expected 0..255")? as u8;
            FieldId::from_wire(id, profile).ok_or(format!(
                "id {id}: no field in the {} profile",
                profile.name()
            ))?
        }
        (None, Some(name)) => {
            FieldId::from_name(name).ok_or(format!("name {name:?}: unknown field"))?
        }
        (None, None) => return Err("give \"id\" or \"name\"".into()),
    };
    let v = o.get("value").ok_or("value missing")?;
    let small = |max: u64| {
        v.as_u64()
            .filter(|x| *x <= max)
            .ok_or(format!("{id}: expected a number 0..={max}"))
    };
    Ok(match id {
        FieldId::FloorPriority | FieldId::MessageType => b.u8(id, small(255)? as u8),
        FieldId::Duration
        | FieldId::PermissionToRequest
        | FieldId::QueueSize
        | FieldId::SequenceNumber
        | FieldId::Source
        | FieldId::FloorIndicator => b.u16(id, small(0xffff)? as u16),
        FieldId::GrantedPartyIdentity
        | FieldId::UserId
        | FieldId::QueuedUserId
        | FieldId::FunctionalAlias => b.text(id, text(v, id.name())?),
        FieldId::RejectCause => {
            let o = v
                .as_object()
                .ok_or("Reject Cause: expected {cause, phrase}")?;
            let phrase = o.get("phrase").map_or(Ok(""), |p| text(p, "phrase"))?;
            b.reject_cause(num(o, "cause", 0xffff)? as u16, phrase)
        }
        FieldId::QueueInfo => {
            let o = v
                .as_object()
                .ok_or("Queue Info: expected {position, priority}")?;
            b.queue_info(
                num(o, "position", 255)? as u8,
                num(o, "priority", 255)? as u8,
            )
        }
        FieldId::TrackInfo => {
            let o = v.as_object().ok_or(
                "Track Info: expected {queueing_capability, participant_type, references}",
            )?;
            let t = text(
                o.get("participant_type")
                    .ok_or("participant_type missing")?,
                "participant_type",
            )?;
            let refs = words(o.get("references").unwrap_or(&json!([])), "references")?;
            b.track_info(num(o, "queueing_capability", 255)? as u8, t, &refs)
        }
        FieldId::Ssrc => b.ssrc(small(u32::MAX.into())? as u32),
        FieldId::ListOfGrantedUsers | FieldId::ListOfFunctionalAliases => {
            let a = v
                .as_array()
                .ok_or(format!("{id}: expected an array of strings"))?;
            let t: Vec<&str> = a
                .iter()
                .map(|e| text(e, id.name()))
                .collect::<Result<_, _>>()?;
            b.texts(id, &t)
        }
        FieldId::ListOfSsrcs => b.ssrcs(&words(v, id.name())?),
        FieldId::Location => {
            let (kind, value) = location(v)?;
            b.location(Location {
                kind,
                value: &value,
            })
        }
        FieldId::ListOfLocations => {
            let a = v.as_array().ok_or("List of Locations: expected an array")?;
            let locs: Vec<(u8, Vec<u8>)> = a.iter().map(location).collect::<Result<_, _>>()?;
            let view: Vec<Location<'_>> = locs
                .iter()
                .map(|(kind, value)| Location { kind: *kind, value })
                .collect();
            b.locations(&view)
        }
    })
}

fn words(v: &Json, k: &str) -> Result<Vec<u32>, String> {
    v.as_array()
        .ok_or(format!("{k}: expected an array of numbers"))?
        .iter()
        .map(|x| {
            x.as_u64()
                .filter(|x| *x <= u32::MAX.into())
                .map(|x| x as u32)
                .ok_or(format!("{k}: expected 32-bit numbers"))
        })
        .collect()
}

fn location(v: &Json) -> Result<(u8, Vec<u8>), String> {
    let o = v.as_object().ok_or("location: expected {type, value}")?;
    let kind = num(o, "type", 255)? as u8;
    let value = match o.get("value") {
        None => Vec::new(),
        Some(h) => hex::decode(text(h, "value")?).map_err(|e| format!("location value: {e}"))?,
    };
    Ok((kind, value))
}
