//! Dates the council's rules depend on.

use chrono::{Datelike, NaiveDate, Weekday as ChronoWeekday};

use crate::types::DayCategory;

/// The day category a date is priced in: the contract's bank holidays first, then
/// Saturday and Sunday as weekend, otherwise weekday. (`any` is a cell's fallback,
/// never a date's category.)
pub fn day_category(date: NaiveDate, bank_holidays: &[NaiveDate]) -> DayCategory {
    if bank_holidays.contains(&date) {
        DayCategory::BankHoliday
    } else if matches!(date.weekday(), ChronoWeekday::Sat | ChronoWeekday::Sun) {
        DayCategory::Weekend
    } else {
        DayCategory::Weekday
    }
}

pub fn is_monday(date: NaiveDate) -> bool {
    date.weekday() == ChronoWeekday::Mon
}

/// Whether the inclusive ranges `[a_from, a_to]` and `[b_from, b_to]` share a day; an
/// absent end is open.
pub fn ranges_overlap(
    a_from: NaiveDate,
    a_to: Option<NaiveDate>,
    b_from: NaiveDate,
    b_to: Option<NaiveDate>,
) -> bool {
    let a_starts_before_b_ends = b_to.is_none_or(|b_to| a_from <= b_to);
    let b_starts_before_a_ends = a_to.is_none_or(|a_to| b_from <= a_to);
    a_starts_before_b_ends && b_starts_before_a_ends
}

/// Whether `date` lies in `[from, to]`, an absent `to` being open.
pub fn within(date: NaiveDate, from: NaiveDate, to: Option<NaiveDate>) -> bool {
    date >= from && to.is_none_or(|to| date <= to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn day_categories() {
        let bank = [d("2025-12-25")];
        for (date, expected) in [
            ("2025-12-24", DayCategory::Weekday),
            ("2025-12-25", DayCategory::BankHoliday),
            ("2025-12-27", DayCategory::Weekend),
            ("2025-12-28", DayCategory::Weekend),
            ("2025-12-29", DayCategory::Weekday),
        ] {
            assert_eq!(day_category(d(date), &bank), expected, "{date}");
        }
    }

    #[test]
    fn overlap_table() {
        let cases = [
            // (a_from, a_to, b_from, b_to, overlap)
            ("2025-04-01", Some("2026-03-31"), "2026-04-01", None, false),
            ("2025-04-01", Some("2026-04-01"), "2026-04-01", None, true),
            ("2025-04-01", None, "2026-04-01", None, true),
            ("2026-04-01", None, "2025-04-01", Some("2026-03-31"), false),
            (
                "2025-01-01",
                Some("2025-01-31"),
                "2025-01-15",
                Some("2025-01-16"),
                true,
            ),
        ];
        for (af, at, bf, bt, expected) in cases {
            assert_eq!(
                ranges_overlap(d(af), at.map(d), d(bf), bt.map(d)),
                expected,
                "{af}..{at:?} vs {bf}..{bt:?}"
            );
        }
    }
}
