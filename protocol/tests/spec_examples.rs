//! Checks that `spec/` is consistent with itself and with the `protocol` crate.
//!
//! - every ```` ```json schema=<file>.json ```` example of `spec/roomcast-v1.md`
//!   validates against `spec/schemas/<file>`;
//! - every schema is a valid JSON Schema 2020-12 document with the project's `$id`,
//!   is referenced by `spec/asyncapi.yaml` and has at least one example in the spec;
//! - the schemas reject a fixed list of near-miss instances (so the examples
//!   passing means something);
//! - the requirement headings follow the ID conventions and every `Feature:` line
//!   names a feature of the "Conformance profiles" table;
//! - every frame of a ```` ```wire ```` block decodes with `protocol::engineio` and,
//!   for message packets, `protocol::socketio::Decoder`; the decoded list is
//!   snapshotted with insta. Every frame of a ```` ```wire invalid ```` block must
//!   fail to decode.
//!
//! These tests check the spec itself, so their names carry no requirement prefix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;

const SCHEMA_ID_BASE: &str = "https://roomcast.dev/schemas/";
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";
const GROUPS: [&str; 10] = [
    "WIRE", "AUTH", "ROOM", "ENV", "PUB", "FAN", "LIFE", "LIM", "OPS", "FAULT",
];

/// One fenced code block of the spec.
#[derive(Debug)]
struct Block {
    /// The info string after the opening fence, trimmed.
    info: String,
    /// 1-based line number of the first content line.
    line: usize,
    /// Content lines (without the fences).
    lines: Vec<String>,
}

impl Block {
    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn spec_text() -> String {
    read(&spec_dir().join("roomcast-v1.md"))
}

/// Splits a Markdown document into its fenced code blocks (``` fences only).
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (index, line) in markdown.lines().enumerate() {
        match current.take() {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    current = Some(Block {
                        info: info.trim().to_owned(),
                        line: index + 2,
                        lines: Vec::new(),
                    });
                }
            }
            Some(mut block) => {
                if line.trim_end() == "```" {
                    out.push(block);
                } else {
                    block.lines.push(line.to_owned());
                    current = Some(block);
                }
            }
        }
    }
    assert!(current.is_none(), "unterminated code fence in the spec");
    out
}

/// The schema file named by a block's info string `json schema=<file>`, if any.
fn schema_of(block: &Block) -> Option<String> {
    let mut words = block.info.split_whitespace();
    if words.next() != Some("json") {
        return None;
    }
    words.find_map(|w| w.strip_prefix("schema=").map(str::to_owned))
}

/// All schema files of `spec/schemas/`, by file name.
fn schemas() -> BTreeMap<String, Value> {
    let dir = spec_dir().join("schemas");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("spec/schemas exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name")
            .to_owned();
        let value: Value = serde_json::from_str(&read(&path))
            .unwrap_or_else(|e| panic!("{name} is not valid JSON: {e}"));
        out.insert(name, value);
    }
    assert!(!out.is_empty(), "no schemas in {}", dir.display());
    out
}

fn validator(name: &str, schema: &Value) -> jsonschema::Validator {
    jsonschema::draft202012::new(schema)
        .unwrap_or_else(|e| panic!("{name} does not compile as a 2020-12 schema: {e}"))
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn schemas_are_2020_12_documents_with_project_ids() {
    for (name, schema) in schemas() {
        assert!(
            jsonschema::draft202012::meta::is_valid(&schema),
            "{name} is not valid against the 2020-12 meta-schema"
        );
        assert_eq!(
            schema.get("$schema").and_then(Value::as_str),
            Some(DRAFT_2020_12),
            "{name}: $schema"
        );
        let id = format!("{SCHEMA_ID_BASE}{name}");
        assert_eq!(
            schema.get("$id").and_then(Value::as_str),
            Some(id.as_str()),
            "{name}: $id"
        );
        validator(&name, &schema);
    }
}

#[test]
fn every_schema_example_validates() {
    let schemas = schemas();
    let validators: BTreeMap<&str, jsonschema::Validator> = schemas
        .iter()
        .map(|(name, schema)| (name.as_str(), validator(name, schema)))
        .collect();
    let mut checked = 0;
    let mut failures = Vec::new();
    for block in blocks(&spec_text()) {
        let Some(schema) = schema_of(&block) else {
            continue;
        };
        let Some(validator) = validators.get(schema.as_str()) else {
            failures.push(format!("line {}: unknown schema {schema:?}", block.line));
            continue;
        };
        let instance: Value = match serde_json::from_str(&block.text()) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("line {}: example is not JSON: {e}", block.line));
                continue;
            }
        };
        for error in errors(validator, &instance) {
            failures.push(format!("line {} ({schema}): {error}", block.line));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "invalid examples:\n{}",
        failures.join("\n")
    );
    assert!(
        checked >= schemas.len(),
        "only {checked} schema examples found"
    );
}

#[test]
fn every_schema_has_an_example_in_the_spec() {
    let used: BTreeSet<String> = blocks(&spec_text()).iter().filter_map(schema_of).collect();
    let missing: Vec<String> = schemas()
        .into_keys()
        .filter(|name| !used.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "schemas without a `json schema=` example in the spec: {missing:?}"
    );
}

#[test]
fn asyncapi_references_every_schema() {
    let asyncapi = read(&spec_dir().join("asyncapi.yaml"));
    assert!(
        asyncapi.lines().any(|l| l.trim() == "asyncapi: 3.0.0"),
        "asyncapi.yaml must declare AsyncAPI 3.0.0"
    );
    let reference = Regex::new(r#"\$ref:\s*['"]?\./schemas/([A-Za-z0-9_.-]+\.json)['"]?"#)
        .expect("valid regex");
    let referenced: BTreeSet<String> = reference
        .captures_iter(&asyncapi)
        .map(|c| c[1].to_owned())
        .collect();
    let schemas = schemas();
    let missing: Vec<&String> = schemas
        .keys()
        .filter(|n| !referenced.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "schemas not referenced by asyncapi.yaml: {missing:?}"
    );
    let dangling: Vec<&String> = referenced
        .iter()
        .filter(|n| !schemas.contains_key(*n))
        .collect();
    assert!(
        dangling.is_empty(),
        "asyncapi.yaml references missing schemas: {dangling:?}"
    );
}

/// Near-miss instances each schema must reject: (schema, instance, why).
const MUST_REJECT: &[(&str, &str, &str)] = &[
    (
        "envelope.json",
        r#"{"eventId":"3F2B8C1E-9D4A-4B7E-8C2D-5A6F7E8D9C0B","type":"a:b","timestamp":"2026-11-22T04:35:21.123Z","payload":1}"#,
        "uppercase uuid",
    ),
    (
        "envelope.json",
        r#"{"eventId":"3f2b8c1e-9d4a-1b7e-8c2d-5a6f7e8d9c0b","type":"a:b","timestamp":"2026-11-22T04:35:21.123Z","payload":1}"#,
        "uuid v1",
    ),
    (
        "envelope.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-cc2d-5a6f7e8d9c0b","type":"a:b","timestamp":"2026-11-22T04:35:21.123Z","payload":1}"#,
        "wrong uuid variant",
    ),
    (
        "envelope.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"a:b","timestamp":"2026-11-22T04:35:21Z","payload":1}"#,
        "no milliseconds",
    ),
    (
        "envelope.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"a:b","timestamp":"2026-11-22T04:35:21.123+00:00","payload":1}"#,
        "offset instead of Z",
    ),
    (
        "envelope.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"Dashboard:x","timestamp":"2026-11-22T04:35:21.123Z","payload":1}"#,
        "uppercase domain",
    ),
    (
        "envelope.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"a__b:x","timestamp":"2026-11-22T04:35:21.123Z","payload":1}"#,
        "double underscore in domain",
    ),
    (
        "envelope.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"abcdefghij:abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd","timestamp":"2026-11-22T04:35:21.123Z","payload":1}"#,
        "type of 65 characters",
    ),
    (
        "envelope.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"a:b","timestamp":"2026-11-22T04:35:21.123Z"}"#,
        "missing payload",
    ),
    (
        "envelope.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"a:b","timestamp":"2026-11-22T04:35:21.123Z","payload":1,"room":"org:a"}"#,
        "fifth key",
    ),
    (
        "subscribe-ack.json",
        r#"{"ok":true,"room":"org:acme:user:u1"}"#,
        "user room is not subscribable",
    ),
    (
        "subscribe-ack.json",
        r#"{"ok":false,"error":{"code":"FORBIDDEN","message":"x"}}"#,
        "code not allowed in acks",
    ),
    (
        "subscribe-ack.json",
        r#"{"ok":true,"room":"org:acme:site:s1","error":{"code":"INVALID_ID","message":"x"}}"#,
        "ok with error",
    ),
    (
        "system-connected.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"system:connected","timestamp":"2026-11-22T04:35:21.123Z","payload":{"sid":"x","userId":"u1","organizationId":"acme","email":"a@b.c","rooms":["org:acme","org:acme:user:u1"]}}"#,
        "email echoed",
    ),
    (
        "system-connected.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"system:connected","timestamp":"2026-11-22T04:35:21.123Z","payload":{"sid":"x","userId":"u1","organizationId":"acme","rooms":["org:acme","org:acme:user:u1","org:acme:site:s1"]}}"#,
        "third room",
    ),
    (
        "system-connected.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"system:connected","timestamp":"2026-11-22T04:35:21.123Z","payload":{"sid":"x","userId":"u1","organizationId":"acme","role":null,"rooms":["org:acme","org:acme:user:u1"]}}"#,
        "role null instead of omitted",
    ),
    (
        "system-error.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"system:error","timestamp":"2026-11-22T04:35:21.123Z","payload":{"code":"INVALID_ID","message":"x","reason":"y"}}"#,
        "extra payload key",
    ),
    (
        "connect-error.json",
        r#"{"message":"Invalid or expired token","data":{"code":"AUTH_FAILED","reason":"missing_token"}}"#,
        "message does not match missing_token",
    ),
    (
        "connect-error.json",
        r#"{"message":"Authentication token required","data":{"code":"AUTH_FAILED","reason":"token_expired"}}"#,
        "message does not match token_expired",
    ),
    (
        "connect-error.json",
        r#"{"message":"Invalid or expired token","data":{"code":"AUTH_FAILED","reason":"bad_luck"}}"#,
        "unknown reason",
    ),
    (
        "connect-error.json",
        r#"{"message":"Invalid or expired token","data":{"code":"FORBIDDEN","reason":"invalid_token"}}"#,
        "code other than AUTH_FAILED",
    ),
    (
        "publish-request.json",
        r#"{"room":"org:acme:floor:1","type":"a:b"}"#,
        "room of no known form",
    ),
    (
        "publish-request.json",
        r#"{"room":"acme","type":"a:b"}"#,
        "room without org prefix",
    ),
    (
        "publish-request.json",
        r#"{"room":"org:acme","type":"system:connected"}"#,
        "reserved domain system",
    ),
    (
        "publish-request.json",
        r#"{"room":"org:acme","type":"auth:refresh"}"#,
        "reserved domain auth",
    ),
    (
        "publish-request.json",
        r#"{"type":"a:b","payload":1}"#,
        "missing room",
    ),
    (
        "publish-accepted.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","room":"org:acme","timestamp":"2026-11-22T04:35:21.123Z","type":"a:b"}"#,
        "fourth key",
    ),
    (
        "publish-error.json",
        r#"{"error":{"code":"TEAPOT","message":"x"}}"#,
        "unknown code",
    ),
    (
        "publish-error.json",
        r#"{"code":"INVALID_JSON","message":"x"}"#,
        "not wrapped in error",
    ),
    (
        "refresh-ack.json",
        r#"{"ok":false,"error":{"code":"AUTH_FAILED","message":"Invalid or expired token"}}"#,
        "missing reason",
    ),
    ("refresh-ack.json", r#"{"ok":true}"#, "missing exp"),
    (
        "ping-ack.json",
        r#"{"pong":true,"timestamp":1795327521000}"#,
        "numeric timestamp",
    ),
    (
        "system-pong.json",
        r#"{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"system:ping","timestamp":"2026-11-22T04:35:21.123Z","payload":{"pong":true,"timestamp":"2026-11-22T04:35:21.123Z"}}"#,
        "wrong type",
    ),
    (
        "eio-open.json",
        r#"{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#,
        "missing maxPayload",
    ),
    (
        "eio-open.json",
        r#"{"sid":"x","upgrades":["polling"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        "upgrade to polling",
    ),
    (
        "eio-error.json",
        r#"{"code":5,"message":"Transport unknown"}"#,
        "message of another code",
    ),
    (
        "eio-error.json",
        r#"{"code":6,"message":"x"}"#,
        "unknown code",
    ),
];

#[test]
fn schemas_reject_near_misses() {
    let schemas = schemas();
    let mut accepted = Vec::new();
    for (name, instance, why) in MUST_REJECT {
        let schema = schemas
            .get(*name)
            .unwrap_or_else(|| panic!("MUST_REJECT names unknown schema {name}"));
        let instance: Value = serde_json::from_str(instance)
            .unwrap_or_else(|e| panic!("MUST_REJECT case {why:?} is not JSON: {e}"));
        if validator(name, schema).is_valid(&instance) {
            accepted.push(format!("{name}: {why}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "schemas accepted invalid instances:\n{}",
        accepted.join("\n")
    );
    let covered: BTreeSet<&str> = MUST_REJECT.iter().map(|(n, _, _)| *n).collect();
    let uncovered: Vec<&String> = schemas
        .keys()
        .filter(|n| !covered.contains(n.as_str()))
        .collect();
    assert!(
        uncovered.is_empty(),
        "schemas without a near-miss case: {uncovered:?}"
    );
}

#[test]
fn requirement_headings_follow_the_conventions() {
    let spec = spec_text();
    let heading = Regex::new(r"^### ([A-Z]+)-([0-9]+) \((MUST|SHOULD|MAY)\) (.+)$").expect("regex");
    let feature_line = Regex::new(r"^Feature: ([a-z0-9-]+)$").expect("regex");
    let profile_row = Regex::new(r"^\| `([a-z0-9-]+)` \| (MUST|SHOULD|MAY) \|").expect("regex");
    let declared: BTreeSet<String> = spec
        .lines()
        .filter_map(|l| profile_row.captures(l).map(|c| c[1].to_owned()))
        .collect();
    for expected in [
        "polling",
        "bearer-header",
        "cookie-auth",
        "query-auth",
        "refresh",
        "rs256",
        "es256",
        "recovery",
        "redis",
    ] {
        assert!(
            declared.contains(expected),
            "profile table lacks feature {expected}"
        );
    }

    let mut problems = Vec::new();
    let mut next_number: BTreeMap<String, u32> = BTreeMap::new();
    let mut group_order = Vec::new();
    let mut used_features = BTreeSet::new();
    let lines: Vec<&str> = spec.lines().collect();
    let mut in_fence = false;
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let n = index + 1;
        if let Some(c) = heading.captures(line) {
            let group = c[1].to_owned();
            let number: u32 = c[2].parse().expect("digits");
            if !GROUPS.contains(&group.as_str()) {
                problems.push(format!("line {n}: unknown group {group}"));
            }
            if group_order.last() != Some(&group) {
                group_order.push(group.clone());
            }
            let expected = next_number.entry(group.clone()).or_insert(1);
            if number != *expected {
                problems.push(format!(
                    "line {n}: {group}-{number}, expected {group}-{expected}"
                ));
            }
            *expected = number + 1;
            // The first non-empty line under the heading may be a Feature line.
            if let Some(next) = lines[index + 1..].iter().find(|l| !l.trim().is_empty()) {
                if let Some(f) = feature_line.captures(next) {
                    used_features.insert(f[1].to_owned());
                    if !declared.contains(&f[1]) {
                        problems.push(format!(
                            "line {n}: feature {} not in the profile table",
                            &f[1]
                        ));
                    }
                }
            }
        } else if line.starts_with("### ") {
            problems.push(format!("line {n}: malformed requirement heading {line:?}"));
        } else if line.starts_with("Feature:") {
            let previous = lines[..index].iter().rev().find(|l| !l.trim().is_empty());
            if !previous.is_some_and(|p| heading.is_match(p)) || !feature_line.is_match(line) {
                problems.push(format!(
                    "line {n}: stray or malformed Feature line {line:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        group_order, GROUPS,
        "requirement groups out of order or missing"
    );
    assert_eq!(
        used_features, declared,
        "every profile feature gates at least one requirement"
    );
}

/// One frame of a `wire` block: where it is, who sends it, its text.
#[derive(Debug)]
struct Frame {
    /// The requirement ID of the section holding the block (or the section title).
    section: String,
    /// 1-based line number in the spec.
    line: usize,
    /// `"C"`, `"S"` or `""` when the line has no direction prefix.
    from: &'static str,
    text: String,
}

/// The frames of every block whose info string is exactly `info`, grouped by block.
fn wire_blocks(info: &str) -> Vec<Vec<Frame>> {
    let spec = spec_text();
    let heading = Regex::new(r"^### ([A-Z]+-[0-9]+) ").expect("regex");
    // The section of each line: the last requirement heading (or `##` title) above it.
    let mut section_at = Vec::new();
    let mut section = String::from("preamble");
    for line in spec.lines() {
        if let Some(c) = heading.captures(line) {
            section = c[1].to_owned();
        } else if let Some(title) = line.strip_prefix("## ") {
            section = title.to_owned();
        }
        section_at.push(section.clone());
    }
    blocks(&spec)
        .into_iter()
        .filter(|b| b.info == info)
        .map(|b| {
            b.lines
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| {
                    let line = b.line + i;
                    let (from, text) = if let Some(t) = l.strip_prefix("C: ") {
                        ("C", t)
                    } else if let Some(t) = l.strip_prefix("S: ") {
                        ("S", t)
                    } else {
                        ("", l.as_str())
                    };
                    Frame {
                        section: section_at[line - 1].clone(),
                        line,
                        from,
                        text: text.to_owned(),
                    }
                })
                .collect()
        })
        .collect()
}

/// JSON with object keys sorted, so the snapshot does not depend on
/// whether serde_json's `preserve_order` feature is on in this build.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        scalar => scalar.to_string(),
    }
}

fn canonical_args(args: &[Value]) -> String {
    canonical(&Value::Array(args.to_vec()))
}

fn render_socketio(packet: &protocol::socketio::Packet) -> String {
    use protocol::socketio::PacketData;
    let nsp = &packet.nsp;
    match &packet.data {
        PacketData::Connect(None) => format!("CONNECT nsp={nsp}"),
        PacketData::Connect(Some(v)) => format!("CONNECT nsp={nsp} data={}", canonical(v)),
        PacketData::Disconnect => format!("DISCONNECT nsp={nsp}"),
        PacketData::Event { args, ack } => {
            format!("EVENT nsp={nsp} ack={ack:?} args={}", canonical_args(args))
        }
        PacketData::Ack { args, ack } => {
            format!("ACK nsp={nsp} ack={ack} args={}", canonical_args(args))
        }
        PacketData::ConnectError(v) => format!("CONNECT_ERROR nsp={nsp} data={}", canonical(v)),
        PacketData::BinaryEvent {
            args,
            ack,
            attachments,
        } => format!(
            "BINARY_EVENT nsp={nsp} ack={ack:?} args={} attachments={}",
            canonical_args(args),
            attachments.len()
        ),
        PacketData::BinaryAck {
            args,
            ack,
            attachments,
        } => format!(
            "BINARY_ACK nsp={nsp} ack={ack} args={} attachments={}",
            canonical_args(args),
            attachments.len()
        ),
    }
}

/// Decodes one frame: the Engine.IO packet and, for a message, the Socket.IO packet.
fn decode_frame(
    text: &str,
) -> Result<
    (
        protocol::engineio::Packet,
        Option<protocol::socketio::Packet>,
    ),
    String,
> {
    use protocol::engineio::Packet as Eio;
    let eio = Eio::decode_text(text).map_err(|e| format!("Engine.IO: {e}"))?;
    let sio = match &eio {
        Eio::Message(inner) => {
            let mut decoder = protocol::socketio::Decoder::new();
            match decoder.decode_text(inner) {
                Ok(Some(p)) => Some(p),
                Ok(None) => return Err("Socket.IO: waits for binary attachments".to_owned()),
                Err(e) => return Err(format!("Socket.IO: {e}")),
            }
        }
        _ => None,
    };
    Ok((eio, sio))
}

fn render_engineio(packet: &protocol::engineio::Packet) -> String {
    use protocol::engineio::Packet as Eio;
    match packet {
        Eio::Open(open) => {
            let json = serde_json::to_value(open).expect("OpenPacket serializes");
            format!("open {}", canonical(&json))
        }
        Eio::Close => "close".to_owned(),
        Eio::Ping(data) => format!("ping {data:?}"),
        Eio::Pong(data) => format!("pong {data:?}"),
        Eio::Message(_) => "message".to_owned(),
        Eio::Binary(bytes) => format!("binary {} bytes", bytes.len()),
        Eio::Upgrade => "upgrade".to_owned(),
        Eio::Noop => "noop".to_owned(),
    }
}

#[test]
fn wire_examples_decode_and_match_snapshot() {
    let mut rendered = String::new();
    let mut failures = Vec::new();
    let mut count = 0;
    let mut index_in_section: BTreeMap<String, usize> = BTreeMap::new();
    for frame in wire_blocks("wire").into_iter().flatten() {
        if frame.from.is_empty() {
            failures.push(format!("line {}: frame without C:/S: prefix", frame.line));
        }
        let n = index_in_section.entry(frame.section.clone()).or_insert(0);
        *n += 1;
        rendered.push_str(&format!(
            "{} #{} {}: {}\n",
            frame.section, n, frame.from, frame.text
        ));
        match decode_frame(&frame.text) {
            Ok((eio, sio)) => {
                // Encoding the decoded packets and decoding again gives them back.
                match decode_frame(&eio.encode_text()) {
                    Ok((eio2, _)) if eio2 == eio => {}
                    other => failures.push(format!(
                        "line {}: Engine.IO packet does not survive encode/decode: {other:?}",
                        frame.line
                    )),
                }
                rendered.push_str(&format!("  eio {}\n", render_engineio(&eio)));
                if let Some(sio) = sio {
                    let encoded = sio.encode();
                    let mut decoder = protocol::socketio::Decoder::new();
                    if decoder.decode_text(&encoded.text) != Ok(Some(sio.clone())) {
                        failures.push(format!(
                            "line {}: Socket.IO packet does not survive encode/decode",
                            frame.line
                        ));
                    }
                    rendered.push_str(&format!("  sio {}\n", render_socketio(&sio)));
                }
            }
            Err(e) => failures.push(format!(
                "line {}: {:?} does not decode: {e}",
                frame.line, frame.text
            )),
        }
        count += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(count >= 40, "only {count} wire frames found");
    insta::assert_snapshot!("wire_examples", rendered);
}

#[test]
fn invalid_wire_examples_are_rejected() {
    let mut accepted = Vec::new();
    let mut count = 0;
    for frame in wire_blocks("wire invalid").into_iter().flatten() {
        if decode_frame(&frame.text).is_ok() {
            accepted.push(format!("line {}: {:?}", frame.line, frame.text));
        }
        count += 1;
    }
    assert!(
        accepted.is_empty(),
        "frames of `wire invalid` blocks that decode:\n{}",
        accepted.join("\n")
    );
    assert!(count >= 10, "only {count} invalid wire frames found");
}

/// Validates `instance` against the schema file `name`, pushing failures.
fn check_against(
    validators: &BTreeMap<String, jsonschema::Validator>,
    name: &str,
    instance: &Value,
    line: usize,
    failures: &mut Vec<String>,
) {
    match validators.get(name) {
        Some(v) => failures.extend(
            errors(v, instance)
                .into_iter()
                .map(|e| format!("line {line} ({name}): {e}")),
        ),
        None => failures.push(format!("line {line}: no schema {name}")),
    }
}

/// The JSON carried by the server frames of `wire` blocks conforms to the schemas:
/// open packets, CONNECT replies, CONNECT_ERRORs, envelopes (named after their
/// `type`) and the acks of subscribe, ping, refresh and unknown events.
#[test]
fn wire_examples_carry_schema_valid_json() {
    use protocol::engineio::Packet as Eio;
    use protocol::socketio::PacketData;
    let validators: BTreeMap<String, jsonschema::Validator> = schemas()
        .iter()
        .map(|(name, schema)| (name.clone(), validator(name, schema)))
        .collect();
    let mut failures = Vec::new();
    let mut checked = 0;
    for block in wire_blocks("wire") {
        // Ack id -> event name of the client events of this block.
        let mut asked: BTreeMap<(String, u64), String> = BTreeMap::new();
        for frame in block {
            let Ok((eio, sio)) = decode_frame(&frame.text) else {
                continue; // reported by wire_examples_decode_and_match_snapshot
            };
            let line = frame.line;
            if let (Eio::Open(open), "S") = (&eio, frame.from) {
                let json = serde_json::to_value(open).expect("OpenPacket serializes");
                check_against(&validators, "eio-open.json", &json, line, &mut failures);
                checked += 1;
            }
            let Some(sio) = sio else { continue };
            match (frame.from, &sio.data) {
                (
                    "C",
                    PacketData::Event {
                        args,
                        ack: Some(id),
                    },
                ) => {
                    let name = args.first().and_then(Value::as_str).unwrap_or_default();
                    asked.insert((sio.nsp.clone(), *id), name.to_owned());
                }
                ("S", PacketData::Connect(data)) => {
                    let ok = data.as_ref().and_then(Value::as_object).is_some_and(|o| {
                        o.len() == 1 && o.get("sid").and_then(Value::as_str).is_some()
                    });
                    if !ok {
                        failures.push(format!("line {line}: CONNECT reply is not {{\"sid\":…}}"));
                    }
                    checked += 1;
                }
                ("S", PacketData::ConnectError(data)) => {
                    check_against(&validators, "connect-error.json", data, line, &mut failures);
                    checked += 1;
                }
                ("S", PacketData::Event { args, ack }) => {
                    if ack.is_some() || args.len() != 2 {
                        failures.push(format!(
                            "line {line}: a server event has no ack id and exactly name + envelope"
                        ));
                        continue;
                    }
                    let envelope = &args[1];
                    check_against(&validators, "envelope.json", envelope, line, &mut failures);
                    let ty = envelope.get("type").and_then(Value::as_str);
                    if args[0].as_str() != ty {
                        failures.push(format!(
                            "line {line}: event name differs from envelope type"
                        ));
                    }
                    let specific = match ty {
                        Some("system:connected") => Some("system-connected.json"),
                        Some("system:error") => Some("system-error.json"),
                        Some("system:pong") => Some("system-pong.json"),
                        _ => None,
                    };
                    if let Some(name) = specific {
                        check_against(&validators, name, envelope, line, &mut failures);
                    }
                    checked += 1;
                }
                ("S", PacketData::Ack { args, ack }) => {
                    let Some(event) = asked.get(&(sio.nsp.clone(), *ack)) else {
                        failures.push(format!(
                            "line {line}: ack {ack} answers no client event of its block"
                        ));
                        continue;
                    };
                    let schema = match event.as_str() {
                        "system:ping" => "ping-ack.json",
                        "auth:refresh" => "refresh-ack.json",
                        _ => "subscribe-ack.json",
                    };
                    match args.as_slice() {
                        [answer] => check_against(&validators, schema, answer, line, &mut failures),
                        _ => failures
                            .push(format!("line {line}: an ack carries exactly one argument")),
                    }
                    checked += 1;
                }
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 20, "only {checked} server frames checked");
}

/// Every requirement ID mentioned in the spec text, the schemas or the AsyncAPI
/// document names a requirement of the spec, and every JSON example names its schema.
#[test]
fn id_references_resolve_and_json_examples_name_a_schema() {
    let spec = spec_text();
    let heading = Regex::new(r"(?m)^### ([A-Z]+-[0-9]+) \(").expect("regex");
    let defined: BTreeSet<String> = heading
        .captures_iter(&spec)
        .map(|c| c[1].to_owned())
        .collect();
    let mention =
        Regex::new(r"\b(?:WIRE|AUTH|ROOM|ENV|PUB|FAN|LIFE|LIM|OPS|FAULT)-[0-9]+\b").expect("regex");
    let mut sources = vec![("spec/roomcast-v1.md".to_owned(), spec.clone())];
    sources.push((
        "spec/asyncapi.yaml".to_owned(),
        read(&spec_dir().join("asyncapi.yaml")),
    ));
    for (name, schema) in schemas() {
        sources.push((format!("spec/schemas/{name}"), schema.to_string()));
    }
    let mut dangling = Vec::new();
    for (source, text) in &sources {
        for m in mention.find_iter(text) {
            if !defined.contains(m.as_str()) {
                dangling.push(format!("{source}: {}", m.as_str()));
            }
        }
    }
    assert!(
        dangling.is_empty(),
        "references to undefined requirements: {dangling:?}"
    );

    let unnamed: Vec<usize> = blocks(&spec)
        .iter()
        .filter(|b| b.info.split_whitespace().next() == Some("json") && schema_of(b).is_none())
        .map(|b| b.line)
        .collect();
    assert!(
        unnamed.is_empty(),
        "json blocks without schema= at lines {unnamed:?}"
    );
}
