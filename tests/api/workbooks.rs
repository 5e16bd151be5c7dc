//! Workbooks end to end (JSON): rules with pointers, KPI results stored with each version.

use chrono::Datelike;
use serde_json::{json, Value};

use dayops_domain::workbook::Quarter;

use crate::support::{findings, Fixture, TestApp};

/// The last financial quarter that has ended, and a Monday in it.
fn ended_quarter() -> (Quarter, chrono::NaiveDate) {
    let today = chrono::Utc::now().date_naive();
    let mut q = Quarter {
        year: today.year() - 1,
        number: 1,
    };
    loop {
        let next = if q.number == 4 {
            Quarter {
                year: q.year + 1,
                number: 1,
            }
        } else {
            Quarter {
                year: q.year,
                number: q.number + 1,
            }
        };
        if next.end() >= today {
            break;
        }
        q = next;
    }
    let start = q.start();
    let monday =
        start + chrono::Days::new(u64::from((7 - start.weekday().num_days_from_monday()) % 7));
    (q, monday)
}

pub fn workbook(fx: &Fixture, quarter: Quarter) -> Value {
    json!({
        "contract_id": fx.contract,
        "quarter": quarter.to_string(),
        "template_version": "2025.1",
        "measures": {
            "people_supported": 2, "people_moved_on": 0, "people_accessing_community_weekly": 2,
            "people_reporting_social_inclusion": 1, "people_reporting_independence": 1,
            "people_accessing_health_activities_weekly": 1, "people_in_employment_volunteering_education": 0,
            "care_plans_up_to_date": 2, "staff_headcount": 6, "staff_fte": 4.5, "staff_leavers": 1,
            "volunteers": 3, "safeguarding_concerns": 0, "complaints": 0, "compliments": 4
        },
        "person_outcomes": [
            {"person_ref": fx.p1, "domain": "wellbeing", "status": "progressing"},
            {"person_ref": fx.p2, "domain": "community_access", "status": "achieved"}
        ],
        "case_studies": [{"title": "Back to the allotment", "summary": "A member now leads the Tuesday group."}],
        "acknowledged_warnings": ["SUB-002"]
    })
}

fn post(app: &TestApp, fx: &Fixture, body: &Value) -> crate::support::Resp {
    app.request_with(
        "POST",
        "/v1/workbooks",
        Some(&fx.token),
        Some(("application/json", body.to_string().into_bytes())),
        &[("Idempotency-Key", &uuid::Uuid::new_v4().to_string())],
    )
}

fn setup(app: &TestApp, tag: &str) -> (Fixture, Quarter) {
    let fx = Fixture::new(app, tag);
    let (quarter, monday) = ended_quarter();
    app.patch(
        &format!("/v1/contracts/{}", fx.contract),
        &app.commissioner(),
        // The window stays open for the whole of the quarter after, so amendments are stored.
        &json!({"kpi_targets": [{"code": "community_access_pct", "target": 80, "amber_below": 60}],
                "correction_window_days": 200}),
    )
    .expect(200);
    // Both people in the community this week, as the workbook will report.
    let mut register = fx.register(monday);
    register["lines"][1]["community_access"] = json!(true);
    let r = fx.post(app, &register);
    assert_ne!(r.body["status"], "rejected", "{}", r.text);
    (fx, quarter)
}

#[test]
fn a_clean_return_is_accepted_with_its_kpis_stored() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WA");
    let r = post(&app, &fx, &workbook(&fx, quarter));
    r.expect(201);
    // Late (SUB-002), acknowledged: accepted, the warning kept in the report.
    assert_eq!(
        findings(&r),
        [(
            "SUB-002".to_string(),
            "warning".to_string(),
            "/quarter".to_string()
        )]
    );
    assert_eq!(r.body["status"], "accepted");
    assert_eq!(
        r.body["kpis"],
        json!([{"code": "community_access_pct", "value": 100.0, "target": 80.0, "amber_below": 60.0, "rag": "green"}])
    );
    let id = r.body["id"].as_str().unwrap().to_string();
    let read = app.get(&format!("/v1/workbooks/{id}"), &app.auditor());
    assert_eq!(read.body["kpis"], r.body["kpis"]);
    assert_eq!(read.body["measures"]["staff_fte"], json!(4.5));

    // An amendment with fewer people in the community: amber, stored as version 2.
    let mut amended = workbook(&fx, quarter);
    amended["measures"]["people_accessing_community_weekly"] = json!(1);
    amended["acknowledged_warnings"] = json!(["SUB-002", "WBK-004"]);
    let r = app.request_with(
        "PUT",
        &format!("/v1/workbooks/{id}"),
        Some(&fx.token),
        Some(("application/json", amended.to_string().into_bytes())),
        &[("If-Match", "\"v1\"")],
    );
    r.expect(200);
    assert_eq!(r.body["kpis"][0]["rag"], "red");
    assert_eq!(
        app.get(&format!("/v1/workbooks/{id}/versions/1"), &fx.token)
            .body["kpis"][0]["rag"],
        "green"
    );

    // A second return for the quarter is 409; another provider sees nothing.
    assert_eq!(post(&app, &fx, &workbook(&fx, quarter)).status, 409);
    let other = Fixture::new(&app, "WO");
    app.get(&format!("/v1/workbooks/{id}"), &other.token)
        .expect(404);
    assert_eq!(
        app.get("/v1/workbooks", &other.token).body["items"],
        json!([])
    );
}

/// A return that breaks every WBK rule, its case study summary given.
fn breaking_every_rule(fx: &Fixture, quarter: Quarter, summary: &str) -> Value {
    let mut bad = workbook(fx, quarter);
    bad["template_version"] = json!("2024.2");
    bad["measures"]
        .as_object_mut()
        .unwrap()
        .remove("volunteers");
    bad["measures"]["staff_leavers"] = json!(7);
    bad["measures"]["people_supported"] = json!(9);
    bad["person_outcomes"][1]["person_ref"] = json!("STRANGER");
    bad["case_studies"][0]["summary"] = json!(summary);
    bad
}

#[test]
fn every_workbook_rule_with_its_pointer() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WB");
    let bad = breaking_every_rule(&fx, quarter, "Her NHS number 943 476 5919 was on the form");
    let r = post(&app, &fx, &bad);
    r.expect(201);
    assert_eq!(r.body["status"], "rejected");
    let f = |c: &str, s: &str, p: &str| (c.to_string(), s.to_string(), p.to_string());
    assert_eq!(
        findings(&r),
        [
            f("SUB-002", "warning", "/quarter"),
            f("WBK-007", "error", "/template_version"),
            f("WBK-001", "error", "/measures/volunteers"),
            f("WBK-002", "error", "/measures/staff_leavers"),
            f("WBK-003", "warning", "/measures/people_supported"),
            // Two of nine in the community weekly; the registers show everyone.
            f(
                "WBK-009",
                "warning",
                "/measures/people_accessing_community_weekly",
            ),
            f(
                "WBK-004",
                "warning",
                "/measures/people_accessing_community_weekly",
            ),
            f("WBK-005", "error", "/person_outcomes/1/person_ref"),
            f("WBK-006", "warning", "/person_outcomes"),
            f("WBK-008", "warning", "/case_studies/0/summary"),
        ]
    );
    let messages = r.body["validation"]["findings"].to_string();
    assert!(
        !messages.contains("5919") && !messages.contains("943"),
        "the warning never echoes the number"
    );

    // A quarter that is not one is malformed: nothing to file it under.
    let mut malformed = workbook(&fx, quarter);
    malformed["quarter"] = json!("2025-Q7");
    let r = post(&app, &fx, &malformed);
    r.expect(422);
    assert_eq!(r.pointers(), ["/quarter"]);
}

// ---------------------------------------------------------------------------------------
// The XLSX template

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A spreadsheet as a program sees it: sheets in order, each a map of (row, column) to a
/// cell value (0-based, as calamine counts).
type Cells = std::collections::BTreeMap<(u32, u32), Cell>;
type Sheets = Vec<(String, Cells)>;

#[derive(Clone, Debug)]
enum Cell {
    Text(String),
    Number(f64),
}

fn read_sheets(bytes: &[u8]) -> Sheets {
    use calamine::{Data, Reader};
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names = book.sheet_names();
    names
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).unwrap();
            let mut cells = Cells::new();
            for (row, col, value) in range.used_cells() {
                let (r0, c0) = range.start().unwrap();
                let at = (r0 + row as u32, c0 + col as u32);
                match value {
                    Data::String(s) => cells.insert(at, Cell::Text(s.clone())),
                    Data::Float(f) => cells.insert(at, Cell::Number(*f)),
                    Data::Int(i) => cells.insert(at, Cell::Number(*i as f64)),
                    other => panic!("unexpected cell {other:?}"),
                };
            }
            (name, cells)
        })
        .collect()
}

/// Writes cell values only, as a program filling in the template would.
fn write_sheets(sheets: &[(String, Cells)]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, cells) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(name).unwrap();
        for (&(row, col), cell) in cells {
            match cell {
                Cell::Text(s) => sheet.write_string(row, col as u16, s).unwrap(),
                Cell::Number(n) => sheet.write_number(row, col as u16, *n).unwrap(),
            };
        }
    }
    book.save_to_buffer().unwrap()
}

fn sheet<'a>(sheets: &'a mut [(String, Cells)], name: &str) -> &'a mut Cells {
    &mut sheets.iter_mut().find(|(n, _)| n == name).unwrap().1
}

fn row_of(cells: &Cells, key: &str) -> Option<u32> {
    cells.iter().find_map(|(&(row, col), cell)| match cell {
        Cell::Text(s) if col == 0 && s == key => Some(row),
        _ => None,
    })
}

/// The template filled in with the content of a JSON workbook.
fn fill(template: &[u8], workbook: &Value) -> Vec<u8> {
    let mut sheets = read_sheets(template);
    let about = sheet(&mut sheets, "template");
    for key in ["template_version", "contract_id", "quarter"] {
        let row = row_of(about, key).unwrap();
        about.insert((row, 1), Cell::Text(workbook[key].as_str().unwrap().into()));
    }
    let acknowledged: Vec<&str> = workbook["acknowledged_warnings"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let row = row_of(about, "acknowledged_warnings").unwrap();
    about.insert((row, 1), Cell::Text(acknowledged.join(", ")));
    let measures = sheet(&mut sheets, "measures");
    for (name, value) in workbook["measures"].as_object().unwrap() {
        let row = row_of(measures, name).unwrap();
        measures.insert((row, 1), Cell::Number(value.as_f64().unwrap()));
    }
    let outcomes = sheet(&mut sheets, "person_outcomes");
    for outcome in workbook["person_outcomes"].as_array().unwrap() {
        let person = outcome["person_ref"].as_str().unwrap();
        let row = row_of(outcomes, person).unwrap_or_else(|| {
            let row = outcomes.keys().map(|(r, _)| r + 1).max().unwrap();
            outcomes.insert((row, 0), Cell::Text(person.into()));
            row
        });
        let col = outcomes
            .iter()
            .find_map(|(&(r, c), cell)| match cell {
                Cell::Text(s) if r == 0 && s == outcome["domain"].as_str().unwrap() => Some(c),
                _ => None,
            })
            .unwrap();
        outcomes.insert(
            (row, col),
            Cell::Text(outcome["status"].as_str().unwrap().into()),
        );
    }
    let studies = sheet(&mut sheets, "case_studies");
    for (i, study) in workbook["case_studies"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let row = i as u32 + 1;
        studies.insert(
            (row, 0),
            Cell::Text(study["title"].as_str().unwrap().into()),
        );
        studies.insert(
            (row, 1),
            Cell::Text(study["summary"].as_str().unwrap().into()),
        );
    }
    write_sheets(&sheets)
}

fn template(app: &TestApp, token: &str, fx: &Fixture, quarter: Quarter) -> crate::support::Resp {
    app.get(
        &format!(
            "/v1/workbooks/template?contract_id={}&quarter={quarter}",
            fx.contract
        ),
        token,
    )
}

fn post_xlsx(app: &TestApp, fx: &Fixture, path: &str, bytes: Vec<u8>) -> crate::support::Resp {
    app.request_with(
        "POST",
        path,
        Some(&fx.token),
        Some((XLSX, bytes)),
        &[("Idempotency-Key", &uuid::Uuid::new_v4().to_string())],
    )
}

#[test]
fn a_template_filled_in_by_a_program_is_accepted() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WX");
    let r = template(&app, &fx.token, &fx, quarter);
    r.expect(200);
    assert_eq!(r.content_type, XLSX);
    assert!(r
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment") && d.contains(&quarter.to_string())));

    // Pre-filled by the council: a row per measure with its KPI target, a row per person
    // on an agreement, a column per outcome domain, and a hidden sheet naming it all.
    let sheets = read_sheets(&r.bytes);
    let names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["measures", "person_outcomes", "case_studies", "template"]
    );
    {
        use calamine::Reader;
        let book = calamine::Xlsx::new(std::io::Cursor::new(r.bytes.clone())).unwrap();
        let hidden: Vec<String> = book
            .sheets_metadata()
            .iter()
            .filter(|s| s.visible != calamine::SheetVisible::Visible)
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(hidden, ["template"]);
    }
    let mut sheets = sheets;
    let measures = sheet(&mut sheets, "measures").clone();
    let row = row_of(&measures, "people_accessing_community_weekly").unwrap();
    assert!(
        matches!(&measures[&(row, 2)], Cell::Text(t) if t.contains("community_access_pct") && t.contains("80"))
    );
    assert_eq!(
        measures.keys().filter(|(_, c)| *c == 0).count(),
        16,
        "a heading and 15 measures"
    );
    let people = sheet(&mut sheets, "person_outcomes").clone();
    assert!(row_of(&people, &fx.p1).is_some() && row_of(&people, &fx.p2).is_some());
    assert!(matches!(&people[&(0, 1)], Cell::Text(t) if t == "independence"));
    let about = sheet(&mut sheets, "template").clone();
    let version_row = row_of(&about, "template_version").unwrap();
    assert!(matches!(&about[&(version_row, 1)], Cell::Text(t) if t == "2025.1"));

    // Filled in and posted back.
    let body = fill(&r.bytes, &workbook(&fx, quarter));
    let posted = post_xlsx(&app, &fx, "/v1/workbooks", body);
    posted.expect(201);
    assert_eq!(posted.body["status"], "accepted", "{}", posted.text);
    assert_eq!(posted.body["kpis"][0]["rag"], "green");
    assert_eq!(posted.body["measures"]["staff_fte"], json!(4.5));
    assert_eq!(
        posted.body["person_outcomes"],
        workbook(&fx, quarter)["person_outcomes"]
    );

    // Access: another provider cannot see the contract; an auditor can; a quarter that is
    // not one is 422 at its parameter.
    let other = Fixture::new(&app, "WY");
    template(&app, &other.token, &fx, quarter).expect(404);
    template(&app, &app.auditor(), &fx, quarter).expect(200);
    let r = app.get(
        &format!(
            "/v1/workbooks/template?contract_id={}&quarter=2025-Q9",
            fx.contract
        ),
        &fx.token,
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/quarter"]);
}

#[test]
fn json_and_xlsx_give_the_same_findings_pointing_at_cells() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WJ");
    let bad = breaking_every_rule(&fx, quarter, "Call her on 07700 900123 about the allotment");
    let blank = template(&app, &fx.token, &fx, quarter).bytes;
    let xlsx = fill(&blank, &bad);

    let json_report = app.post("/v1/workbooks/validate", &fx.token, &bad);
    json_report.expect(200);
    let xlsx_report = post_xlsx(&app, &fx, "/v1/workbooks/validate", xlsx.clone());
    xlsx_report.expect(200);
    let without_pointers = |findings: &Value| -> Vec<(Value, Value, Value)> {
        findings
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["code"].clone(),
                    f["severity"].clone(),
                    f["message"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        without_pointers(&json_report.body["findings"]),
        without_pointers(&xlsx_report.body["findings"])
    );
    let people = read_sheets(&blank)
        .into_iter()
        .find(|(n, _)| n == "person_outcomes")
        .unwrap()
        .1;
    let row = |person: &str| row_of(&people, person).unwrap() + 1;
    let stranger_row = people.keys().map(|(r, _)| r + 1).max().unwrap() + 1;
    let at = |sheet: &str, row: u32, col: &str| format!("/sheets/{sheet}/rows/{row}/columns/{col}");
    let expected = [
        ("SUB-002", at("template", 4, "B")),
        ("WBK-007", at("template", 1, "B")),
        ("WBK-001", at("measures", 13, "B")),
        ("WBK-002", at("measures", 12, "B")),
        ("WBK-003", at("measures", 2, "B")),
        ("WBK-009", at("measures", 4, "B")),
        ("WBK-004", at("measures", 4, "B")),
        ("WBK-005", at("person_outcomes", stranger_row, "A")),
        ("WBK-006", at("person_outcomes", row(&fx.p2), "A")),
        ("WBK-008", at("case_studies", 2, "B")),
    ];
    let found: Vec<(String, String)> = xlsx_report.body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["pointer"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(c, p)| (c.to_string(), p))
        .collect();
    assert_eq!(found, expected);
    assert!(
        !xlsx_report.text.contains("07700"),
        "never echoes the phone number"
    );

    // Stored as posted: the receipt points at cells, the stored JSON body is the same
    // workbook, and it reads back like the JSON one.
    let stored = post_xlsx(&app, &fx, "/v1/workbooks", xlsx);
    stored.expect(201);
    assert_eq!(stored.body["status"], "rejected");
    let pointers: Vec<&str> = stored.body["validation"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pointer"].as_str().unwrap())
        .collect();
    assert!(
        pointers.iter().all(|p| p.starts_with("/sheets/")),
        "{pointers:?}"
    );
    let mut measures = bad["measures"].clone();
    measures["volunteers"] = Value::Null;
    assert_eq!(stored.body["measures"], measures);
}

#[test]
fn unreadable_spreadsheets_are_refused_naming_sheet_row_and_column() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WE");
    let blank = template(&app, &fx.token, &fx, quarter).bytes;
    let good = workbook(&fx, quarter);
    let edited = |edit: &dyn Fn(&mut Sheets)| {
        let mut sheets = read_sheets(&fill(&blank, &good));
        edit(&mut sheets);
        write_sheets(&sheets)
    };
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "a non-whole count",
            edited(&|s| {
                sheet(s, "measures").insert((1, 1), Cell::Number(2.5));
            }),
            vec!["/sheets/measures/rows/2/columns/B"],
        ),
        (
            "text in a number cell",
            edited(&|s| {
                sheet(s, "measures").insert((12, 1), Cell::Text("three".into()));
            }),
            vec!["/sheets/measures/rows/13/columns/B"],
        ),
        (
            "a status that is not one",
            edited(&|s| {
                sheet(s, "person_outcomes").insert((1, 3), Cell::Text("great".into()));
            }),
            vec!["/sheets/person_outcomes/rows/2/columns/D"],
        ),
        (
            "a missing sheet",
            edited(&|s| s.retain(|(n, _)| n != "case_studies")),
            vec!["/sheets/case_studies"],
        ),
        (
            "not a spreadsheet",
            b"person_ref,domain,status\nP1,wellbeing,achieved\n".to_vec(),
            vec![""],
        ),
    ];
    for (name, bytes, pointers) in cases {
        let r = post_xlsx(&app, &fx, "/v1/workbooks", bytes);
        assert_eq!(r.status, 422, "{name}: {}", r.text);
        assert_eq!(r.pointers(), pointers, "{name}");
        if let Some(cell) = pointers[0].rsplit('/').next().filter(|c| c.len() == 1) {
            let detail = r.body["errors"][0]["detail"].as_str().unwrap();
            assert!(detail.contains(&format!("cell {cell}")), "{name}: {detail}");
        }
    }
    let r = app.request_with(
        "POST",
        "/v1/workbooks",
        Some(&fx.token),
        Some(("application/pdf", b"%PDF-1.7".to_vec())),
        &[("Idempotency-Key", "pdf-1")],
    );
    assert_eq!(r.status, 415);
    assert_eq!(
        app.get("/v1/workbooks", &fx.token).body["items"],
        json!([]),
        "nothing stored"
    );
}

#[test]
fn the_kpi_report_shows_each_return_against_its_targets() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WK");
    // A second week of registers, with one of the two people in the community (after
    // both in the first): an average week of 75%.
    let (_, monday) = ended_quarter();
    fx.post(&app, &fx.register(monday + chrono::Days::new(7)))
        .expect(201);
    let mut amber = workbook(&fx, quarter);
    amber["measures"]["people_supported"] = json!(10);
    amber["measures"]["people_accessing_community_weekly"] = json!(7);
    amber["person_outcomes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"person_ref": fx.p2, "domain": "wellbeing", "status": "not_started"}));
    amber["acknowledged_warnings"] = json!(["SUB-002", "WBK-003", "WBK-004"]);
    let posted = post(&app, &fx, &amber);
    posted.expect(201);
    let other = Fixture::new(&app, "WL");
    let path = format!("/v1/reports/kpis?quarter={quarter}");
    let report = app.get(&path, &app.commissioner());
    report.expect(200);
    let contract = app.get(
        &format!("/v1/contracts/{}", fx.contract),
        &app.commissioner(),
    );
    // Every field: the rows are decoded by column position, so a column out of place
    // would land in a neighbour of the same type.
    assert_eq!(
        report.body["items"],
        json!([{
            "contract_id": fx.contract,
            "contract_reference": contract.body["reference"],
            "provider_id": fx.provider,
            "workbook_id": posted.body["id"],
            "version": 1,
            "status": posted.body["status"],
            "code": "community_access_pct",
            "value": 70.0,
            "target": 80.0,
            "amber_below": 60.0,
            "rag": "amber",
            "measured_from_registers": 75.0,
        }])
    );
    let tags: Vec<Value> = [
        "independence",
        "social_inclusion",
        "wellbeing",
        "life_goals",
        "employment_volunteering_education",
        "community_networks",
    ]
    .iter()
    .map(|tag| {
        // One of the two people has a wellbeing line each week.
        let share = if *tag == "wellbeing" { 50.0 } else { 0.0 };
        json!({"tag": tag, "share_pct": share})
    })
    .collect();
    assert_eq!(
        report.body["registers"],
        json!([{
            "contract_id": fx.contract,
            "contract_reference": contract.body["reference"],
            "provider_id": fx.provider,
            "registers": {"weeks": 2, "people_attending_weekly": 2.0, "community_access_pct": 75.0, "outcome_tags": tags},
        }])
    );
    // By cohort. Until the agreements say otherwise, both people are `not_recorded` and
    // `commissioned`: the contract's measures, and three person outcomes, two moving.
    let cohort = |scope: &str,
                  key: &str,
                  weekly: f64,
                  community: f64,
                  wellbeing: f64,
                  outcomes: (i64, f64)| {
        let tags: Vec<Value> = tags
            .iter()
            .map(|t| {
                let share = if t["tag"] == "wellbeing" {
                    wellbeing
                } else {
                    0.0
                };
                json!({"tag": t["tag"], "share_pct": share})
            })
            .collect();
        json!({
            "scope": scope, "key": key,
            "registers": {"weeks": 2, "people_attending_weekly": weekly, "community_access_pct": community, "outcome_tags": tags},
            "person_outcomes": outcomes.0, "outcomes_progressing_pct": outcomes.1,
        })
    };
    assert_eq!(
        report.body["cohorts"],
        json!([
            cohort(
                "primary_support_reason",
                "not_recorded",
                2.0,
                75.0,
                50.0,
                (3, 66.67)
            ),
            cohort("funding", "commissioned", 2.0, 75.0, 50.0, (3, 66.67)),
        ])
    );
    // The cohort is the agreement's as it stands when the report is asked for: P1 (in
    // the community the first week, not the second; wellbeing both weeks; progressing)
    // is recorded with a learning disability on a direct payment.
    let mut p1 = fx.agreement_terms(&app, &fx.p1);
    p1["primary_support_reason"] = json!("learning_disability");
    p1["funding"] = json!("direct_payment");
    let p2 = fx.agreement_terms(&app, &fx.p2);
    fx.replace_agreements(&app, vec![p1, p2]);
    let report = app.get(&path, &app.commissioner());
    assert_eq!(
        report.body["cohorts"],
        json!([
            cohort(
                "primary_support_reason",
                "learning_disability",
                1.0,
                50.0,
                100.0,
                (1, 100.0)
            ),
            cohort(
                "primary_support_reason",
                "not_recorded",
                1.0,
                100.0,
                0.0,
                (2, 50.0)
            ),
            cohort("funding", "commissioned", 1.0, 100.0, 0.0, (2, 50.0)),
            cohort("funding", "direct_payment", 1.0, 50.0, 100.0, (1, 100.0)),
        ])
    );
    assert_eq!(
        app.get(&path, &fx.token).body["cohorts"],
        report.body["cohorts"]
    );
    assert_eq!(app.get(&path, &other.token).body["cohorts"], json!([]));
    // The migrations that keep each register's measures and attenders count earlier
    // registers alike.
    app.refill_as_migrated(
        "2026-12-03-000015_register_week_measures",
        "register_week_measures",
    );
    app.refill_as_migrated(
        "2026-12-03-000016_register_person_weeks",
        "register_person_weeks",
    );
    assert_eq!(app.get(&path, &app.commissioner()).body, report.body);
    // 70% in the workbook is within 10 points of the registers' 75%; 40% is not (WBK-009).
    assert!(!findings(&posted).iter().any(|f| f.0 == "WBK-009"));
    let mut far = workbook(&fx, quarter);
    far["measures"]["people_supported"] = json!(10);
    far["measures"]["people_accessing_community_weekly"] = json!(4);
    let checked = app.post("/v1/workbooks/validate", &fx.token, &far);
    checked.expect(200);
    assert!(
        checked.body["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "WBK-009"
                && f["pointer"] == "/measures/people_accessing_community_weekly"),
        "{}",
        checked.text
    );
    assert_eq!(
        app.get(&path, &fx.token).body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(app.get(&path, &other.token).body["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let csv = app.request_with(
        "GET",
        &path,
        Some(&app.auditor()),
        None,
        &[("Accept", "text/csv")],
    );
    csv.expect(200);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.bytes.as_slice())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][6], "community_access_pct");
    assert_eq!(&rows[0][10], "amber");
    let r = app.get("/v1/reports/kpis?quarter=2025-Q5", &app.auditor());
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/quarter"]);
}

/// WBK-008 finds UK phone numbers however they are written (bracketed area codes and
/// "+44 (0)" included) through the API, and leaves dates, money and order numbers alone.
#[test]
fn phone_numbers_in_free_text_are_warned_about() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WP");
    let validate = |summary: &str| {
        let mut body = workbook(&fx, quarter);
        body["case_studies"][0]["summary"] = json!(summary);
        let r = app.request_with(
            "POST",
            "/v1/workbooks/validate",
            Some(&fx.token),
            Some(("application/json", body.to_string().into_bytes())),
            &[],
        );
        r.expect(200);
        r.body["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "WBK-008")
    };
    for phone in [
        "Her son asked us to ring (0161) 496 0066.",
        "Mobile (07700) 900 829, evenings.",
        "Call +44 (0)20 7946 0958 first.",
        "tel. +44 (0) 113 496 0123",
    ] {
        assert!(validate(phone), "{phone}");
    }
    for clean in [
        "On 01-04-2025 10 people went to the allotment.",
        "Purchase order 4500184880 paid £1,250.00 on 01.04.2025 at 10.30.",
    ] {
        assert!(!validate(clean), "{clean}");
    }
}

/// A quarter that is not one is refused where it was typed: at its body member for JSON,
/// at its cell for a spreadsheet; the query parameters take the same form.
#[test]
fn a_malformed_quarter_is_refused_where_it_was_typed() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WQ");
    let mut bad = workbook(&fx, quarter);
    bad["quarter"] = json!("2025-Q5");
    let r = post(&app, &fx, &bad);
    r.expect(422);
    assert_eq!(r.pointers(), ["/quarter"]);
    let t = template(&app, &fx.token, &fx, quarter);
    t.expect(200);
    let file = fill(&t.bytes, &bad);
    let r = post_xlsx(&app, &fx, "/v1/workbooks", file);
    r.expect(422);
    let row = row_of(sheet(&mut read_sheets(&t.bytes), "template"), "quarter").unwrap();
    assert_eq!(
        r.pointers(),
        [format!("/sheets/template/rows/{}/columns/B", row + 1)],
        "{}",
        r.text
    );
    for path in [
        format!(
            "/v1/workbooks/template?contract_id={}&quarter=2025-Q5",
            fx.contract
        ),
        "/v1/reports/kpis?quarter=25-Q1".to_string(),
    ] {
        let r = app.get(&path, &fx.token);
        r.expect(422);
        assert_eq!(r.pointers(), ["/query/quarter"], "{path}");
    }
}
