//! Workbooks as the council's spreadsheet: the pre-filled XLSX template, and a filled-in
//! template read back into a workbook. Errors and findings point at
//! `/sheets/<sheet>/rows/<row>/columns/<column>`, with rows and columns as a spreadsheet
//! shows them (`/sheets/measures/rows/2/columns/B` is cell B2 of the measures sheet).

use std::collections::HashMap;
use std::io::{Cursor, Read, Seek};

use calamine::{Data, Range, Reader, Xlsx};
use rust_xlsxwriter::{
    DataValidation, DataValidationRule, Format, Workbook as Spreadsheet, Worksheet, XlsxError,
};

use dayops_domain::contract::Contract;
use dayops_domain::finding::Finding;
use dayops_domain::workbook::{
    kpi_measure, CaseStudy, Measures, OutcomeDomain, OutcomeStatus, PersonOutcome, Quarter,
    WorkbookInput, CURRENT_TEMPLATE_VERSION,
};
use dayops_domain::FieldError;

use crate::problem::{ApiError, ProblemKind};

pub const XLSX_MEDIA_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The sheets, named as the JSON members they hold.
pub const MEASURES: &str = "measures";
pub const PERSON_OUTCOMES: &str = "person_outcomes";
pub const CASE_STUDIES: &str = "case_studies";
/// The hidden sheet that says which contract, quarter and template version this is.
pub const ABOUT: &str = "template";

/// Blank rows under the people and case studies that the template's validation covers,
/// for a provider who adds rows.
const SPARE_ROWS: u32 = 100;

/// What a filled-in template may expand to. A 16 MiB upload of well-compressed XML could
/// otherwise unpack to gigabytes before a cell is read.
const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;

const CASE_TITLE_MAX: u32 = 200;
const CASE_SUMMARY_MAX: u32 = 5000;

/// The column letters of a 0-based column index: 0 is A, 26 is AA.
fn column_letters(mut col: u32) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    letters.iter().rev().map(|b| char::from(*b)).collect()
}

/// The pointer of a cell: `row` is 0-based as calamine counts, shown 1-based.
fn cell_pointer(sheet: &str, row: u32, col: u32) -> String {
    format!(
        "/sheets/{sheet}/rows/{}/columns/{}",
        row + 1,
        column_letters(col)
    )
}

fn cell_error(sheet: &str, row: u32, col: u32, detail: &str) -> FieldError {
    FieldError::new(
        cell_pointer(sheet, row, col),
        format!(
            "sheet {sheet}, cell {}{}: {detail}",
            column_letters(col),
            row + 1
        ),
    )
}

// ---------------------------------------------------------------------------------------
// The template

/// What the council pre-fills: the contract, the quarter and the people on an agreement
/// in it.
pub struct TemplateContent<'a> {
    pub contract: &'a Contract,
    pub quarter: Quarter,
    pub people: &'a [String],
}

fn header(sheet: &mut Worksheet, names: &[&str], bold: &Format) -> Result<(), XlsxError> {
    for (col, name) in names.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *name, bold)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// The KPI targets of the contract read from `measure`, as guidance text.
fn targets_of(contract: &Contract, measure: &str) -> String {
    contract
        .terms
        .kpi_targets
        .iter()
        .filter(|k| kpi_measure(&k.code) == Some(measure))
        .map(|k| {
            format!(
                "{}: green from {}, red below {}",
                k.code, k.target, k.amber_below
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The pre-filled template for a contract's quarter.
pub fn template(content: &TemplateContent<'_>) -> Result<Vec<u8>, XlsxError> {
    let mut book = Spreadsheet::new();
    let bold = Format::new().set_bold();

    let sheet = book.add_worksheet();
    sheet.set_name(MEASURES)?;
    header(sheet, &["measure", "value", "kpi_targets"], &bold)?;
    sheet.set_column_width(0, 44)?;
    sheet.set_column_width(1, 12)?;
    sheet.set_column_width(2, 60)?;
    let whole = DataValidation::new()
        .allow_whole_number(DataValidationRule::GreaterThanOrEqualTo(0))
        .set_error_message("A count: a whole number, 0 or more.")?;
    let decimal = DataValidation::new()
        .allow_decimal_number(DataValidationRule::GreaterThanOrEqualTo(0.0))
        .set_error_message("A number, 0 or more.")?;
    for (i, (name, _)) in Measures::default().by_name().into_iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, name)?;
        let rule = if Measures::is_count(name) {
            &whole
        } else {
            &decimal
        };
        sheet.add_data_validation(row, 1, row, 1, rule)?;
        let targets = targets_of(content.contract, name);
        if !targets.is_empty() {
            sheet.write_string(row, 2, targets)?;
        }
    }

    let sheet = book.add_worksheet();
    sheet.set_name(PERSON_OUTCOMES)?;
    let mut names = vec!["person_ref"];
    names.extend(OutcomeDomain::ALL.iter().map(|d| d.as_str()));
    header(sheet, &names, &bold)?;
    sheet.set_column_width(0, 16)?;
    for (i, person) in content.people.iter().enumerate() {
        sheet.write_string(i as u32 + 1, 0, person)?;
    }
    let statuses: Vec<&str> = OutcomeStatus::ALL.iter().map(|s| s.as_str()).collect();
    let status = DataValidation::new()
        .allow_list_strings(&statuses)?
        .set_error_message("One of achieved, progressing, not_started, declined.")?;
    let last_row = content.people.len() as u32 + SPARE_ROWS;
    sheet.add_data_validation(1, 1, last_row, OutcomeDomain::ALL.len() as u16, &status)?;

    let sheet = book.add_worksheet();
    sheet.set_name(CASE_STUDIES)?;
    header(sheet, &["title", "summary"], &bold)?;
    sheet.set_column_width(0, 40)?;
    sheet.set_column_width(1, 100)?;
    for (col, max) in [(0u16, CASE_TITLE_MAX), (1, CASE_SUMMARY_MAX)] {
        let length = DataValidation::new()
            .allow_text_length(DataValidationRule::LessThanOrEqualTo(max))
            .set_error_message(format!("At most {max} characters."))?;
        sheet.add_data_validation(1, col, SPARE_ROWS, col, &length)?;
    }

    let sheet = book.add_worksheet();
    sheet.set_name(ABOUT)?;
    let quarter = content.quarter.to_string();
    for (row, (key, value)) in [
        ("template_version", CURRENT_TEMPLATE_VERSION),
        ("contract_id", content.contract.id.as_str()),
        (
            "contract_reference",
            content.contract.terms.reference.as_str(),
        ),
        ("quarter", quarter.as_str()),
        ("acknowledged_warnings", ""),
    ]
    .into_iter()
    .enumerate()
    {
        sheet.write_string(row as u32, 0, key)?;
        if !value.is_empty() {
            sheet.write_string(row as u32, 1, value)?;
        }
    }
    sheet.set_hidden(true);

    book.save_to_buffer()
}

// ---------------------------------------------------------------------------------------
// Reading a filled-in template

/// Where each part of the workbook read from a spreadsheet stands in it, so findings about
/// the JSON form can point at cells.
#[derive(Debug, Default, Clone)]
pub struct SheetMap {
    about_rows: HashMap<String, u32>,
    measure_rows: HashMap<String, u32>,
    /// Per person outcome, in order: its row and column.
    outcome_cells: Vec<(u32, u32)>,
    person_rows: HashMap<String, u32>,
    /// The first row below the people, where a missing person's row would go.
    next_person_row: u32,
    case_rows: Vec<u32>,
}

impl SheetMap {
    /// Where a finding about the JSON form of the workbook stands in the spreadsheet.
    pub fn pointer(&self, finding: &Finding) -> String {
        let sheet_of = |name: &str| format!("/sheets/{name}");
        let parts: Vec<&str> = finding.pointer.split('/').skip(1).collect();
        match parts.as_slice() {
            [] => finding.pointer.clone(),
            [key @ ("contract_id" | "quarter" | "template_version")] => self
                .about_rows
                .get(*key)
                .map_or_else(|| sheet_of(ABOUT), |row| cell_pointer(ABOUT, *row, 1)),
            ["measures", name] => self
                .measure_rows
                .get(*name)
                .map_or_else(|| sheet_of(MEASURES), |row| cell_pointer(MEASURES, *row, 1)),
            ["person_outcomes", index, rest @ ..] => {
                match index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| self.outcome_cells.get(i))
                {
                    Some((row, _)) if rest == ["person_ref"] => {
                        cell_pointer(PERSON_OUTCOMES, *row, 0)
                    }
                    Some((row, col)) => cell_pointer(PERSON_OUTCOMES, *row, *col),
                    None => sheet_of(PERSON_OUTCOMES),
                }
            }
            ["person_outcomes"] => match finding.person_ref.as_deref() {
                Some(person) => {
                    let row = self
                        .person_rows
                        .get(person)
                        .copied()
                        .unwrap_or(self.next_person_row);
                    cell_pointer(PERSON_OUTCOMES, row, 0)
                }
                None => sheet_of(PERSON_OUTCOMES),
            },
            ["case_studies", index, field] => {
                let col = u32::from(*field == "summary");
                match index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| self.case_rows.get(i))
                {
                    Some(row) => cell_pointer(CASE_STUDIES, *row, col),
                    None => sheet_of(CASE_STUDIES),
                }
            }
            [sheet, ..] => sheet_of(sheet),
        }
    }

    pub fn repoint(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .map(|f| Finding {
                pointer: self.pointer(&f),
                ..f
            })
            .collect()
    }
}

/// A cell as text: strings trimmed, whole numbers without a decimal point (a reference
/// typed as digits is stored as a number); `None` when blank.
fn text_of(cell: Option<&Data>) -> Result<Option<String>, &'static str> {
    match cell {
        None | Some(Data::Empty) => Ok(None),
        Some(Data::String(s)) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
        Some(Data::Int(i)) => Ok(Some(i.to_string())),
        Some(Data::Float(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(format!("{f:.0}"))),
        Some(Data::Float(f)) => Ok(Some(f.to_string())),
        Some(Data::Error(_)) => Err("holds a formula error"),
        Some(_) => Err("must be text, not a date or a true/false"),
    }
}

/// A cell as a number; `None` when blank. Text is an error, even text of digits: the
/// template's number cells take numbers.
fn number_of(cell: Option<&Data>) -> Result<Option<f64>, &'static str> {
    match cell {
        None | Some(Data::Empty) => Ok(None),
        Some(Data::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Data::Int(i)) => Ok(Some(*i as f64)),
        Some(Data::Float(f)) if f.is_finite() => Ok(Some(*f)),
        Some(Data::String(_)) => Err("must be a number, not text"),
        Some(Data::Error(_)) => Err("holds a formula error"),
        Some(_) => Err("must be a number"),
    }
}

fn last_row(range: &Range<Data>) -> Option<u32> {
    range.end().map(|(row, _)| row)
}

fn last_col(range: &Range<Data>) -> u32 {
    range.end().map_or(0, |(_, col)| col)
}

struct SheetReader<'a> {
    errors: &'a mut Vec<FieldError>,
    map: &'a mut SheetMap,
}

impl SheetReader<'_> {
    fn fail(&mut self, sheet: &str, row: u32, col: u32, detail: &str) {
        self.errors.push(cell_error(sheet, row, col, detail));
    }

    fn text(&mut self, sheet: &str, range: &Range<Data>, row: u32, col: u32) -> Option<String> {
        match text_of(range.get_value((row, col))) {
            Ok(text) => text,
            Err(detail) => {
                self.fail(sheet, row, col, detail);
                None
            }
        }
    }

    fn about(&mut self, range: &Range<Data>) -> (String, String, Option<Quarter>, Vec<String>) {
        let mut values: HashMap<String, Option<String>> = HashMap::new();
        for row in 0..=last_row(range).unwrap_or(0) {
            if let Some(key) = self.text(ABOUT, range, row, 0) {
                let value = self.text(ABOUT, range, row, 1);
                self.map.about_rows.insert(key.clone(), row);
                values.insert(key, value);
            }
        }
        let mut required = |key: &str| match values.get(key).cloned().flatten() {
            Some(value) => value,
            None => {
                let row = self.map.about_rows.get(key).copied();
                self.errors.push(match row {
                    Some(row) => cell_error(ABOUT, row, 1, &format!("{key} is required")),
                    None => FieldError::new(
                        format!("/sheets/{ABOUT}"),
                        format!("sheet {ABOUT}: no row for {key}; download a new template"),
                    ),
                });
                String::new()
            }
        };
        let template_version = required("template_version");
        let contract_id = required("contract_id");
        let quarter = required("quarter");
        let acknowledged = values
            .get("acknowledged_warnings")
            .cloned()
            .flatten()
            .map(|codes| {
                codes
                    .split([',', ';', ' '])
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let parsed = Quarter::parse(&quarter);
        if parsed.is_none() && !quarter.is_empty() {
            if let Some(row) = self.map.about_rows.get("quarter").copied() {
                self.fail(ABOUT, row, 1, Quarter::FORMAT_HINT);
            }
        }
        (template_version, contract_id, parsed, acknowledged)
    }

    fn measures(&mut self, range: &Range<Data>) -> Measures {
        let mut measures = Measures::default();
        let known: Vec<&str> = Measures::default()
            .by_name()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for row in 1..=last_row(range).unwrap_or(0) {
            let value = match number_of(range.get_value((row, 1))) {
                Ok(value) => value,
                Err(detail) => {
                    self.fail(MEASURES, row, 1, detail);
                    continue;
                }
            };
            let Some(name) = self.text(MEASURES, range, row, 0) else {
                if value.is_some() {
                    self.fail(MEASURES, row, 0, "a value on a row with no measure named");
                }
                continue;
            };
            let Some(name) = known.iter().copied().find(|k| *k == name) else {
                self.fail(MEASURES, row, 0, "not a measure of this template");
                continue;
            };
            if self
                .map
                .measure_rows
                .insert(name.to_string(), row)
                .is_some()
            {
                self.fail(MEASURES, row, 0, "this measure appears twice");
                continue;
            }
            let Some(value) = value else { continue };
            if value < 0.0 {
                self.fail(MEASURES, row, 1, "must be 0 or more");
            } else if let Some(slot) = measures.count_mut(name) {
                if value.fract() != 0.0 || value > f64::from(u32::MAX) {
                    self.fail(MEASURES, row, 1, "must be a whole number");
                } else {
                    *slot = Some(value as u32);
                }
            } else {
                measures.staff_fte = Some(value);
            }
        }
        measures
    }

    fn person_outcomes(&mut self, range: &Range<Data>) -> Vec<PersonOutcome> {
        let mut outcomes = Vec::new();
        if self.text(PERSON_OUTCOMES, range, 0, 0).as_deref() != Some("person_ref") {
            self.fail(PERSON_OUTCOMES, 0, 0, "the heading must be person_ref");
        }
        let mut domains = Vec::new();
        for col in 1..=last_col(range) {
            match self.text(PERSON_OUTCOMES, range, 0, col) {
                None => {}
                Some(name) => match OutcomeDomain::parse(&name) {
                    Some(domain) => domains.push((col, domain)),
                    None => self.fail(PERSON_OUTCOMES, 0, col, "not an outcome domain"),
                },
            }
        }
        let last = last_row(range).unwrap_or(0);
        self.map.next_person_row = last + 1;
        for row in 1..=last {
            let person = self.text(PERSON_OUTCOMES, range, row, 0);
            if let Some(person) = &person {
                if self.map.person_rows.insert(person.clone(), row).is_some() {
                    self.fail(PERSON_OUTCOMES, row, 0, "this person has two rows");
                }
            }
            for &(col, domain) in &domains {
                let Some(status) = self.text(PERSON_OUTCOMES, range, row, col) else {
                    continue;
                };
                let Some(status) = OutcomeStatus::parse(&status) else {
                    self.fail(
                        PERSON_OUTCOMES,
                        row,
                        col,
                        "must be one of achieved, progressing, not_started, declined",
                    );
                    continue;
                };
                match &person {
                    Some(person_ref) => {
                        outcomes.push(PersonOutcome {
                            person_ref: person_ref.clone(),
                            domain,
                            status,
                        });
                        self.map.outcome_cells.push((row, col));
                    }
                    None => self.fail(PERSON_OUTCOMES, row, 0, "an outcome with no person_ref"),
                }
            }
        }
        outcomes
    }

    fn case_studies(&mut self, range: &Range<Data>) -> Vec<CaseStudy> {
        let mut studies = Vec::new();
        for row in 1..=last_row(range).unwrap_or(0) {
            let title = self.text(CASE_STUDIES, range, row, 0);
            let summary = self.text(CASE_STUDIES, range, row, 1);
            if title.is_none() && summary.is_none() {
                continue;
            }
            for (col, text, max) in [(0, &title, CASE_TITLE_MAX), (1, &summary, CASE_SUMMARY_MAX)] {
                if text
                    .as_ref()
                    .is_some_and(|t| t.chars().count() > max as usize)
                {
                    self.fail(CASE_STUDIES, row, col, &format!("at most {max} characters"));
                }
            }
            studies.push(CaseStudy {
                title: title.unwrap_or_default(),
                summary: summary.unwrap_or_default(),
            });
            self.map.case_rows.push(row);
        }
        studies
    }
}

fn not_a_spreadsheet() -> ApiError {
    ApiError::invalid(vec![FieldError::new(
        "",
        "the body is not an XLSX spreadsheet; download the template and fill it in",
    )])
}

/// Refuses a zip whose entries unpack to more than we will read (before calamine does).
fn check_unpacked_size<R: Read + Seek>(reader: R) -> Result<(), ApiError> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|_| not_a_spreadsheet())?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|_| not_a_spreadsheet())?;
        total = total.saturating_add(entry.size());
    }
    if total > MAX_UNPACKED_BYTES {
        return Err(ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!(
                "the spreadsheet unpacks to more than {} MiB",
                MAX_UNPACKED_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(())
}

/// Reads a filled-in template. Every cell that cannot be read is reported, on every sheet.
pub fn read(bytes: &[u8]) -> Result<(WorkbookInput, SheetMap), ApiError> {
    check_unpacked_size(Cursor::new(bytes))?;
    let mut book = Xlsx::new(Cursor::new(bytes)).map_err(|_| not_a_spreadsheet())?;
    let names = book.sheet_names();
    let mut errors = Vec::new();
    let mut ranges = HashMap::new();
    for sheet in [ABOUT, MEASURES, PERSON_OUTCOMES, CASE_STUDIES] {
        if !names.iter().any(|n| n == sheet) {
            errors.push(FieldError::new(
                format!("/sheets/{sheet}"),
                format!("the sheet {sheet} is missing; download a new template"),
            ));
            continue;
        }
        match book.worksheet_range(sheet) {
            Ok(range) => {
                ranges.insert(sheet, range);
            }
            Err(_) => errors.push(FieldError::new(
                format!("/sheets/{sheet}"),
                format!("the sheet {sheet} could not be read"),
            )),
        }
    }
    let empty = Range::default();
    let range = |sheet: &str| ranges.get(sheet).unwrap_or(&empty);
    let mut map = SheetMap::default();
    let mut reader = SheetReader {
        errors: &mut errors,
        map: &mut map,
    };
    let about = ranges
        .contains_key(ABOUT)
        .then(|| reader.about(range(ABOUT)));
    let measures = reader.measures(range(MEASURES));
    let person_outcomes = if ranges.contains_key(PERSON_OUTCOMES) {
        reader.person_outcomes(range(PERSON_OUTCOMES))
    } else {
        Vec::new()
    };
    let case_studies = reader.case_studies(range(CASE_STUDIES));
    match about {
        Some((template_version, contract_id, Some(quarter), acknowledged_warnings))
            if errors.is_empty() =>
        {
            Ok((
                WorkbookInput {
                    contract_id,
                    quarter,
                    template_version,
                    measures,
                    person_outcomes,
                    case_studies,
                    acknowledged_warnings,
                },
                map,
            ))
        }
        _ => Err(ApiError::invalid(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_as_a_spreadsheet_shows_them() {
        let cases = [
            (0, "A"),
            (1, "B"),
            (25, "Z"),
            (26, "AA"),
            (27, "AB"),
            (701, "ZZ"),
            (702, "AAA"),
        ];
        for (col, letters) in cases {
            assert_eq!(column_letters(col), letters, "{col}");
        }
        assert_eq!(
            cell_pointer(MEASURES, 1, 1),
            "/sheets/measures/rows/2/columns/B"
        );
    }

    #[test]
    fn cells_read_as_text_and_numbers() {
        assert_eq!(
            text_of(Some(&Data::Float(100234.0))),
            Ok(Some("100234".into()))
        );
        assert_eq!(
            text_of(Some(&Data::String("  P1 ".into()))),
            Ok(Some("P1".into()))
        );
        assert_eq!(text_of(Some(&Data::String("  ".into()))), Ok(None));
        assert!(text_of(Some(&Data::Bool(true))).is_err());
        assert_eq!(number_of(Some(&Data::Float(2.5))), Ok(Some(2.5)));
        assert_eq!(number_of(Some(&Data::Int(3))), Ok(Some(3.0)));
        assert_eq!(number_of(None), Ok(None));
        assert!(number_of(Some(&Data::String("12".into()))).is_err());
    }

    #[test]
    fn not_a_spreadsheet_is_an_input_error() {
        for body in [&b"person_ref,date\n"[..], b"", b"PK\x03\x04 truncated"] {
            match read(body) {
                Err(ApiError::Problem { kind, .. }) => {
                    assert_eq!(kind, ProblemKind::Validation)
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
