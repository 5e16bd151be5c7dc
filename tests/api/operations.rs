//! Health, readiness, metrics, and the OpenAPI contract.

use serde_json::Value;

use crate::support::{last_week, Fixture, TestApp};

/// The value of the one sample `series` (name and labels exactly) in a metrics page.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[test]
fn health_readiness_and_metrics_need_no_token() {
    let app = TestApp::spawn();
    let r = app.request("GET", "/healthz", None, None);
    r.expect(200);
    let r = app.request("GET", "/readyz", None, None);
    r.expect(200);
    assert_eq!(
        r.body["database"],
        if app.is_postgres() {
            "postgresql"
        } else {
            "sqlite"
        }
    );
    // The built-in bank-holiday calendars run to 2030; a warning starts a year before.
    assert_eq!(r.body["bank_holiday_calendars_end"], "2030-12-31");
    let warned = chrono::Utc::now().date_naive() > "2029-12-31".parse().unwrap();
    assert_eq!(
        r.body["warnings"].as_array().unwrap().len(),
        usize::from(warned)
    );
    app.get("/v1/contracts", &app.commissioner()).expect(200);
    app.request("GET", "/v1/contracts", None, None).expect(401);
    let metrics = app.request("GET", "/metrics", None, None);
    metrics.expect(200);
    assert!(metrics.content_type.starts_with("text/plain"));
    assert!(
        metrics.text.contains(
            r#"dayops_http_requests_total{route="/v1/contracts",method="GET",status="200"} 1"#
        ),
        "{}",
        metrics.text
    );
    assert!(metrics
        .text
        .contains(r#"route="/v1/contracts",method="GET",status="401""#));
    assert!(metrics
        .text
        .contains("dayops_http_request_duration_seconds_bucket"));
}

#[test]
fn metrics_count_submissions_findings_money_and_stay_bounded() {
    let app = TestApp::spawn_with(|config| config.rate_limit_per_minute = 30);
    let fixture = Fixture::new(&app, "metrics");
    let monday = last_week();
    fixture.post(&app, &fixture.register(monday)).expect(201);
    let mut rejected = fixture.register(monday - chrono::Days::new(7));
    rejected["lines"][0]["status"] = serde_json::json!("absent"); // absent without a reason
    let r = fixture.post(&app, &rejected);
    r.expect(201);
    assert_eq!(r.body["validation"]["outcome"], "rejected");
    let claim = fixture.submit_drafted_claim(&app, monday);
    let accepted_pence = app.get(&format!("/v1/claims/{claim}"), &fixture.token).body
        ["accepted_total_pence"]
        .as_i64()
        .expect("a claim's accepted total");

    let page = |app: &TestApp| app.request("GET", "/metrics", None, None).text;
    let before = page(&app);
    let m = |series: &str| sample(&before, series);
    assert_eq!(
        m(r#"dayops_submissions_total{kind="register",outcome="accepted"}"#),
        Some(1.0),
        "{before}"
    );
    assert_eq!(
        m(r#"dayops_submissions_total{kind="register",outcome="rejected"}"#),
        Some(1.0)
    );
    assert_eq!(
        m(r#"dayops_submissions_total{kind="claim",outcome="accepted"}"#),
        Some(1.0)
    );
    assert_eq!(
        m(r#"dayops_findings_total{code="REG-002",severity="error"}"#),
        Some(1.0),
        "{before}"
    );
    assert_eq!(
        m("dayops_claim_accepted_pence_total"),
        Some(accepted_pence as f64)
    );
    assert_eq!(m("dayops_db_pool_max_connections"), Some(8.0));
    assert!(m(r#"dayops_db_pool_connections{state="idle"}"#).is_some());
    assert!(m("dayops_db_pool_wait_seconds_count").unwrap() > 0.0);
    assert!(m("dayops_audit_pending_events").is_some());
    assert!(m("dayops_audit_sequencer_lag_seconds").is_some());
    let backend = if app.is_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    assert_eq!(
        m(&format!(
            r#"dayops_build_info{{version="{}",backend="{backend}"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        Some(1.0)
    );
    assert!(m("process_resident_memory_bytes").unwrap() > 1e6);
    assert!(m("process_open_fds").unwrap() > 0.0);

    // Spending the commissioner's rate limit counts the refusals.
    let c = app.commissioner();
    let refused = (0..40)
        .filter(|_| app.get("/v1/providers", &c).status == 429)
        .count();
    assert!(refused > 0);
    assert_eq!(
        sample(&page(&app), "dayops_rate_limited_total"),
        Some(refused as f64)
    );

    // Made-up methods and paths, without a token, add no series.
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    let grown_from = series(&page(&app));
    for i in 0..300 {
        let r = app.request(
            &format!("M{i}X"),
            &format!("/v1/x{i}/{i}?q={i}"),
            None,
            None,
        );
        assert_eq!(r.status, 404);
    }
    let after = page(&app);
    // One new series for every made-up request (route unmatched, method OTHER, 404),
    // with its histogram, and the GETs of /metrics itself.
    assert!(after.contains(r#"route="unmatched",method="OTHER",status="404""#));
    assert!(
        series(&after) - grown_from <= 2 * 17,
        "{} series grew to {}",
        grown_from,
        series(&after)
    );
    assert!(!after.contains("M7X") && !after.contains("x7"));
}

/// The committed contract is what the code serves. On failure, regenerate it with
/// `cargo run --bin dayops -- openapi > openapi/openapi.json`.
#[test]
fn committed_openapi_matches_the_served_document() {
    let app = TestApp::spawn();
    let served = app.request("GET", "/openapi.json", None, None);
    served.expect(200);
    let committed: Value = serde_json::from_str(include_str!("../../openapi/openapi.json"))
        .expect("openapi/openapi.json is JSON");
    assert!(
        served.body == committed,
        "openapi/openapi.json is out of date: run `cargo run --bin dayops -- openapi > openapi/openapi.json`"
    );
    assert!(served.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = served.body["paths"].as_object().unwrap();
    for path in [
        "/v1/providers",
        "/v1/contracts/{id}/rates",
        "/v1/contracts/{id}/agreements",
        "/v1/audit-events/verify",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }

    // The browsable UI is served from the binary, with no CDN.
    let ui = app.request("GET", "/docs/", None, None);
    ui.expect(200);
    assert!(
        ui.text.contains("swagger-ui"),
        "{}",
        &ui.text[..ui.text.len().min(500)]
    );
    assert!(
        !ui.text.contains("cdn."),
        "the UI must not load scripts from a CDN"
    );
    // Without its slash, `/docs` leads there (the client follows the 308).
    let unslashed = app.request("GET", "/docs", None, None);
    unslashed.expect(200);
    assert!(unslashed.text.contains("swagger-ui"));
    let script = app.request("GET", "/docs/swagger-ui-bundle.js", None, None);
    script.expect(200);
    // Cached for an hour, then revalidated: a 304 while the binary is the same.
    assert_eq!(script.header("cache-control"), Some("public, max-age=3600"));
    let etag = script.header("etag").expect("the UI has an ETag");
    let again = app.request_with(
        "GET",
        "/docs/swagger-ui-bundle.js",
        None,
        None,
        &[("If-None-Match", etag), ("Accept-Encoding", "gzip")],
    );
    again.expect(304);
    assert!(again.bytes.is_empty());
    let document = app.request("GET", "/openapi.json", None, None);
    assert_eq!(document.header("cache-control"), Some("no-cache"));
    let etag = document.header("etag").expect("the document has an ETag");
    app.request_with(
        "GET",
        "/openapi.json",
        None,
        None,
        &[("If-None-Match", etag)],
    )
    .expect(304);
}

/// `crates/persistence/src/schema.rs` says exactly what the migrations make, on the back
/// end under test: the same tables, and in each the same columns in the same order, with
/// the same types and nullability (what `diesel print-schema` would check).
#[test]
fn schema_rs_matches_the_migrated_database() {
    use diesel::sql_types::{Integer, Text};
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        column_type: String,
        #[diesel(sql_type = Integer)]
        not_null: i32,
    }
    let app = TestApp::spawn();
    let sql = if app.is_postgres() {
        "SELECT CAST(table_name AS TEXT) AS table_name, CAST(column_name AS TEXT) AS column_name, \
         CAST(data_type AS TEXT) AS column_type, CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS not_null \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations' \
         ORDER BY table_name, ordinal_position"
    } else {
        "SELECT m.name AS table_name, p.name AS column_name, p.type AS column_type, p.\"notnull\" AS not_null \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
         AND m.name <> '__diesel_schema_migrations' \
         ORDER BY m.name, p.cid"
    };
    let mut conn = app.sql();
    let columns = dayops_persistence::load_sql!(&mut conn, sql, Column, []).expect("columns");
    let diesel_type = |db_type: &str| -> String {
        match db_type.to_ascii_lowercase().as_str() {
            "text" => "Text",
            "integer" => "Integer",
            "bigint" => "BigInt",
            "boolean" => "Bool",
            "date" => "Date",
            "timestamp" | "timestamp without time zone" => "Timestamp",
            "double" | "double precision" | "real" => "Double",
            "blob" | "bytea" => "Binary",
            other => panic!("no diesel type for the column type {other}"),
        }
        .to_string()
    };
    let mut from_database: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for c in columns {
        let ty = diesel_type(&c.column_type);
        let ty = if c.not_null == 1 {
            ty
        } else {
            format!("Nullable<{ty}>")
        };
        match from_database.last_mut() {
            Some((table, cols)) if *table == c.table_name => cols.push((c.column_name, ty)),
            _ => from_database.push((c.table_name, vec![(c.column_name, ty)])),
        }
    }
    // schema.rs, read as text: each `table! { name (key) { column -> Type, … } }`.
    let schema = include_str!("../../crates/persistence/src/schema.rs");
    let mut from_schema: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for block in schema.split("diesel::table! {").skip(1) {
        let mut lines = block.lines().map(str::trim).filter(|l| !l.is_empty());
        let header = lines.next().unwrap();
        let name = header.split_whitespace().next().unwrap().to_string();
        let cols = lines
            .take_while(|l| *l != "}")
            .filter_map(|l| l.trim_end_matches(',').split_once(" -> "))
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect();
        from_schema.push((name, cols));
    }
    from_schema.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        from_schema, from_database,
        "schema.rs and the migrations disagree; print the schema with diesel and fix whichever is wrong"
    );
}

/// On a fresh PostgreSQL database that was never analysed (autovacuum is off on these
/// machines), holding a week of 200 registers, every submission-time lookup is planned
/// through its index: the plans do not depend on statistics being fresh. SQLite keeps no
/// statistics that could go stale, and this test has nothing to check there.
#[test]
fn submission_lookups_use_their_indexes_on_a_never_analysed_database() {
    use diesel::sql_types::{Array, Date, Text};
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = Text)]
        #[diesel(column_name = "QUERY PLAN")]
        line: String,
    }
    let app = TestApp::spawn();
    if !app.is_postgres() {
        return;
    }
    let monday = crate::support::last_week();
    let fixtures: Vec<crate::support::Fixture> = (0..200)
        .map(|i| crate::support::Fixture::new(&app, &format!("X{i}")))
        .collect();
    std::thread::scope(|scope| {
        for chunk in fixtures.chunks(25) {
            let app = &app;
            scope.spawn(move || {
                for fx in chunk {
                    fx.post(app, &fx.register(monday)).expect(201);
                }
            });
        }
    });
    let fx = &fixtures[7];
    let people = vec![fx.p1.clone(), fx.p2.clone()];
    let dates = vec![monday, monday + chrono::Days::new(1)];
    let mut conn = match app.sql() {
        dayops_persistence::DbConnection::Postgresql(pg) => pg,
        dayops_persistence::DbConnection::Sqlite(_) => unreachable!(),
    };
    let plan = |lines: Vec<PlanLine>| -> String {
        lines
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let reg006 = plan(
        diesel::sql_query(format!(
            "EXPLAIN {}",
            dayops_persistence::registers::OTHER_SESSIONS_PG
        ))
        .bind::<Array<Text>, _>(&people)
        .bind::<Array<Date>, _>(&dates)
        .bind::<Text, _>("attended")
        .bind::<Text, _>("register")
        .bind::<Text, _>("rejected")
        .bind::<Text, _>("")
        .load(&mut conn)
        .unwrap(),
    );
    let facts = plan(
        diesel::sql_query(format!(
            "EXPLAIN {}",
            dayops_persistence::claims::REGISTER_FACTS_PG
        ))
        .bind::<Text, _>(&fx.contract)
        .bind::<Date, _>(monday)
        .bind::<Date, _>(monday + chrono::Days::new(6))
        .bind::<Text, _>("register")
        .bind::<Text, _>("rejected")
        .load(&mut conn)
        .unwrap(),
    );
    let clm003 = plan(
        diesel::sql_query(format!(
            "EXPLAIN {}",
            dayops_persistence::claims::OTHER_UNITS_PG
        ))
        .bind::<Array<Text>, _>(&people)
        .bind::<Date, _>(monday)
        .bind::<Date, _>(monday + chrono::Days::new(6))
        .bind::<Text, _>("")
        .load(&mut conn)
        .unwrap(),
    );
    // What `agreements::terms_for_contract` asks: a contract's agreements in person order.
    let agreements = plan(
        diesel::sql_query(
            "EXPLAIN SELECT * FROM agreements WHERE contract_id = $1 ORDER BY person_ref",
        )
        .bind::<Text, _>(&fx.contract)
        .load(&mut conn)
        .unwrap(),
    );
    for (lookup, plan, index, table) in [
        (
            "REG-006",
            &reg006,
            "register_lines_person_date",
            "register_lines",
        ),
        (
            "register facts",
            &facts,
            "register_lines_pkey",
            "register_lines",
        ),
        ("CLM-003", &clm003, "claimed_units_pkey", "claimed_units"),
        (
            "agreements",
            &agreements,
            "agreements_contract_id_person_ref_key",
            "agreements",
        ),
    ] {
        assert!(
            plan.contains(index),
            "{lookup} does not use {index}:\n{plan}"
        );
        assert!(
            !plan.contains(&format!("Seq Scan on {table}")),
            "{lookup} scans {table}:\n{plan}"
        );
    }
}

/// The repository carries the council's specification it links to; where the shared copy
/// is beside the checkout (as on the council's build machines), the two are the same.
#[test]
fn the_carried_spec_is_the_councils() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let carried = std::fs::read_to_string(format!("{root}/docs/spec/SPEC.md")).unwrap();
    assert!(
        carried.contains("SUB-001"),
        "docs/spec/SPEC.md is the specification"
    );
    if let Ok(shared) = std::fs::read_to_string(format!("{root}/../shared/spec/SPEC.md")) {
        assert!(
            shared == carried,
            "docs/spec/SPEC.md differs from ../shared/spec/SPEC.md: copy the council's over"
        );
    }
}

/// HEAD answers on every GET route as the GET does, without the body; answers are
/// compressed when the client asks (the Swagger UI's 1.4 MB bundle among them).
#[test]
fn head_and_compression() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let head = app.request("HEAD", "/v1/contracts", Some(&c), None);
    head.expect(200);
    assert!(head.bytes.is_empty());
    assert!(head.content_type.starts_with("application/json"));
    app.request("HEAD", "/v1/contracts", None, None).expect(401);
    let gzip = [("Accept-Encoding", "gzip")];
    let plain = app.request("GET", "/openapi.json", None, None);
    let packed = app.request_with("GET", "/openapi.json", None, None, &gzip);
    assert_eq!(packed.header("Content-Encoding"), Some("gzip"));
    assert!(
        packed.bytes.len() * 4 < plain.bytes.len(),
        "{} of {}",
        packed.bytes.len(),
        plain.bytes.len()
    );
    let bundle = app.request_with("GET", "/docs/swagger-ui-bundle.js", None, None, &gzip);
    bundle.expect(200);
    assert_eq!(bundle.header("Content-Encoding"), Some("gzip"));
}
