//! Registers posted as CSV: one line a row, the JSON line's field names as columns,
//! contract and period as query parameters. Errors and findings point at
//! `/rows/<row>/<column>`, rows numbered as a spreadsheet shows them (the header is row 1).

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;
use utoipa::IntoParams;

use dayops_domain::finding::Finding;
use dayops_domain::register::{AttendanceStatus, OutcomeTag, RegisterInput, RegisterLine};
use dayops_domain::submission::repoint;
use dayops_domain::types::{AbsenceReason, SessionType, Vocabulary};
use dayops_domain::FieldError;

use crate::problem::ApiError;

/// Contract and period of a CSV register.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CsvRegisterQuery {
    /// Required with `Content-Type: text/csv`.
    pub contract_id: Option<String>,
    /// A Monday; required with CSV.
    pub period_start: Option<NaiveDate>,
    /// The Sunday after; required with CSV.
    pub period_end: Option<NaiveDate>,
}

const REQUIRED: [&str; 4] = ["person_ref", "date", "session_type", "status"];
const OPTIONAL: [&str; 10] = [
    "absence_reason",
    "notice_hours",
    "arrived_at",
    "departed_at",
    "one_to_one_hours",
    "transport_journeys",
    "meal",
    "community_access",
    "outcome_tags",
    "comment",
];

/// The spreadsheet row of line `index` (the header is row 1).
fn row_of(index: usize) -> usize {
    index + 2
}

fn enum_cell<T: Vocabulary>(text: &str) -> Result<T, String> {
    T::parse(text).ok_or_else(|| {
        let choices: Vec<&str> = T::ALL.iter().map(|v| v.as_str()).collect();
        format!("must be one of {}", choices.join(", "))
    })
}

fn bool_cell(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "n" | "0" => Ok(false),
        "true" | "yes" | "y" | "1" => Ok(true),
        _ => Err("must be true or false".into()),
    }
}

/// Reads a CSV register. Every cell that cannot be read is reported, not just the first.
pub fn parse(query: &CsvRegisterQuery, bytes: &[u8]) -> Result<RegisterInput, ApiError> {
    let mut errors = Vec::new();
    for (name, missing) in [
        ("contract_id", query.contract_id.is_none()),
        ("period_start", query.period_start.is_none()),
        ("period_end", query.period_end.is_none()),
    ] {
        if missing {
            errors.push(FieldError::new(
                format!("/query/{name}"),
                "is required with a CSV register",
            ));
        }
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| {
            ApiError::invalid(vec![FieldError::new(
                "/rows/1",
                format!("the header row cannot be read: {e}"),
            )])
        })?
        .clone();
    let columns: HashMap<&str, usize> = headers.iter().enumerate().map(|(i, h)| (h, i)).collect();
    for name in headers.iter() {
        if !REQUIRED.contains(&name) && !OPTIONAL.contains(&name) {
            errors.push(FieldError::new(
                format!("/rows/1/{name}"),
                "is not a register column",
            ));
        }
    }
    for name in REQUIRED {
        if !columns.contains_key(name) {
            errors.push(FieldError::new(
                format!("/rows/1/{name}"),
                "the column is missing",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut lines = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row = row_of(index);
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                errors.push(FieldError::new(
                    format!("/rows/{row}"),
                    format!("the row cannot be read: {e}"),
                ));
                continue;
            }
        };
        let cell = |name: &str| columns.get(name).and_then(|i| record.get(*i)).unwrap_or("");
        let mut fail = |name: &str, detail: String| {
            errors.push(FieldError::new(format!("/rows/{row}/{name}"), detail))
        };
        let mut required = |name: &str| {
            let text = cell(name);
            if text.is_empty() {
                fail(name, "is required".into());
            }
            text
        };
        let person_ref = required("person_ref").to_string();
        let date_text = required("date");
        let session_text = required("session_type");
        let status_text = required("status");
        let date = date_text
            .parse::<NaiveDate>()
            .map_err(|_| "must be a date, YYYY-MM-DD".to_string());
        let session_type = enum_cell::<SessionType>(session_text);
        let status = enum_cell::<AttendanceStatus>(status_text);
        let optional_enum = |text: &str| -> Result<Option<AbsenceReason>, String> {
            if text.is_empty() {
                Ok(None)
            } else {
                enum_cell::<AbsenceReason>(text).map(Some)
            }
        };
        let absence_reason = optional_enum(cell("absence_reason"));
        let number = |text: &str| -> Result<Option<u32>, String> {
            if text.is_empty() {
                Ok(None)
            } else {
                text.parse()
                    .map(Some)
                    .map_err(|_| "must be a whole number".to_string())
            }
        };
        let time = |text: &str| -> Result<Option<NaiveTime>, String> {
            if text.is_empty() {
                Ok(None)
            } else {
                NaiveTime::parse_from_str(text, "%H:%M")
                    .map(Some)
                    .map_err(|_| "must be a time, HH:MM".to_string())
            }
        };
        let hours = match cell("one_to_one_hours") {
            "" => Ok(None),
            text => text
                .parse::<f64>()
                .map(Some)
                .map_err(|_| "must be a number of hours".to_string()),
        };
        let tags: Result<Vec<OutcomeTag>, String> = cell("outcome_tags")
            .split([';', '|'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| OutcomeTag::parse(t).ok_or_else(|| format!("{t} is not an outcome tag")))
            .collect();
        let notice = number(cell("notice_hours"));
        let journeys = number(cell("transport_journeys"));
        let arrived = time(cell("arrived_at"));
        let departed = time(cell("departed_at"));
        let meal = bool_cell(cell("meal"));
        let community = bool_cell(cell("community_access"));
        let comment = Some(cell("comment").to_string()).filter(|c| !c.is_empty());
        macro_rules! take {
            ($value:expr, $name:literal) => {
                match $value {
                    Ok(v) => Some(v),
                    Err(detail) => {
                        errors.push(FieldError::new(format!("/rows/{row}/{}", $name), detail));
                        None
                    }
                }
            };
        }
        let parsed = (
            take!(date, "date"),
            take!(session_type, "session_type"),
            take!(status, "status"),
            take!(absence_reason, "absence_reason"),
            take!(notice, "notice_hours"),
            take!(arrived, "arrived_at"),
            take!(departed, "departed_at"),
            take!(hours, "one_to_one_hours"),
            take!(journeys, "transport_journeys"),
            take!(meal, "meal"),
            take!(community, "community_access"),
            take!(tags, "outcome_tags"),
        );
        if let (
            Some(date),
            Some(session_type),
            Some(status),
            Some(absence_reason),
            Some(notice_hours),
            Some(arrived_at),
            Some(departed_at),
            Some(one_to_one_hours),
            Some(journeys),
            Some(meal),
            Some(community_access),
            Some(outcome_tags),
        ) = parsed
        {
            if !person_ref.is_empty() && !date_text.is_empty() {
                lines.push(RegisterLine {
                    person_ref,
                    date,
                    session_type,
                    status,
                    absence_reason,
                    notice_hours,
                    arrived_at,
                    departed_at,
                    one_to_one_hours,
                    transport_journeys: journeys.unwrap_or(0),
                    meal,
                    community_access,
                    outcome_tags,
                    comment,
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    match (&query.contract_id, query.period_start, query.period_end) {
        (Some(contract_id), Some(period_start), Some(period_end)) => Ok(RegisterInput {
            contract_id: contract_id.clone(),
            period_start,
            period_end,
            lines,
            acknowledged_warnings: Vec::new(),
        }),
        _ => Err(ApiError::Internal("CSV query checked above".into())),
    }
}

/// Where a finding about the JSON form of a register stands in its CSV form.
pub fn csv_pointer(pointer: &str) -> String {
    if let Some(rest) = pointer.strip_prefix("/lines") {
        let mut parts = rest.trim_start_matches('/').splitn(2, '/');
        return match (
            parts.next().and_then(|i| i.parse::<usize>().ok()),
            parts.next(),
        ) {
            (Some(i), Some(column)) => format!("/rows/{}/{column}", row_of(i)),
            (Some(i), None) => format!("/rows/{}", row_of(i)),
            _ => "/rows".to_string(),
        };
    }
    match pointer {
        "/contract_id" | "/period_start" | "/period_end" => format!("/query{pointer}"),
        other => other.to_string(),
    }
}

pub fn repoint_findings(findings: Vec<Finding>) -> Vec<Finding> {
    repoint(findings, csv_pointer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> CsvRegisterQuery {
        CsvRegisterQuery {
            contract_id: Some("c1".into()),
            period_start: "2025-06-02".parse().ok(),
            period_end: "2025-06-08".parse().ok(),
        }
    }

    #[test]
    fn reads_rows_into_lines() {
        let csv = "person_ref,date,session_type,status,absence_reason,one_to_one_hours,meal,outcome_tags,comment\n\
                   P1,2025-06-02,am,attended,,1.5,yes,wellbeing;independence,\n\
                   P2,2025-06-03,pm,absent,illness,,,,\"called at 8, unwell\"\n";
        let register = parse(&query(), csv.as_bytes()).unwrap();
        assert_eq!(register.lines.len(), 2);
        assert_eq!(register.lines[0].one_to_one_hours, Some(1.5));
        assert!(register.lines[0].meal);
        assert_eq!(
            register.lines[0].outcome_tags,
            vec![OutcomeTag::Wellbeing, OutcomeTag::Independence]
        );
        assert_eq!(
            register.lines[1].absence_reason,
            Some(AbsenceReason::Illness)
        );
        assert_eq!(
            register.lines[1].comment.as_deref(),
            Some("called at 8, unwell")
        );
    }

    #[test]
    fn errors_name_row_and_column() {
        let pointers = |csv: &str| -> Vec<String> {
            parse(&query(), csv.as_bytes())
                .unwrap_err()
                .problem()
                .errors
                .into_iter()
                .map(|e| e.pointer)
                .collect()
        };
        assert_eq!(
            pointers("person_ref,date,status\nP1,2025-06-02,attended\n"),
            ["/rows/1/session_type"]
        );
        assert_eq!(
            pointers("person_ref,date,session_type,status,colour\n"),
            ["/rows/1/colour"]
        );
        assert_eq!(
            pointers("person_ref,date,session_type,status,meal\nP1,2025-06-02,am,attended,\nP1,2025-02-30,noon,here,maybe\n"),
            ["/rows/3/date", "/rows/3/session_type", "/rows/3/status", "/rows/3/meal"]
        );
        let no_query = CsvRegisterQuery {
            contract_id: None,
            period_start: None,
            period_end: None,
        };
        let problem = parse(&no_query, b"person_ref,date,session_type,status\n")
            .unwrap_err()
            .problem();
        assert_eq!(problem.errors[0].pointer, "/query/contract_id");
    }

    #[test]
    fn findings_move_to_rows() {
        assert_eq!(
            csv_pointer("/lines/0/absence_reason"),
            "/rows/2/absence_reason"
        );
        assert_eq!(csv_pointer("/lines/14"), "/rows/16");
        assert_eq!(csv_pointer("/lines"), "/rows");
        assert_eq!(csv_pointer("/period_end"), "/query/period_end");
        assert_eq!(csv_pointer(""), "");
    }
}
