//! Every answer the end-to-end tests receive is checked against the OpenAPI document the
//! server publishes: its status must be one the operation declares, its media type one
//! the status declares, and a JSON body must validate against the declared schema (JSON
//! Schema 2020-12, as OpenAPI 3.1 defines it). A mismatch fails the test and names the
//! operation, so the document cannot drift from the server.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{json, Value};

struct Operation {
    id: String,
    segments: Vec<String>,
    method: String,
    responses: Value,
}

struct Document {
    components: Value,
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static DOCUMENT: LazyLock<Document> = LazyLock::new(|| {
    let doc = dayops_http::openapi::document();
    let mut operations = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            operations.push(Operation {
                id: id.to_string(),
                segments: template.split('/').map(str::to_string).collect(),
                method: method.to_ascii_uppercase(),
                responses: op["responses"].clone(),
            });
        }
    }
    Document {
        components: doc["components"].clone(),
        operations,
        validators: Mutex::new(HashMap::new()),
    }
});

impl Document {
    /// The operation `method path` calls; a literal segment beats a template parameter
    /// (`/v1/claims/draft` is not `/v1/claims/{id}`).
    fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method == method && op.segments.len() == segments.len())
            .filter_map(|op| {
                let mut literal = 0;
                for (t, s) in op.segments.iter().zip(&segments) {
                    if t == s {
                        literal += 1;
                    } else if !t.starts_with('{') || s.is_empty() {
                        return None;
                    }
                }
                Some((literal, op))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, op)| op)
    }

    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().expect("validator cache");
        if let Some(validator) = cache.get(key) {
            return validator.clone();
        }
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.components,
        });
        for (name, member) in schema.as_object().expect("schema object") {
            root[name] = member.clone();
        }
        let validator = Arc::new(
            jsonschema::options()
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("{key}: schema does not compile: {e}")),
        );
        cache.insert(key.to_string(), validator.clone());
        validator
    }
}

/// The response headers a client acts on: each one the server sends must be declared.
const DOCUMENTED_HEADERS: &[&str] = &[
    "ETag",
    "Location",
    "Audit-Event-Id",
    "Retry-After",
    "WWW-Authenticate",
    "Content-Disposition",
    "X-Request-Id",
];

/// Where the document's examples are kept: recorded from the suite's own traffic
/// (`DAYOPS_WRITE_EXAMPLES=1 cargo test -p dayops-server --test api`), merged into the
/// document by `dayops_http::openapi`.
const EXAMPLES_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/examples.json");

static RECORDER: Mutex<()> = Mutex::new(());

/// Shortens an example: at most two items in any list, and CSV to its header and two rows.
fn shortened(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().take(2).map(shortened).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(name, member)| (name, shortened(member)))
                .collect(),
        ),
        other => other,
    }
}

/// With `DAYOPS_WRITE_EXAMPLES` set, keeps the first successful request and answer of
/// each operation as its examples (JSON bodies, and CSV answers) in `openapi/examples.json`.
pub fn record_examples(
    method: &str,
    url_path: &str,
    status: u16,
    headers: &[(String, String)],
    bytes: &[u8],
    sent: Option<(&str, &[u8])>,
) {
    if std::env::var_os("DAYOPS_WRITE_EXAMPLES").is_none() || !(200..300).contains(&status) {
        return;
    }
    let path = url_path.split('?').next().unwrap_or(url_path);
    let doc = &*DOCUMENT;
    let media = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map_or("", |(_, value)| base_type(value));
    let op = match (media, doc.operation(method, &format!("{path}/export.csv"))) {
        ("text/csv", Some(export)) => export,
        _ => match doc.operation(method, path) {
            Some(op) => op,
            None => return,
        },
    };
    let answer = match media {
        "application/json" => serde_json::from_slice(bytes).ok().map(shortened),
        "text/csv" => {
            let text = String::from_utf8_lossy(bytes);
            let lines: Vec<&str> = text.lines().take(3).collect();
            Some(Value::String(lines.join("\n") + "\n"))
        }
        _ => None,
    };
    let request = sent
        .filter(|(media, _)| base_type(media) == "application/json")
        .and_then(|(_, body)| serde_json::from_slice::<Value>(body).ok())
        .map(shortened);
    let _guard = RECORDER.lock().expect("recorder");
    let mut all: Value = std::fs::read_to_string(EXAMPLES_FILE)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| json!({}));
    let entry = &mut all[&op.id];
    let mut changed = false;
    if let (Some(answer), true) = (answer, entry.get("response").is_none()) {
        entry["response"] = answer;
        changed = true;
    }
    if let (Some(request), true) = (request, entry.get("request").is_none()) {
        entry["request"] = request;
        changed = true;
    }
    if changed {
        let text = serde_json::to_string_pretty(&all).expect("examples") + "\n";
        std::fs::write(EXAMPLES_FILE, text).expect("write examples");
    }
}

fn base_type(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or("").trim()
}

/// Panics, naming the operation, unless the answer is one the document declares.
pub fn check(
    method: &str,
    url_path: &str,
    status: u16,
    headers: &[(String, String)],
    bytes: &[u8],
) {
    let content_type = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map_or("", |(_, value)| value.as_str());
    let path = url_path.split('?').next().unwrap_or(url_path);
    let doc = &*DOCUMENT;
    let Some(mut op) = doc.operation(method, path) else {
        return; // not an operation of the API (an unknown route, a wrong method, /docs)
    };
    // A list asked with `Accept: text/csv` answers as its CSV operation does.
    if status == 200 && content_type.starts_with("text/csv") {
        if let Some(export) = doc.operation(method, &format!("{path}/export.csv")) {
            op = export;
        }
    }
    let context = format!("{} ({method} {url_path}) answered {status}", op.id);
    let Some(response) = op.responses.get(status.to_string()) else {
        panic!("{context}, which the document does not declare");
    };
    for (name, _) in headers {
        let documented = DOCUMENTED_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name));
        let declared = response["headers"]
            .as_object()
            .is_some_and(|declared| declared.keys().any(|h| h.eq_ignore_ascii_case(name)));
        assert!(
            !documented || declared,
            "{context} with a {name} header, which the document does not declare"
        );
    }
    for (name, declared) in response["headers"].as_object().into_iter().flatten() {
        let declared = match declared["$ref"].as_str() {
            Some(reference) => doc
                .components
                .pointer(reference.trim_start_matches("#/components"))
                .unwrap_or_else(|| panic!("{context}: {reference} resolves to nothing")),
            None => declared,
        };
        let sent = headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(name));
        assert!(
            sent || declared["required"] != true || method == "HEAD",
            "{context} without the {name} header the document says it always sends"
        );
    }
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        assert!(
            bytes.is_empty(),
            "{context} with a body, which the document does not declare"
        );
        return;
    };
    let media = base_type(content_type);
    let Some((declared, declaration)) = content.iter().find(|(m, _)| base_type(m) == media) else {
        panic!(
            "{context} as {content_type:?}; the document declares {:?}",
            content.keys().collect::<Vec<_>>()
        );
    };
    if !(media == "application/json" || media.ends_with("+json")) {
        return;
    }
    let Some(schema) = declaration.get("schema") else {
        return;
    };
    let body: Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{context}: the body is not JSON: {e}"));
    let validator = doc.validator(&format!("{}:{status}:{declared}", op.id), schema);
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{context}: the body does not match the document: {}\nbody: {}",
        errors.join("; "),
        String::from_utf8_lossy(&bytes[..bytes.len().min(2000)])
    );
}

#[test]
fn the_check_refuses_what_the_document_does_not_declare() {
    let json = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (
            "etag".to_string(),
            "\"3f1c9a0d5e7b2c4a8f6e1d0b9a7c5e3f\"".to_string(),
        ),
        ("x-request-id".to_string(), "r-1".to_string()),
    ];
    let refused = |status: u16, headers: &[(String, String)], body: &str| {
        let (path, headers, body) = (
            "/v1/providers/p-1".to_string(),
            headers.to_vec(),
            body.to_string(),
        );
        std::thread::spawn(move || check("GET", &path, status, &headers, body.as_bytes()))
            .join()
            .is_err()
    };
    let provider = r#"{"id":"p-1","name":"A","status":"active",
        "created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"#;
    assert!(!refused(200, &json, provider), "a real provider passes");
    assert!(
        refused(200, &json, r#"{"id": 5}"#),
        "a wrong body is refused"
    );
    assert!(
        refused(201, &json, provider),
        "an undeclared status is refused"
    );
    let mut located = json.clone();
    located.push(("Location".to_string(), "/v1/providers/p-1".to_string()));
    assert!(
        refused(200, &located, provider),
        "an undeclared header is refused"
    );
    let mut csv = json.clone();
    csv[0] = ("content-type".to_string(), "text/csv".to_string());
    assert!(
        refused(200, &csv, "id\n"),
        "an undeclared media type is refused"
    );
    assert!(
        refused(200, &json[..2], provider),
        "a response without a header the document says it always sends is refused"
    );
}

/// Every operation that takes or answers a JSON body (or answers CSV) has an example of
/// each in the document, and every JSON example is valid against its own schema.
#[test]
fn every_body_has_a_valid_example() {
    let doc = dayops_http::openapi::document();
    let mut missing = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().unwrap_or(template);
            let mut bodies = Vec::new();
            if let Some(content) = op.pointer("/requestBody/content/application~1json") {
                bodies.push(("request", content));
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                if !status.starts_with('2') {
                    continue;
                }
                for media in ["application/json", "text/csv"] {
                    if let Some(content) = response.get("content").and_then(|c| c.get(media)) {
                        bodies.push(("response", content));
                    }
                }
            }
            for (which, content) in bodies {
                let Some(example) = content.get("example") else {
                    missing.push(format!("{method} {template} ({id}): {which}"));
                    continue;
                };
                let validator =
                    DOCUMENT.validator(&format!("example:{id}:{which}"), &content["schema"]);
                let errors: Vec<String> = validator
                    .iter_errors(example)
                    .take(3)
                    .map(|e| format!("{e} at {}", e.instance_path))
                    .collect();
                assert!(
                    errors.is_empty(),
                    "the {which} example of {id} is not valid: {}",
                    errors.join("; ")
                );
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no example (record them with DAYOPS_WRITE_EXAMPLES=1 cargo test -p dayops-server --test api):\n{}",
        missing.join("\n")
    );
}
