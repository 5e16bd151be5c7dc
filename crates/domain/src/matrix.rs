//! Effective-dated rate matrices and the lookup that prices a unit of service.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::calendar::{ranges_overlap, within};
use crate::contract::ContractInput;
use crate::error::FieldErrors;
use crate::types::{DayCategory, Item, SessionType};

/// The wildcard band: a cell that prices every band not priced by a cell of its own.
pub const ANY_BAND: &str = "*";

/// One price: per session, hour, journey or meal, as the item says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateCell {
    pub item: Item,
    /// A band of the contract, or `*` for every band.
    #[schema(pattern = "^([a-z0-9_]{1,32}|\\*)$", example = "high")]
    pub need_band: String,
    /// Required for `session` cells, absent for every other item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_type: Option<SessionType>,
    pub day_category: DayCategory,
    #[schema(minimum = 0, example = 4800)]
    pub rate_pence: i64,
}

/// A version of a contract's matrix as the commissioner posts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateMatrixInput {
    pub effective_from: NaiveDate,
    /// Last day the version applies; open-ended when absent.
    #[serde(default)]
    pub effective_to: Option<NaiveDate>,
    pub cells: Vec<RateCell>,
}

/// A version as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RateMatrixVersion {
    pub id: String,
    pub contract_id: String,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub cells: Vec<RateCell>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl RateMatrixVersion {
    pub fn effective_dates(&self) -> EffectiveDates {
        EffectiveDates {
            effective_from: self.effective_from,
            effective_to: self.effective_to,
        }
    }

    /// The version in the shape lookup takes.
    pub fn for_lookup(&self) -> MatrixVersion<String> {
        MatrixVersion {
            id: self.id.clone(),
            effective_from: self.effective_from,
            effective_to: self.effective_to,
            cells: self.cells.clone(),
        }
    }
}

/// The dates of a version already stored, for the overlap check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveDates {
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
}

impl RateMatrixInput {
    /// Checks the version on its own and against the contract's bands and session types.
    pub fn validate(&self, contract: &ContractInput) -> FieldErrors {
        let mut errors = FieldErrors::new();
        if let Some(to) = self.effective_to {
            errors.check(
                to < self.effective_from,
                "/effective_to",
                "must not be before effective_from",
            );
        }
        errors.check(
            self.cells.is_empty(),
            "/cells",
            "must hold at least one cell",
        );
        let mut keys = BTreeSet::new();
        for (i, cell) in self.cells.iter().enumerate() {
            let at = |field: &str| format!("/cells/{i}/{field}");
            errors.check(
                cell.need_band != ANY_BAND && !contract.has_band(&cell.need_band),
                at("need_band"),
                format!(
                    "must be one of the contract's bands ({}) or *",
                    contract.need_bands.join(", ")
                ),
            );
            match (cell.item, cell.session_type) {
                (Item::Session, None) => {
                    errors.push(at("session_type"), "is required for a session cell")
                }
                (Item::Session, Some(st)) => errors.check(
                    !contract.offers_session_type(st),
                    at("session_type"),
                    "is not a session type of the contract's session_hours",
                ),
                (_, Some(_)) => errors.push(at("session_type"), "applies to session cells only"),
                (_, None) => {}
            }
            errors.check(
                cell.rate_pence < 0,
                at("rate_pence"),
                "must not be negative",
            );
            let key = (
                cell.item,
                cell.need_band.as_str(),
                cell.session_type,
                cell.day_category,
            );
            errors.check(
                !keys.insert(key),
                format!("/cells/{i}"),
                "prices the same item, band, session type and day category as an earlier cell",
            );
        }
        // Only a version whose cells are each well formed can be judged as a whole.
        if errors.is_empty() {
            let days = day_categories_between(contract, self.effective_from, self.effective_to);
            for (i, cell) in self.cells.iter().enumerate() {
                if let Some(why) = never_chosen(cell, &self.cells, contract, &days) {
                    errors.push(format!("/cells/{i}"), why);
                }
            }
        }
        errors
    }

    /// Versions of one contract never overlap: the first stored version this one would
    /// share a day with, if any.
    pub fn overlapping<'a>(&self, existing: &'a [EffectiveDates]) -> Option<&'a EffectiveDates> {
        existing.iter().find(|other| {
            ranges_overlap(
                self.effective_from,
                self.effective_to,
                other.effective_from,
                other.effective_to,
            )
        })
    }
}

/// What a unit of service is priced by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuery<'a> {
    pub date: NaiveDate,
    pub item: Item,
    pub need_band: &'a str,
    pub session_type: Option<SessionType>,
    pub day_category: DayCategory,
}

/// A stored version with its cells, as lookup needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixVersion<Id> {
    pub id: Id,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub cells: Vec<RateCell>,
}

/// The cell that prices `query`, and the version it belongs to.
///
/// The version is the one in force on the date. Within it the most specific cell wins: the
/// exact day category before `any`, and within the chosen day category the exact band
/// before `*` (so a `*`/`bank_holiday` premium prices every band on a bank holiday).
/// Sessions must match the session type; other items ignore it.
pub fn lookup<'v, Id>(
    versions: &'v [MatrixVersion<Id>],
    query: &RateQuery<'_>,
) -> Option<(&'v MatrixVersion<Id>, &'v RateCell)> {
    let version = versions
        .iter()
        .find(|v| within(query.date, v.effective_from, v.effective_to))?;
    let session_type = match query.item {
        Item::Session => Some(query.session_type?),
        _ => None,
    };
    choose(
        &version.cells,
        query.item,
        session_type,
        query.need_band,
        query.day_category,
    )
    .map(|cell| (version, cell))
}

/// The cell of one version that prices `item` (with `session_type` for sessions, `None`
/// otherwise) for `need_band` on a day of `day_category`, by the order [`lookup`] gives.
fn choose<'c>(
    cells: &'c [RateCell],
    item: Item,
    session_type: Option<SessionType>,
    need_band: &str,
    day_category: DayCategory,
) -> Option<&'c RateCell> {
    let preference = [
        (day_category, need_band),
        (day_category, ANY_BAND),
        (DayCategory::Any, need_band),
        (DayCategory::Any, ANY_BAND),
    ];
    preference.iter().find_map(|(day, band)| {
        cells.iter().find(|c| {
            c.item == item
                && c.need_band == *band
                && c.day_category == *day
                && c.session_type == session_type
        })
    })
}

/// The day categories of the dates from `from` to `to` under `contract`'s calendar; every
/// category for an open-ended range.
fn day_categories_between(
    contract: &ContractInput,
    from: NaiveDate,
    to: Option<NaiveDate>,
) -> BTreeSet<DayCategory> {
    let Some(to) = to else {
        return [
            DayCategory::Weekday,
            DayCategory::Weekend,
            DayCategory::BankHoliday,
        ]
        .into();
    };
    from.iter_days()
        .take_while(|day| *day <= to)
        .map(|day| contract.day_category(day))
        .collect()
}

/// Why a version's cell could never be chosen, if it could not: on no date of the version
/// does the cell's day category occur, or for every band and day category it covers a
/// more specific cell wins.
fn never_chosen(
    cell: &RateCell,
    cells: &[RateCell],
    contract: &ContractInput,
    days: &BTreeSet<DayCategory>,
) -> Option<String> {
    if cell.day_category != DayCategory::Any && !days.contains(&cell.day_category) {
        return Some(format!(
            "could never be chosen: no date of the version is a {} under the contract's calendar",
            cell.day_category
        ));
    }
    let bands: Vec<&str> = if cell.need_band == ANY_BAND {
        contract.need_bands.iter().map(String::as_str).collect()
    } else {
        vec![cell.need_band.as_str()]
    };
    let chosen_somewhere = bands.iter().any(|band| {
        days.iter()
            .filter(|day| cell.day_category == DayCategory::Any || **day == cell.day_category)
            .any(|day| {
                choose(cells, cell.item, cell.session_type, band, *day)
                    .is_some_and(|chosen| std::ptr::eq(chosen, cell))
            })
    });
    (!chosen_somewhere).then(|| {
        "could never be chosen: more specific cells price every band and day category it \
         covers"
            .to_string()
    })
}

/// Whether the contract offers `item` (and `session_type`, for sessions) on `date` at all,
/// in any band or day category: the distinction between AGR-004 and RATE-001.
pub fn offers<Id>(
    versions: &[MatrixVersion<Id>],
    date: NaiveDate,
    item: Item,
    session_type: Option<SessionType>,
) -> bool {
    versions
        .iter()
        .filter(|v| within(date, v.effective_from, v.effective_to))
        .flat_map(|v| v.cells.iter())
        .any(|c| c.item == item && (item != Item::Session || c.session_type == session_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::tests::sample;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cell(
        item: Item,
        band: &str,
        st: Option<SessionType>,
        day: DayCategory,
        pence: i64,
    ) -> RateCell {
        RateCell {
            item,
            need_band: band.into(),
            session_type: st,
            day_category: day,
            rate_pence: pence,
        }
    }

    fn versions() -> Vec<MatrixVersion<u8>> {
        use DayCategory::*;
        use SessionType::*;
        vec![
            MatrixVersion {
                id: 1,
                effective_from: d("2025-04-01"),
                effective_to: Some(d("2026-03-31")),
                cells: vec![
                    cell(Item::Session, "high", Some(Am), Any, 5000),
                    cell(Item::Session, "high", Some(Am), Weekend, 6000),
                    cell(Item::Session, "*", Some(Am), Any, 3000),
                    cell(Item::Session, "*", Some(Am), BankHoliday, 4500),
                    cell(Item::Meal, "*", None, Any, 450),
                ],
            },
            MatrixVersion {
                id: 2,
                effective_from: d("2026-04-01"),
                effective_to: None,
                cells: vec![cell(Item::Session, "high", Some(Am), Any, 5200)],
            },
        ]
    }

    fn price(
        date: &str,
        item: Item,
        band: &str,
        st: Option<SessionType>,
        day: DayCategory,
    ) -> Option<(u8, i64)> {
        let v = versions();
        lookup(
            &v,
            &RateQuery {
                date: d(date),
                item,
                need_band: band,
                session_type: st,
                day_category: day,
            },
        )
        .map(|(version, cell)| (version.id, cell.rate_pence))
    }

    #[test]
    fn lookup_prefers_exact_day_then_exact_band() {
        use DayCategory::*;
        use SessionType::*;
        let cases = [
            (
                "2025-06-02",
                Item::Session,
                "high",
                Some(Am),
                Weekday,
                Some((1, 5000)),
            ),
            (
                "2025-06-07",
                Item::Session,
                "high",
                Some(Am),
                Weekend,
                Some((1, 6000)),
            ),
            (
                "2025-06-02",
                Item::Session,
                "low",
                Some(Am),
                Weekday,
                Some((1, 3000)),
            ),
            (
                "2025-12-25",
                Item::Session,
                "low",
                Some(Am),
                BankHoliday,
                Some((1, 4500)),
            ),
            // The bank-holiday premium for every band beats a band's `any` cell.
            (
                "2025-12-25",
                Item::Session,
                "high",
                Some(Am),
                BankHoliday,
                Some((1, 4500)),
            ),
            ("2025-06-02", Item::Session, "high", Some(Pm), Weekday, None),
            ("2025-06-02", Item::Session, "high", None, Weekday, None),
            (
                "2025-06-02",
                Item::Meal,
                "complex",
                None,
                Weekday,
                Some((1, 450)),
            ),
            (
                "2025-06-02",
                Item::Meal,
                "complex",
                Some(Am),
                Weekday,
                Some((1, 450)),
            ),
            // The day before and the day of the annual uplift.
            (
                "2026-03-31",
                Item::Session,
                "high",
                Some(Am),
                Weekday,
                Some((1, 5000)),
            ),
            (
                "2026-04-01",
                Item::Session,
                "high",
                Some(Am),
                Weekday,
                Some((2, 5200)),
            ),
            ("2025-03-31", Item::Session, "high", Some(Am), Weekday, None),
        ];
        for (date, item, band, st, day, expected) in cases {
            assert_eq!(
                price(date, item, band, st, day),
                expected,
                "{date} {item} {band} {st:?} {day}"
            );
        }
    }

    /// Every combination of the four cells that could price band `high` on a day: the
    /// band's own cell for the day category (B/D), the every-band cell for it (*/D), the
    /// band's `any` cell (B/any) and the every-band `any` cell (*/any). The winner is the
    /// first present in that order, on weekdays, weekends and bank holidays alike.
    #[test]
    fn every_band_and_day_category_combination() {
        const BD: u8 = 1;
        const STAR_D: u8 = 2;
        const B_ANY: u8 = 4;
        const STAR_ANY: u8 = 8;
        // (cells present, the winner's rate: B/D 1, */D 2, B/any 3, */any 4; 0 for none)
        let table: [(u8, i64); 16] = [
            (0, 0),
            (BD, 1),
            (STAR_D, 2),
            (BD | STAR_D, 1),
            (B_ANY, 3),
            (BD | B_ANY, 1),
            (STAR_D | B_ANY, 2),
            (BD | STAR_D | B_ANY, 1),
            (STAR_ANY, 4),
            (BD | STAR_ANY, 1),
            (STAR_D | STAR_ANY, 2),
            (BD | STAR_D | STAR_ANY, 1),
            (B_ANY | STAR_ANY, 3),
            (BD | B_ANY | STAR_ANY, 1),
            (STAR_D | B_ANY | STAR_ANY, 2),
            (BD | STAR_D | B_ANY | STAR_ANY, 1),
        ];
        let st = Some(SessionType::Am);
        for day in [
            DayCategory::Weekday,
            DayCategory::Weekend,
            DayCategory::BankHoliday,
        ] {
            for (present, winner) in table {
                let mut cells = Vec::new();
                for (bit, band, cell_day, rate) in [
                    (BD, "high", day, 1),
                    (STAR_D, "*", day, 2),
                    (B_ANY, "high", DayCategory::Any, 3),
                    (STAR_ANY, "*", DayCategory::Any, 4),
                ] {
                    if present & bit != 0 {
                        cells.push(cell(Item::Session, band, st, cell_day, rate));
                    }
                }
                // A cell for another band and day never interferes.
                cells.push(cell(Item::Session, "low", st, day, 99));
                let chosen = choose(&cells, Item::Session, st, "high", day).map(|c| c.rate_pence);
                assert_eq!(chosen.unwrap_or(0), winner, "{day}, cells {present:04b}");
            }
        }
    }

    #[test]
    fn cells_that_could_never_be_chosen_are_refused() {
        use DayCategory::*;
        let contract = sample(); // bands low, medium, high, complex; England and Wales
        let am = Some(SessionType::Am);
        let version = |to: Option<&str>, cells: Vec<RateCell>| RateMatrixInput {
            effective_from: d("2026-04-01"),
            effective_to: to.map(d),
            cells,
        };
        let from_monday = |to: &str, cells: Vec<RateCell>| RateMatrixInput {
            effective_from: d("2026-04-13"),
            ..version(Some(to), cells)
        };
        let every_band = |day: DayCategory| {
            ["low", "medium", "high", "complex"]
                .map(|b| cell(Item::Session, b, am, day, 100))
                .to_vec()
        };
        let refused = |input: RateMatrixInput| -> Vec<String> {
            input
                .validate(&contract)
                .into_vec()
                .into_iter()
                .map(|e| e.pointer)
                .collect()
        };
        // The demo's shape: bands at `any`, a premium for every band on bank holidays.
        let mut cells = every_band(Any);
        cells.push(cell(Item::Session, "*", am, BankHoliday, 150));
        assert!(refused(version(None, cells.clone())).is_empty());
        // A version with Easter in it keeps the premium; one without a bank holiday does not.
        assert!(refused(version(Some("2026-04-30"), cells.clone())).is_empty());
        assert_eq!(
            refused(version(Some("2026-04-02"), cells.clone())),
            ["/cells/4"]
        );
        // Every band priced at `any`: a `*`/`any` cell could never be chosen.
        let mut cells = every_band(Any);
        cells.push(cell(Item::Session, "*", am, Any, 100));
        assert_eq!(refused(version(None, cells)), ["/cells/4"]);
        // Every band priced on every day category: the band's `any` cell is dead too.
        let mut cells = every_band(Weekday);
        cells.extend(every_band(Weekend));
        cells.push(cell(Item::Session, "*", am, BankHoliday, 100));
        cells.push(cell(Item::Session, "high", am, Any, 100));
        assert_eq!(refused(version(None, cells.clone())), ["/cells/9"]);
        // Within Monday to Friday of an ordinary week, the weekend cells are dead.
        cells.pop();
        cells.pop();
        let pointers = refused(from_monday("2026-04-17", cells));
        assert_eq!(pointers, ["/cells/4", "/cells/5", "/cells/6", "/cells/7"]);
    }

    #[test]
    fn offers_distinguishes_unoffered_items() {
        let v = versions();
        assert!(offers(
            &v,
            d("2025-06-02"),
            Item::Session,
            Some(SessionType::Am)
        ));
        assert!(!offers(
            &v,
            d("2025-06-02"),
            Item::Session,
            Some(SessionType::Pm)
        ));
        assert!(!offers(&v, d("2025-06-02"), Item::TransportJourney, None));
        assert!(!offers(&v, d("2026-06-01"), Item::Meal, None));
    }

    #[test]
    fn version_validation_points_at_cells() {
        let contract = sample();
        let input = RateMatrixInput {
            effective_from: d("2025-04-01"),
            effective_to: Some(d("2025-03-01")),
            cells: vec![
                cell(Item::Session, "medium", None, DayCategory::Any, 100),
                cell(
                    Item::Meal,
                    "gold",
                    Some(SessionType::Am),
                    DayCategory::Any,
                    -1,
                ),
                cell(
                    Item::Session,
                    "low",
                    Some(SessionType::Evening),
                    DayCategory::Any,
                    100,
                ),
                cell(Item::Meal, "*", None, DayCategory::Any, 400),
                cell(Item::Meal, "*", None, DayCategory::Any, 500),
            ],
        };
        let pointers: Vec<_> = input
            .validate(&contract)
            .into_vec()
            .into_iter()
            .map(|e| e.pointer)
            .collect();
        assert_eq!(
            pointers,
            [
                "/effective_to",
                "/cells/0/session_type",
                "/cells/1/need_band",
                "/cells/1/session_type",
                "/cells/1/rate_pence",
                "/cells/2/session_type",
                "/cells/4",
            ]
        );
    }

    proptest! {
        /// Overlap is symmetric and agrees with a day-by-day check.
        #[test]
        fn overlap_matches_day_by_day(a in 0i64..60, alen in proptest::option::of(0i64..30),
                                      b in 0i64..60, blen in proptest::option::of(0i64..30)) {
            let base = d("2025-01-01");
            let day = |n: i64| base + chrono::Days::new(n as u64);
            let a_from = day(a);
            let a_to = alen.map(|l| day(a + l));
            let b_from = day(b);
            let b_to = blen.map(|l| day(b + l));
            let input = RateMatrixInput { effective_from: a_from, effective_to: a_to, cells: vec![] };
            let existing = [EffectiveDates { effective_from: b_from, effective_to: b_to }];
            let by_days = (0..200).map(day).any(|x| within(x, a_from, a_to) && within(x, b_from, b_to));
            prop_assert_eq!(input.overlapping(&existing).is_some(), by_days);
            prop_assert_eq!(ranges_overlap(a_from, a_to, b_from, b_to), ranges_overlap(b_from, b_to, a_from, a_to));
        }
    }
}
