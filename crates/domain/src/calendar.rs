//! Dates the council's rules depend on.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, Weekday as ChronoWeekday};

use crate::types::{BankHolidayRegion, DayCategory};

/// `YYYY-MM-DD` with a four-digit year read without chrono's format-string parser (a
/// quarter of a microsecond a date), or none; a caller falls back on chrono for anything
/// else. Budget monitoring reads millions of dates: a year's claim lines, and 200,000
/// agreements with dates in their bands and suspensions.
pub fn parse_iso(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

/// Deserializes a date as chrono does (the same input read, the same errors), by
/// [`parse_iso`] first: `#[serde(deserialize_with = "calendar::iso_date")]`.
pub fn iso_date<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    struct Iso;
    impl serde::de::Visitor<'_> for Iso {
        type Value = NaiveDate;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a formatted date string")
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<NaiveDate, E> {
            match parse_iso(value) {
                Some(date) => Ok(date),
                None => value.parse().map_err(E::custom),
            }
        }
    }
    deserializer.deserialize_str(Iso)
}

/// The day category a date is priced in: a bank holiday (`is_bank_holiday`) first, then
/// Saturday and Sunday as weekend, otherwise weekday. (`any` is a cell's fallback, never a
/// date's category.)
pub fn day_category(date: NaiveDate, is_bank_holiday: bool) -> DayCategory {
    if is_bank_holiday {
        DayCategory::BankHoliday
    } else if matches!(date.weekday(), ChronoWeekday::Sat | ChronoWeekday::Sun) {
        DayCategory::Weekend
    } else {
        DayCategory::Weekday
    }
}

/// One of the UK's bank-holiday calendars, as the government publishes it: every date a
/// holiday is taken (substitute days included), and the last day it covers.
#[derive(Debug)]
pub struct BankHolidayCalendar {
    days: BTreeSet<NaiveDate>,
    ends: NaiveDate,
}

impl BankHolidayCalendar {
    /// Reads the published list: a date and a name a line, `#` comments. The calendar
    /// covers every day up to the end of the last year it lists.
    fn parse(text: &str) -> Result<Self, String> {
        let mut days = BTreeSet::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let date = line
                .split_whitespace()
                .next()
                .and_then(|d| d.parse::<NaiveDate>().ok())
                .ok_or_else(|| format!("line {}: no date in {line:?}", n + 1))?;
            if !days.insert(date) {
                return Err(format!("line {}: {date} is listed twice", n + 1));
            }
        }
        let last = days.last().ok_or("the calendar lists no days")?;
        let ends = NaiveDate::from_ymd_opt(last.year(), 12, 31).ok_or("a date out of range")?;
        Ok(BankHolidayCalendar { days, ends })
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        self.days.contains(&date)
    }

    /// The bank holidays from `from` to `to` inclusive.
    pub fn between(&self, from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> + '_ {
        self.days.range(from..=to).copied()
    }

    /// The last day the calendar covers: after it, no date is known to be a bank holiday.
    pub fn ends(&self) -> NaiveDate {
        self.ends
    }
}

impl BankHolidayRegion {
    /// The built-in calendar of the region (`data/bank-holidays/` in this crate).
    pub fn calendar(self) -> &'static BankHolidayCalendar {
        static CALENDARS: OnceLock<[BankHolidayCalendar; 3]> = OnceLock::new();
        let [england_and_wales, scotland, northern_ireland] = CALENDARS.get_or_init(|| {
            let parse = |text: &str| {
                // The files are part of the build and checked by this crate's tests; an
                // unreadable one would be an empty calendar ending before any real date.
                BankHolidayCalendar::parse(text).unwrap_or(BankHolidayCalendar {
                    days: BTreeSet::new(),
                    ends: NaiveDate::MIN,
                })
            };
            [
                parse(include_str!("../data/bank-holidays/england_and_wales.txt")),
                parse(include_str!("../data/bank-holidays/scotland.txt")),
                parse(include_str!("../data/bank-holidays/northern_ireland.txt")),
            ]
        });
        match self {
            BankHolidayRegion::EnglandAndWales => england_and_wales,
            BankHolidayRegion::Scotland => scotland,
            BankHolidayRegion::NorthernIreland => northern_ireland,
        }
    }
}

/// The last day every built-in calendar covers.
pub fn calendars_end() -> NaiveDate {
    BankHolidayRegion::ALL
        .iter()
        .map(|r| r.calendar().ends())
        .min()
        .unwrap_or(NaiveDate::MIN)
}

/// A warning for operators once `today` is within a year of the built-in calendars' end:
/// after it, bank holidays would price as ordinary days.
pub fn calendar_warning(today: NaiveDate) -> Option<String> {
    let ends = calendars_end();
    (today + chrono::Months::new(12) > ends).then(|| {
        format!(
            "the built-in bank-holiday calendars end on {ends}: add the government's next \
             published dates (see README, \"Bank holidays\")"
        )
    })
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

    #[test]
    fn reads_iso_dates_as_chrono_does() {
        for text in ["2025-04-01", "2024-02-29", "0001-01-01", "9999-12-31"] {
            assert_eq!(
                parse_iso(text),
                Some(NaiveDate::parse_from_str(text, "%F").unwrap()),
                "{text}"
            );
        }
        for text in [
            "2025-02-29",
            "2025-13-01",
            "2025-4-01",
            "2025/04/01",
            "20250401",
            "2025-04-0x",
        ] {
            assert_eq!(parse_iso(text), None, "{text}");
        }
        // Through serde: the same dates and the same errors as chrono's own.
        #[derive(serde::Deserialize)]
        struct Dated {
            #[serde(deserialize_with = "iso_date")]
            on: NaiveDate,
        }
        for json in [
            r#"{"on":"2025-04-01"}"#,
            r#"{"on":"+2025-04-01"}"#,
            r#"{"on":"2025-02-29"}"#,
            r#"{"on":"2025-4-1"}"#,
            r#"{"on":"1 April 2025"}"#,
            r#"{"on":20250401}"#,
            r#"{"on":null}"#,
        ] {
            let ours = serde_json::from_str::<Dated>(json).map(|d| d.on);
            let chronos = serde_json::from_str::<serde_json::Value>(json)
                .unwrap()
                .get("on")
                .cloned()
                .map(serde_json::from_value::<NaiveDate>)
                .unwrap();
            match (ours, chronos) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{json}"),
                (Err(a), Err(b)) => assert!(
                    a.to_string().starts_with(&b.to_string()),
                    "{json}: {a} against {b}"
                ),
                (a, b) => panic!("{json}: {a:?} against {b:?}"),
            }
        }
    }

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
            let date = d(date);
            assert_eq!(day_category(date, bank.contains(&date)), expected, "{date}");
        }
    }

    #[test]
    fn the_built_in_calendars_parse_whole() {
        for (region, text) in [
            (
                BankHolidayRegion::EnglandAndWales,
                include_str!("../data/bank-holidays/england_and_wales.txt"),
            ),
            (
                BankHolidayRegion::Scotland,
                include_str!("../data/bank-holidays/scotland.txt"),
            ),
            (
                BankHolidayRegion::NorthernIreland,
                include_str!("../data/bank-holidays/northern_ireland.txt"),
            ),
        ] {
            let parsed = BankHolidayCalendar::parse(text).unwrap();
            let listed = text.lines().filter(|l| !l.starts_with('#')).count();
            assert_eq!(region.calendar().days.len(), listed, "{region}");
            assert_eq!(parsed.ends(), d("2030-12-31"), "{region}");
            // Every holiday is taken on a weekday (substitute days included).
            for day in &parsed.days {
                assert!(day.weekday().number_from_monday() <= 5, "{region} {day}");
            }
        }
        assert!(BankHolidayCalendar::parse("2025-13-01 Nonsense").is_err());
        assert!(BankHolidayCalendar::parse("2025-12-25 A\n2025-12-25 B").is_err());
    }

    /// Days from the government's published lists, with the substitute days and the
    /// one-off holidays that a rule would miss.
    #[test]
    fn published_days_by_region() {
        use BankHolidayRegion::*;
        let cases = [
            (EnglandAndWales, "2026-04-03", true), // Good Friday
            (EnglandAndWales, "2026-04-06", true), // Easter Monday
            (EnglandAndWales, "2027-01-01", true),
            (EnglandAndWales, "2026-12-28", true), // Boxing Day on a Saturday
            (EnglandAndWales, "2022-12-27", true), // Christmas Day on a Sunday
            (EnglandAndWales, "2022-09-19", true), // the Queen's funeral
            (EnglandAndWales, "2023-05-08", true), // the coronation
            (EnglandAndWales, "2020-05-08", true), // VE day, not 4 May
            (EnglandAndWales, "2020-05-04", false),
            (EnglandAndWales, "2022-06-03", true), // Platinum Jubilee
            (EnglandAndWales, "2022-05-30", false),
            (EnglandAndWales, "2026-08-31", true),
            (EnglandAndWales, "2026-08-03", false),
            (EnglandAndWales, "2026-11-30", false),
            (EnglandAndWales, "2026-03-17", false),
            (Scotland, "2026-04-06", false), // no Easter Monday
            (Scotland, "2026-01-02", true),
            (Scotland, "2026-08-03", true), // first Monday in August
            (Scotland, "2026-08-31", false),
            (Scotland, "2025-12-01", true), // St Andrew's Day on a Sunday
            (Scotland, "2022-01-04", true),
            (NorthernIreland, "2026-03-17", true),
            (NorthernIreland, "2024-03-18", true), // St Patrick's Day on a Sunday
            (NorthernIreland, "2025-07-14", true), // the Boyne on a Saturday
            (NorthernIreland, "2026-04-06", true),
        ];
        for (region, date, expected) in cases {
            assert_eq!(
                region.calendar().contains(d(date)),
                expected,
                "{region} {date}"
            );
        }
        let counts = |region: BankHolidayRegion, year: i32| {
            let (from, to) = (
                NaiveDate::from_ymd_opt(year, 1, 1).unwrap(),
                NaiveDate::from_ymd_opt(year, 12, 31).unwrap(),
            );
            region.calendar().between(from, to).count()
        };
        for year in 2020..=2030 {
            let extra = match year {
                2022 => 2, // the Jubilee and the funeral
                2023 => 1, // the coronation
                _ => 0,
            };
            assert_eq!(counts(EnglandAndWales, year), 8 + extra, "{year}");
            assert_eq!(counts(Scotland, year), 9 + extra, "{year}");
            assert_eq!(counts(NorthernIreland, year), 10 + extra, "{year}");
        }
    }

    #[test]
    fn operators_are_warned_a_year_before_the_calendars_end() {
        assert_eq!(calendars_end(), d("2030-12-31"));
        assert_eq!(calendar_warning(d("2029-12-31")), None);
        let warning = calendar_warning(d("2030-01-01")).unwrap();
        assert!(warning.contains("2030-12-31"), "{warning}");
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
