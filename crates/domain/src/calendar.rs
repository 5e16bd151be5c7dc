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

/// The payment period of `contract` that contains `date`: the Monday-to-Sunday week,
/// the 28 days counted from the payment anchor (a Monday), or the calendar month.
pub fn payment_period_containing(
    period: crate::types::PaymentPeriod,
    anchor: Option<NaiveDate>,
    date: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    use crate::types::PaymentPeriod;
    match period {
        PaymentPeriod::Weekly => {
            let start = date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday()));
            Some((start, start + chrono::Days::new(6)))
        }
        PaymentPeriod::FourWeekly => {
            let anchor = anchor?;
            let offset = (date - anchor).num_days().rem_euclid(28);
            let start = date - chrono::Days::new(u64::try_from(offset).ok()?);
            Some((start, start + chrono::Days::new(27)))
        }
        PaymentPeriod::Monthly => {
            let start = date.with_day(1)?;
            let next = if start.month() == 12 {
                NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)?
            };
            Some((start, next.pred_opt()?))
        }
    }
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
    fn payment_periods() {
        use crate::types::PaymentPeriod::*;
        let anchor = Some(d("2025-03-31"));
        let cases = [
            (Weekly, "2025-06-08", ("2025-06-02", "2025-06-08")),
            (Weekly, "2025-06-09", ("2025-06-09", "2025-06-15")),
            (FourWeekly, "2025-03-31", ("2025-03-31", "2025-04-27")),
            (FourWeekly, "2025-04-28", ("2025-04-28", "2025-05-25")),
            (FourWeekly, "2025-03-30", ("2025-03-03", "2025-03-30")),
            (Monthly, "2025-02-14", ("2025-02-01", "2025-02-28")),
            (Monthly, "2024-02-29", ("2024-02-01", "2024-02-29")),
            (Monthly, "2025-12-31", ("2025-12-01", "2025-12-31")),
        ];
        for (period, date, (from, to)) in cases {
            assert_eq!(
                payment_period_containing(period, anchor, d(date)),
                Some((d(from), d(to))),
                "{period} {date}"
            );
        }
        assert_eq!(
            payment_period_containing(FourWeekly, None, d("2025-01-01")),
            None
        );
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
