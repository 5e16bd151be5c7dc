//! Dates read in bulk. SQLite keeps a date as `YYYY-MM-DD` text, which diesel reads
//! through chrono's format-string parser: a quarter of a microsecond a date, and budget
//! monitoring reads a year's claim lines and a nation's agreements, millions of dates.
//! [`Day`] reads the ten bytes directly (anything else through chrono, as before);
//! PostgreSQL's binary dates are read as they always are.

use chrono::NaiveDate;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::{Date, Nullable};
use diesel::sqlite::Sqlite;

use crate::DbConnection;

/// The back end of [`DbConnection`], either of the two.
type MultiBackend = <DbConnection as diesel::Connection>::Backend;

/// A date column, decoded without chrono's parser on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, FromSqlRow)]
#[diesel(sql_type = Date)]
pub struct Day(pub NaiveDate);

impl From<Day> for NaiveDate {
    fn from(day: Day) -> NaiveDate {
        day.0
    }
}

/// `YYYY-MM-DD`, four-digit year, or none.
fn parse_iso(text: &str) -> Option<NaiveDate> {
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

impl FromSql<Date, Sqlite> for Day {
    fn from_sql(
        mut value: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let text = value.read_text();
        match parse_iso(text) {
            Some(date) => Ok(Day(date)),
            None => Ok(Day(NaiveDate::parse_from_str(text, "%F")?)),
        }
    }
}

impl FromSql<Date, Pg> for Day {
    fn from_sql(
        value: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <NaiveDate as FromSql<Date, Pg>>::from_sql(value).map(Day)
    }
}

impl FromSql<Date, MultiBackend> for Day {
    fn from_sql(
        value: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        value.from_sql::<Self, Date>()
    }
}

/// A nullable date column, decoded as [`Day`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
#[diesel(sql_type = Nullable<Date>)]
pub struct OptionalDay(pub Option<NaiveDate>);

impl From<OptionalDay> for Option<NaiveDate> {
    fn from(day: OptionalDay) -> Option<NaiveDate> {
        day.0
    }
}

impl FromSql<Nullable<Date>, MultiBackend> for OptionalDay {
    fn from_sql(
        value: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <Day as FromSql<Date, MultiBackend>>::from_sql(value).map(|day| OptionalDay(Some(day.0)))
    }

    fn from_nullable_sql(
        value: Option<<MultiBackend as diesel::backend::Backend>::RawValue<'_>>,
    ) -> deserialize::Result<Self> {
        match value {
            Some(value) => Self::from_sql(value),
            None => Ok(OptionalDay(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_chrono_reads() {
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
    }
}
