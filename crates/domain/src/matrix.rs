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
    #[schema(example = "high")]
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
/// The version is the one in force on the date. Within it the most specific cell wins:
/// the exact band before `*`, and within a band the exact day category before `any`.
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
    let preference = [
        (query.need_band, query.day_category),
        (query.need_band, DayCategory::Any),
        (ANY_BAND, query.day_category),
        (ANY_BAND, DayCategory::Any),
    ];
    preference.iter().find_map(|(band, day)| {
        version
            .cells
            .iter()
            .find(|c| {
                c.item == query.item
                    && c.need_band == *band
                    && c.day_category == *day
                    && c.session_type == session_type
            })
            .map(|cell| (version, cell))
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
    fn lookup_prefers_exact_band_then_exact_day() {
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
            (
                "2025-12-25",
                Item::Session,
                "high",
                Some(Am),
                BankHoliday,
                Some((1, 5000)),
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
