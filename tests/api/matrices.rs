//! Rate matrices: versions never overlap; lookup follows the uplift and day categories.

use serde_json::{json, Value};

use crate::support::TestApp;

fn session(band: &str, session_type: &str, day: &str, pence: i64) -> Value {
    json!({"item": "session", "need_band": band, "session_type": session_type, "day_category": day, "rate_pence": pence})
}

fn rate(app: &TestApp, contract: &str, query: &str) -> (u16, Value) {
    let r = app.get(
        &format!("/v1/contracts/{contract}/rates?{query}"),
        &app.commissioner(),
    );
    (r.status, r.body["cell"]["rate_pence"].clone())
}

#[test]
fn overlapping_versions_are_refused() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Riverside");
    let contract = app.create_contract(&provider, "NCC-M-1");
    let path = format!("/v1/contracts/{contract}/rate-matrices");
    let cells = json!([session("high", "am", "any", 5000)]);
    app.post(
        &path,
        &c,
        &json!({"effective_from": "2025-04-01", "effective_to": "2026-03-31", "cells": cells}),
    )
    .expect(201);
    app.post(
        &path,
        &c,
        &json!({"effective_from": "2026-04-01", "cells": cells}),
    )
    .expect(201);
    for (from, to) in [
        ("2026-03-31", None),
        ("2024-04-01", Some("2025-04-01")),
        ("2027-01-01", None),
    ] {
        let r = app.post(
            &path,
            &c,
            &json!({"effective_from": from, "effective_to": to, "cells": cells}),
        );
        assert_eq!(r.status, 409, "{from}..{to:?}");
        assert_eq!(r.pointers(), ["/effective_from"]);
    }
    // Cells are checked against the contract.
    let r = app.post(
        &path,
        &c,
        &json!({"effective_from": "2020-01-01", "effective_to": "2020-12-31", "cells": [
            session("gold", "am", "any", 1), session("low", "evening", "any", 1),
            {"item": "meal", "need_band": "*", "session_type": "am", "day_category": "any", "rate_pence": 1}
        ]}),
    );
    r.expect(422);
    assert_eq!(
        r.pointers(),
        [
            "/cells/0/need_band",
            "/cells/1/session_type",
            "/cells/2/session_type"
        ]
    );
    let r = app.post(
        &path,
        &c,
        &json!({"effective_from": "2020-01-01", "cells": [session("low", "am", "any", -5)]}),
    );
    r.expect(422);
    let versions = app.get(&path, &c);
    assert_eq!(versions.body["items"].as_array().unwrap().len(), 2);
    app.post(
        "/v1/contracts/none/rate-matrices",
        &c,
        &json!({"effective_from": "2025-04-01", "cells": cells}),
    )
    .expect(404);
}

#[test]
fn lookup_follows_uplift_bands_and_day_categories() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Riverside");
    let contract = app.create_contract(&provider, "NCC-M-2");
    let path = format!("/v1/contracts/{contract}/rate-matrices");
    app.post(
        &path,
        &c,
        &json!({"effective_from": "2025-04-01", "effective_to": "2026-03-31", "cells": [
            session("high", "full_day", "any", 9600),
            session("high", "full_day", "weekend", 11000),
            session("*", "full_day", "any", 7200),
            session("*", "full_day", "bank_holiday", 12000),
            {"item": "meal", "need_band": "*", "day_category": "any", "rate_pence": 450}
        ]}),
    )
    .expect(201);
    app.post(
        &path,
        &c,
        &json!({"effective_from": "2026-04-01", "cells": [session("high", "full_day", "any", 9936)]}),
    )
    .expect(201);
    let q = |date: &str, band: &str| {
        format!("date={date}&item=session&need_band={band}&session_type=full_day")
    };
    // The day before and the day of the uplift.
    assert_eq!(
        rate(&app, &contract, &q("2026-03-31", "high")),
        (200, json!(9600))
    );
    assert_eq!(
        rate(&app, &contract, &q("2026-04-01", "high")),
        (200, json!(9936))
    );
    // Saturday: the weekend cell where there is one, the `any` cell otherwise.
    assert_eq!(
        rate(&app, &contract, &q("2025-06-07", "high")),
        (200, json!(11000))
    );
    assert_eq!(
        rate(&app, &contract, &q("2025-06-07", "low")),
        (200, json!(7200))
    );
    // The contract's bank holiday.
    assert_eq!(
        rate(&app, &contract, &q("2025-12-25", "low")),
        (200, json!(12000))
    );
    let r = app.get(
        &format!("/v1/contracts/{contract}/rates?{}", q("2025-12-25", "low")),
        &c,
    );
    assert_eq!(r.body["day_category"], "bank_holiday");
    // No cell: 404. Before the first version: 404.
    assert_eq!(rate(&app, &contract, &q("2026-04-02", "low")).0, 404);
    assert_eq!(rate(&app, &contract, &q("2025-03-31", "high")).0, 404);
    assert_eq!(
        rate(
            &app,
            &contract,
            "date=2025-06-02&item=meal&need_band=complex"
        ),
        (200, json!(450))
    );
    // A session needs its type.
    let r = app.get(
        &format!("/v1/contracts/{contract}/rates?date=2025-06-02&item=session&need_band=high"),
        &c,
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/session_type"]);
    let r = app.get(
        &format!("/v1/contracts/{contract}/rates?date=2025-06-31&item=session&need_band=high"),
        &c,
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/date"]);
    // The provider can look up its own rates.
    let own = app.get(
        &format!("/v1/contracts/{contract}/rates?{}", q("2025-06-02", "high")),
        &app.provider(&provider),
    );
    assert_eq!(own.body["cell"]["rate_pence"], json!(9600));
}

/// The exact day category wins before the band: the demo's `*`/`bank_holiday` premium
/// prices every band on Good Friday and Easter Monday 2026 (the built-in calendar of
/// England and Wales), and on New Year's Day 2027, which nobody typed in.
#[test]
fn the_demo_premium_prices_bank_holidays_for_every_band() {
    let app = TestApp::spawn();
    let out = app.dayops(&["demo"]);
    assert!(out.status.success(), "{out:?}");
    // A second load changes nothing and names the same ids, for a newcomer's requests.
    let again = app.dayops(&["demo"]);
    assert!(again.status.success(), "{again:?}");
    let ids = |out: &std::process::Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("provider ") || l.starts_with("contract "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(ids(&out).len(), 8, "{out:?}");
    assert_eq!(ids(&again), ids(&out));
    let contracts = app.get("/v1/contracts?limit=500", &app.commissioner());
    let riverside = contracts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reference"] == "NCC-DO-2023-001")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let q = |date: &str, band: &str| {
        format!("date={date}&item=session&need_band={band}&session_type=full_day")
    };
    // The 2026 premium: complex full day 12,600p × 1.5 × 1.035, half up: 19,562p.
    for date in ["2026-04-03", "2026-04-06", "2027-01-01"] {
        for band in ["low", "medium", "high", "complex"] {
            assert_eq!(
                rate(&app, &riverside, &q(date, band)),
                (200, json!(19_562)),
                "{date} {band}"
            );
        }
    }
    // The Thursday before Easter is an ordinary weekday: the band's own cell.
    assert_eq!(
        rate(&app, &riverside, &q("2026-04-02", "low")),
        (200, json!(5589))
    );
}

/// A version with a cell that could never be chosen on any of its dates is refused, with
/// a pointer at the cell; nothing is stored.
#[test]
fn cells_that_could_never_be_chosen_are_refused() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Riverside");
    let contract = app.create_contract(&provider, "NCC-M-3");
    let path = format!("/v1/contracts/{contract}/rate-matrices");
    let every_band: Vec<Value> = ["low", "medium", "high", "complex"]
        .iter()
        .map(|b| session(b, "am", "any", 3000))
        .collect();
    // A `*`/`any` cell behind a cell for every band.
    let mut cells = every_band.clone();
    cells.push(session("*", "am", "any", 2500));
    let r = app.post(
        &path,
        &c,
        &json!({"effective_from": "2026-04-01", "cells": cells}),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/cells/4"]);
    // A bank-holiday premium in a version with no bank holiday (13 to 30 April 2026).
    let mut cells = every_band.clone();
    cells.push(session("*", "am", "bank_holiday", 4500));
    let r = app.post(
        &path,
        &c,
        &json!({"effective_from": "2026-04-13", "effective_to": "2026-04-30", "cells": cells}),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/cells/4"]);
    assert_eq!(app.get(&path, &c).body["items"], json!([]));
    // With Easter in it, the same version is stored.
    app.post(
        &path,
        &c,
        &json!({"effective_from": "2026-04-01", "effective_to": "2026-04-30", "cells": cells}),
    )
    .expect(201);
}
