//! The OpenAPI 3.1 document, built from the registered routes.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dayops: Day Opportunities Provider API",
        description = "Registers, outcome workbooks and matrix-rate claims from adult social care \
day-opportunity providers, validated against their contracts, rate matrices and service \
agreements. Errors are RFC 9457 problem details (application/problem+json); input errors \
carry `errors: [{pointer, detail}]`, where the pointer is a JSON pointer into the body, or \
`/query/<name>` for a query parameter.",
        license(name = "MIT", identifier = "MIT"),
        contact(name = "Day Opportunities commissioning team", email = "dayops@council.example"),
    ),
    servers(
        (url = "/", description = "The server that serves this document"),
        (url = "http://127.0.0.1:8080", description = "`dayops serve` on your own machine"),
    ),
    security(("bearer" = []), ("oidc" = [])),
    modifiers(&SecurityScheme_),
    components(schemas(crate::problem::Problem, dayops_domain::FieldError)),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "providers", description = "Providers (commissioner-managed)"),
        (name = "contracts", description = "Contracts, their rate matrices and service agreements"),
        (name = "registers", description = "Weekly attendance registers with outcomes alongside"),
        (name = "claims", description = "Matrix-rate claims: priced by the council, decided and paid"),
        (name = "workbooks", description = "Quarterly outcome workbooks"),
        (name = "audit", description = "The audit trail: an RFC 9162 transparency log with signed checkpoints and proofs"),
        (name = "submissions", description = "Every submission of every kind, for auditors and commissioners"),
        (name = "events", description = "The feed of changes a provider, or the council, hears about"),
        (name = "reports", description = "Spend against budget, KPIs against targets, compliance per provider"),
    )
)]
pub struct ApiDoc;

impl ApiDoc {
    /// The document before routes are added.
    pub fn base() -> Document {
        let mut doc = <ApiDoc as OpenApi>::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc
    }
}

#[allow(non_camel_case_types)]
struct SecurityScheme_;

impl Modify for SecurityScheme_ {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT with sub, role (provider, commissioner, auditor), iss, aud, exp; \
                         provider_id for providers.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oidc",
            SecurityScheme::OpenIdConnect(utoipa::openapi::security::OpenIdConnect::with_description(
                "/.well-known/openid-configuration",
                "The same bearer JWT, issued by the council's OpenID Connect provider (Entra ID \
                 or another): `/.well-known/openid-configuration` leads to its discovery \
                 document or names its key set.",
            )),
        );
    }
}

/// The complete document: exactly what `/openapi.json` serves and `dayops openapi` prints.
/// utoipa builds it from the routes; the passes below finish what its types cannot say,
/// on the JSON itself (utoipa's types would refuse some of it on the way back).
pub fn document() -> serde_json::Value {
    let (_, doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::base())
        .configure(crate::routes::configure)
        .split_for_parts();
    let mut json = serde_json::to_value(&doc).unwrap_or_else(|e| {
        log::error!("the OpenAPI document does not serialise: {e}");
        serde_json::Value::Null
    });
    reference_page_items(&mut json);
    flatten_all_of(&mut json);
    bound_integers(&mut json);
    describe_headers(&mut json);
    add_csv_exports(&mut json);
    add_not_modified(&mut json);
    add_request_ids(&mut json);
    add_examples(&mut json);
    add_links(&mut json);
    summarise(&mut json);
    json
}

/// Every operation of the document (each method of each path), to change in place.
fn operations_mut(doc: &mut serde_json::Value) -> impl Iterator<Item = &mut serde_json::Value> {
    doc.get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut())
}

/// Splits each operation's doc comment, which utoipa gives whole as its summary, into a
/// one-sentence summary and the full description.
fn summarise(doc: &mut serde_json::Value) {
    use serde_json::Value;
    for op in operations_mut(doc) {
        let Some(text) = op.get("summary").and_then(Value::as_str) else {
            continue;
        };
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let first = match text.find(". ") {
            Some(end) => &text[..end],
            None => text.trim_end_matches('.'),
        };
        let description = match op.get("description").and_then(Value::as_str) {
            Some(more) if !more.contains(&text) => format!("{text}\n\n{more}"),
            Some(more) => more.to_string(),
            None => text.clone(),
        };
        op["summary"] = Value::String(first.to_string());
        op["description"] = Value::String(description);
    }
}

/// OpenAPI links for the stateful flows: from a created resource to reading and changing
/// it, from a draft to the claim, and from a claim to its decision and payment.
fn add_links(doc: &mut serde_json::Value) {
    use serde_json::{json, Value};
    /// What a link carries from the answer to the next request.
    enum Carry {
        /// The answer's `id` as the next operation's `{id}`.
        Id,
        /// The `id` and the answer's `ETag` as its `If-Match`.
        IdAndVersion,
        /// The answer's body as the next request's body.
        Body,
        /// The `id` and `version` of the version the answer is.
        Version,
    }
    use Carry::{Body, Id, IdAndVersion, Version};
    // (operation, status, link name, next operation, what it carries)
    let links = [
        ("create_provider", "201", "GetProvider", "get_provider", Id),
        (
            "create_provider",
            "201",
            "UpdateProvider",
            "update_provider",
            Id,
        ),
        ("create_contract", "201", "GetContract", "get_contract", Id),
        (
            "create_contract",
            "201",
            "UpdateContract",
            "update_contract",
            Id,
        ),
        (
            "create_contract",
            "201",
            "AddRateMatrix",
            "create_rate_matrix_version",
            Id,
        ),
        (
            "create_contract",
            "201",
            "UpsertAgreements",
            "upsert_agreements",
            Id,
        ),
        ("create_register", "201", "GetRegister", "get_register", Id),
        (
            "create_register",
            "201",
            "AmendRegister",
            "amend_register",
            IdAndVersion,
        ),
        (
            "create_register",
            "201",
            "GetRegisterVersion",
            "get_register_version",
            Version,
        ),
        ("amend_register", "200", "GetRegister", "get_register", Id),
        (
            "amend_register",
            "200",
            "GetRegisterVersion",
            "get_register_version",
            Version,
        ),
        ("create_workbook", "201", "GetWorkbook", "get_workbook", Id),
        (
            "create_workbook",
            "201",
            "AmendWorkbook",
            "amend_workbook",
            IdAndVersion,
        ),
        ("draft_claim", "200", "SubmitClaim", "create_claim", Body),
        ("create_claim", "201", "GetClaim", "get_claim", Id),
        (
            "create_claim",
            "201",
            "AmendClaim",
            "amend_claim",
            IdAndVersion,
        ),
        ("create_claim", "201", "DecideClaim", "decide_claim", Id),
        ("decide_claim", "200", "PayClaim", "pay_claim", Id),
        ("decide_claim", "200", "GetClaim", "get_claim", Id),
        ("pay_claim", "200", "GetClaim", "get_claim", Id),
    ];
    for op in operations_mut(doc) {
        let own = op
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for (from, status, name, next, carry) in &links {
            if *from != own {
                continue;
            }
            let Some(response) = op.pointer_mut(&format!("/responses/{status}")) else {
                continue;
            };
            response["links"][*name] = match carry {
                Id => json!({"operationId": next, "parameters": {"id": "$response.body#/id"}}),
                IdAndVersion => json!({"operationId": next, "parameters": {
                    "id": "$response.body#/id", "header.If-Match": "$response.header.ETag"}}),
                Body => json!({"operationId": next, "requestBody": "$response.body"}),
                Version => json!({"operationId": next, "parameters": {
                    "id": "$response.body#/id", "version": "$response.body#/version"}}),
            };
        }
    }
}

/// Each operation's request and answer examples: real ones, recorded from the end-to-end
/// suite's traffic (`tests/api/conformance.rs`) and kept in `openapi/examples.json`.
const EXAMPLES: &str = include_str!("../../../openapi/examples.json");

fn add_examples(doc: &mut serde_json::Value) {
    use serde_json::Value;
    let examples: Value = serde_json::from_str(EXAMPLES).unwrap_or_else(|e| {
        log::error!("openapi/examples.json is not JSON: {e}");
        Value::Null
    });
    for op in operations_mut(doc) {
        let Some(recorded) = op
            .get("operationId")
            .and_then(Value::as_str)
            .and_then(|id| examples.get(id))
            .cloned()
        else {
            continue;
        };
        if let (Some(request), Some(content)) = (
            recorded.get("request"),
            op.pointer_mut("/requestBody/content/application~1json"),
        ) {
            content["example"] = request.clone();
        }
        let Some(answer) = recorded.get("response") else {
            continue;
        };
        for (status, response) in op
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flatten()
        {
            if !status.starts_with('2') {
                continue;
            }
            for media in ["application/json", "text/csv"] {
                if let Some(content) =
                    response.pointer_mut(&format!("/content/{}", media.replace('/', "~1")))
                {
                    content["example"] = answer.clone();
                }
            }
        }
    }
}

/// Gives every integer the range its format (and so the server's Rust type) holds, and
/// replaces utoipa's unsigned formats, which no generator knows (`u-int32`), by the
/// standard one that holds their range. An integer the server stores in a narrower
/// column says so with its own `maximum`, which this leaves alone.
fn bound_integers(node: &mut serde_json::Value) {
    use serde_json::{json, Value};
    match node {
        Value::Object(members) => {
            let is_integer = match members.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(types)) => types.iter().any(|t| t == "integer"),
                _ => false,
            };
            if is_integer {
                let format = members.get("format").and_then(Value::as_str).unwrap_or("");
                let (minimum, maximum, standard) = match format {
                    "int32" => (json!(i32::MIN), json!(i32::MAX), Some("int32")),
                    "int64" => (json!(i64::MIN), json!(i64::MAX), Some("int64")),
                    "u-int16" => (json!(0), json!(u16::MAX), Some("int32")),
                    "u-int32" => (json!(0), json!(u32::MAX), Some("int64")),
                    "u-int64" => (json!(0), json!(u64::MAX), None),
                    _ => (json!(0), json!(u64::MAX), None),
                };
                if !members.contains_key("minimum") {
                    members.insert("minimum".into(), minimum);
                }
                if !members.contains_key("maximum") {
                    members.insert("maximum".into(), maximum);
                }
                match standard {
                    Some(standard) => {
                        members.insert("format".into(), json!(standard));
                    }
                    None => {
                        members.remove("format");
                    }
                }
            }
            members.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// The request headers the server checks get the exact syntax it takes, and the
/// response headers it always sends are marked required.
fn describe_headers(doc: &mut serde_json::Value) {
    use dayops_domain::patterns::{IDEMPOTENCY_KEY, REPRESENTATION_ETAG, VERSION_ETAG};
    use serde_json::{json, Value};
    for op in operations_mut(doc) {
        // Submissions are versioned ("v3"); providers and contracts are tagged by content.
        let versioned = !matches!(
            op["operationId"].as_str(),
            Some("update_provider" | "update_contract")
        );
        // `get_mut`, not indexing: indexing a missing member would insert a null.
        let parameters = op.get_mut("parameters").and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            match parameter["name"].as_str() {
                Some("Idempotency-Key") => {
                    parameter["schema"] = json!({
                        "type": "string", "minLength": 1, "maxLength": 255,
                        "pattern": IDEMPOTENCY_KEY,
                        "example": "3f6c2a1e-9b7d-4c55-8f0a-2d4e6b8c1a90"
                    });
                    parameter["description"] = json!(
                        "1 to 255 visible ASCII characters, new for each new request (a UUID \
                         will do). A retry with the same key and body gets the stored answer; \
                         the same key with another body is 422."
                    );
                }
                Some("If-Match") if versioned => {
                    parameter["schema"] =
                        json!({"type": "string", "pattern": VERSION_ETAG, "example": "\"v1\""});
                    parameter["description"] = json!(
                        "The ETag of the version being amended, as its GET answered it; \
                         another version's is 412, none is 428."
                    );
                }
                Some("If-Match") => {
                    parameter["schema"] = json!({
                        "type": "string", "pattern": REPRESENTATION_ETAG,
                        "example": "\"3f1c9a0d5e7b2c4a8f6e1d0b9a7c5e3f\""
                    });
                    parameter["description"] = json!(
                        "The ETag of the representation being changed, as GET (or the last \
                         change) answered it; a stale one is 412 (someone changed it since: \
                         read it again), none is 428."
                    );
                }
                _ => {}
            }
        }
        for (status, response) in op
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|responses| responses.iter_mut())
        {
            for (name, header) in response
                .get_mut("headers")
                .and_then(Value::as_object_mut)
                .into_iter()
                .flat_map(|headers| headers.iter_mut())
            {
                // Retry-After is always on a 429; on a 409 only for the in-flight problem.
                let always = match name.as_str() {
                    "ETag" | "Location" | "WWW-Authenticate" | "Content-Disposition" => true,
                    "Retry-After" => status == "429",
                    _ => false,
                };
                if always {
                    header["required"] = json!(true);
                }
            }
        }
    }
}

/// `If-None-Match` and 304 on every `GET` whose answer carries an `ETag`.
fn add_not_modified(doc: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let gets = doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.get_mut("get"));
    for op in gets {
        if op["responses"]["200"]["headers"].get("ETag").is_none() {
            continue;
        }
        let parameter = json!({
            "name": "If-None-Match",
            "in": "header",
            "required": false,
            "description": "An ETag this representation had: when it is still current, the \
                answer is 304 with no body.",
            "schema": {"type": "string"}
        });
        match op.get_mut("parameters").and_then(Value::as_array_mut) {
            Some(parameters) => parameters.push(parameter),
            None => op["parameters"] = json!([parameter]),
        }
        op["responses"]["304"] = json!({
            "description": "Not modified: the `If-None-Match` ETag is current",
            "headers": {"ETag": {"required": true, "schema": {"type": "string"}}}
        });
    }
}

/// `X-Request-Id` on every operation: taken from the request when well formed, and
/// always answered.
fn add_request_ids(doc: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let components = &mut doc["components"];
    components["parameters"]["RequestId"] = json!({
        "name": "X-Request-Id",
        "in": "header",
        "required": false,
        "description": "Your id for this request, echoed in `X-Request-Id`, written on the \
            server's log lines and named in a problem's `instance`. Kept when it is 1 to 128 \
            letters, digits, `-`, `_`, `.` or `:`; otherwise (or when absent) the server makes \
            one (a UUID).",
        "schema": {"type": "string"}
    });
    components["headers"]["RequestId"] = json!({
        "description": "The request's id: yours when well formed, else one the server made. \
            Quote it when reporting a problem.",
        "required": true,
        "schema": {"type": "string", "minLength": 1, "maxLength": crate::request_id::MAX_LEN,
                   "pattern": dayops_domain::patterns::REQUEST_ID}
    });
    for op in operations_mut(doc) {
        if let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            parameters.push(json!({"$ref": "#/components/parameters/RequestId"}));
        } else {
            op["parameters"] = json!([{"$ref": "#/components/parameters/RequestId"}]);
        }
        for response in op
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|responses| responses.values_mut())
        {
            response["headers"]["X-Request-Id"] = json!({"$ref": "#/components/headers/RequestId"});
        }
    }
}

/// Makes each `Page_<Item>`'s items a reference to `<Item>`: utoipa writes a generic's
/// argument inline, and generators then made an anonymous copy of every item type
/// (`PageContractItemsItem`, not `Contract`).
fn reference_page_items(doc: &mut serde_json::Value) {
    let Some(schemas) = doc["components"]["schemas"].as_object_mut() else {
        return;
    };
    let pages: Vec<(String, String)> = schemas
        .keys()
        .filter_map(|name| {
            let item = name.strip_prefix("Page_")?;
            schemas
                .contains_key(item)
                .then(|| (name.clone(), item.to_string()))
        })
        .collect();
    for (page, item) in pages {
        schemas[&page]["properties"]["items"]["items"] =
            serde_json::json!({"$ref": format!("#/components/schemas/{item}")});
    }
}

/// Gives each list that answers `Accept: text/csv` an operation of its own,
/// `GET <list>/export.csv`, whose only 200 is CSV, and leaves the list one JSON 200:
/// generators type one media type per response (two made every list's data a union of a
/// page and a string). [`crate::csv_export::export_routes`] routes it.
fn add_csv_exports(doc: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    let mut exports = Vec::new();
    for (path, item) in paths.iter_mut() {
        let Some(op) = item.get_mut("get") else {
            continue;
        };
        let Some(csv) = op["responses"]["200"]["content"]
            .as_object_mut()
            .and_then(|content| content.remove("text/csv"))
        else {
            continue;
        };
        let export_path = format!("{path}{}", crate::csv_export::EXPORT_SUFFIX);
        let answer = op["responses"]["200"]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // The list's description said "A page, or with `Accept: text/csv` …": split it.
        let (json_answer, csv_answer) = match answer.split_once(", or with `Accept: text/csv` ") {
            Some((page, csv)) => (page.to_string(), csv.to_string()),
            None => (answer.clone(), "every match".to_string()),
        };
        op["responses"]["200"]["description"] = Value::String(format!(
            "{json_answer}. With `Accept: text/csv`, the answer of `GET {export_path}`."
        ));
        let mut export = op.clone();
        let id = op["operationId"].as_str().unwrap_or_default();
        export["operationId"] = json!(format!("{id}_csv"));
        let summary = op["summary"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('.');
        export["summary"] = json!(format!("{summary}, as CSV"));
        export["description"] = json!(format!(
            "The CSV form of `GET {path}` (the same as asking it with `Accept: text/csv`): \
             {csv_answer}, from the cursor on, in one streamed answer with a header row."
        ));
        if let Some(parameters) = export.get_mut("parameters").and_then(Value::as_array_mut) {
            parameters.retain(|p| p["name"] != "limit");
        }
        let mut only_csv = csv;
        only_csv["schema"] =
            json!({"type": "string", "description": "RFC 4180 CSV with a header row"});
        export["responses"]["200"] = json!({
            "description": format!("{csv_answer}, as CSV"),
            "content": {"text/csv": only_csv},
        });
        exports.push((export_path, export));
    }
    for (path, export) in exports {
        paths.insert(path, json!({"get": export}));
    }
}

/// Writes each `allOf` schema (a stored resource: its input's members, flattened, and its
/// own) as the one object it is. As `allOf`, an input part that refuses unknown members
/// (`additionalProperties: false`) made every real response fail its own schema in any
/// JSON Schema validator, since the other parts' members are unknown to it.
fn flatten_all_of(json: &mut serde_json::Value) {
    use serde_json::{Map, Value};
    fn collect(
        all: &Map<String, Value>,
        schema: &Value,
        properties: &mut Map<String, Value>,
        required: &mut Vec<Value>,
        depth: usize,
    ) -> Option<()> {
        if depth > 16 {
            return None;
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.strip_prefix("#/components/schemas/")?;
            return collect(all, all.get(name)?, properties, required, depth + 1);
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                collect(all, part, properties, required, depth + 1)?;
            }
            return Some(());
        }
        for (name, member) in schema.get("properties")?.as_object()? {
            properties.insert(name.clone(), member.clone());
        }
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !required.contains(name) {
                required.push(name.clone());
            }
        }
        Some(())
    }
    fn flatten(node: &mut Value, all: &Map<String, Value>) {
        if node.get("allOf").is_some() {
            let (mut properties, mut required) = (Map::new(), Vec::new());
            if collect(all, node, &mut properties, &mut required, 0).is_some() {
                let mut flat = serde_json::json!({"type": "object", "properties": properties});
                if !required.is_empty() {
                    flat["required"] = Value::Array(required);
                }
                if let Some(description) = node.get("description") {
                    flat["description"] = description.clone();
                }
                *node = flat;
            }
        }
        match node {
            Value::Object(members) => members.values_mut().for_each(|v| flatten(v, all)),
            Value::Array(items) => items.iter_mut().for_each(|v| flatten(v, all)),
            _ => {}
        }
    }
    let all = json["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    flatten(json, &all);
}

/// Path templates and their methods, from the document, for telling 404 from 405.
pub struct RouteTable {
    routes: Vec<(Vec<String>, Vec<&'static str>)>,
}

impl RouteTable {
    pub fn of(doc: &serde_json::Value) -> Self {
        let routes = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(template, item)| {
                let segments = template.split('/').map(str::to_string).collect();
                let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
                    .into_iter()
                    .filter(|m| item.get(m.to_ascii_lowercase()).is_some())
                    .collect();
                (segments, methods)
            })
            .collect();
        RouteTable { routes }
    }

    /// The methods of the route template `path` matches, if any.
    pub fn methods_for(&self, path: &str) -> Option<Vec<&'static str>> {
        self.route_of(path).map(|(_, methods)| methods.clone())
    }

    /// Whether `path` is a list's CSV operation (its template ends in `/export.csv`
    /// itself, not in a parameter that happens to hold that text).
    pub fn is_export(&self, path: &str) -> bool {
        self.route_of(path).is_some_and(|(template, _)| {
            template.last().map(String::as_str)
                == crate::csv_export::EXPORT_SUFFIX.strip_prefix('/')
        })
    }

    fn route_of(&self, path: &str) -> Option<&(Vec<String>, Vec<&'static str>)> {
        let segments: Vec<&str> = path.split('/').collect();
        // A literal segment wins over a parameter (`/v1/claims/draft` over `/v1/claims/{id}`).
        self.routes
            .iter()
            .filter(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                    })
            })
            .max_by_key(|(template, _)| {
                template
                    .iter()
                    .zip(&segments)
                    .filter(|(t, s)| t == s)
                    .count()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table_matches_templates() {
        let table = RouteTable::of(&document());
        assert_eq!(
            table.methods_for("/v1/providers/abc"),
            Some(vec!["GET", "PATCH"])
        );
        assert_eq!(
            table.methods_for("/v1/providers"),
            Some(vec!["GET", "POST"])
        );
        assert_eq!(table.methods_for("/v1/nothing"), None);
        assert!(table.is_export("/v1/contracts/export.csv"));
        assert!(table.is_export("/v1/contracts/abc/agreements/export.csv"));
        assert!(!table.is_export("/v1/registers/abc/versions/export.csv"));
        assert!(!table.is_export("/v1/contracts/abc"));
        assert_eq!(table.methods_for("/v1/providers//"), None);
    }

    #[test]
    fn document_is_openapi_3_1_with_problem_schema() {
        let json = document();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(json["components"]["schemas"]["Problem"].is_object());
        assert!(json["components"]["schemas"]["ContractPatch"]["required"].is_null());
    }

    /// A stored resource's schema is one object holding its input's members and its own,
    /// so a validator accepts the server's real answers.
    #[test]
    fn response_schemas_are_single_objects() {
        let json = document();
        assert!(!json.to_string().contains("\"allOf\""));
        let provider = &json["components"]["schemas"]["Provider"];
        for member in ["id", "name", "status", "created_at"] {
            assert!(provider["properties"][member].is_object(), "{member}");
        }
        assert!(provider["additionalProperties"].is_null());
    }

    /// The patterns written as literals in schema attributes (utoipa takes no constants
    /// there) are the domain's, character for character.
    #[test]
    fn declared_patterns_are_the_domains() {
        use dayops_domain::patterns::*;
        let json = document();
        let schemas = &json["components"]["schemas"];
        for (schema, member, pattern) in [
            ("ProviderInput", "name", NOT_BLANK),
            ("ProviderInput", "cqc_location_id", CQC_LOCATION_ID),
            ("ContractInput", "reference", CONTRACT_REFERENCE),
            ("AgreementInput", "person_ref", PERSON_REF),
            ("RateCell", "need_band", BAND_OR_ANY),
            ("DecisionInput", "reason", NOT_BLANK),
            ("PaymentInput", "remittance_ref", NOT_BLANK),
            ("BandName", "", BAND),
        ] {
            let declared = if member.is_empty() {
                &schemas[schema]["pattern"]
            } else {
                &schemas[schema]["properties"][member]["pattern"]
            };
            assert_eq!(declared, pattern, "{schema}.{member}");
        }
        let create = &json["paths"]["/v1/registers"]["post"]["parameters"];
        let key = create
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap();
        assert_eq!(key["schema"]["pattern"], IDEMPOTENCY_KEY);
    }

    #[test]
    fn the_finishing_passes_leave_no_nulls() {
        // Examples may hold nulls (a real answer's absent members); nothing else may.
        fn walk(node: &serde_json::Value, at: &str) {
            match node {
                serde_json::Value::Null => panic!("a pass wrote a null at {at}"),
                serde_json::Value::Object(members) => members
                    .iter()
                    .filter(|(name, _)| !matches!(name.as_str(), "example" | "examples"))
                    .for_each(|(name, member)| walk(member, &format!("{at}/{name}"))),
                serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, at)),
                _ => {}
            }
        }
        walk(&document(), "");
    }

    #[test]
    fn every_link_names_an_operation_and_every_operation_is_described() {
        let json = document();
        let mut ids = std::collections::BTreeSet::new();
        let mut targets = Vec::new();
        for item in json["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.insert(op["operationId"].as_str().unwrap().to_string());
                assert!(op["description"].is_string(), "{}", op["operationId"]);
                assert!(!op["summary"].as_str().unwrap().contains('\n'));
                for response in op["responses"].as_object().unwrap().values() {
                    for link in response["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        targets.push(link["operationId"].as_str().unwrap().to_string());
                    }
                }
            }
        }
        assert!(targets.len() >= 18);
        for target in targets {
            assert!(ids.contains(&target), "a link names {target}");
        }
    }

    #[test]
    fn integers_carry_their_range() {
        let json = document();
        let measures = &json["components"]["schemas"]["Measures"]["properties"];
        assert_eq!(measures["complaints"]["maximum"], u32::MAX);
        assert_eq!(measures["complaints"]["format"], "int64");
        let contract = &json["components"]["schemas"]["ContractInput"]["properties"];
        assert_eq!(contract["capacity_per_session"]["maximum"], i32::MAX);
        assert!(!json.to_string().contains("\"u-int"));
    }
}
