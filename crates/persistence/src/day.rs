//! Dates read in bulk. SQLite keeps a date as `YYYY-MM-DD` text, which diesel reads
//! through chrono's format-string parser: a quarter of a microsecond a date, and budget
//! monitoring reads a year's claim lines and a nation's agreements, millions of dates.
//! [`Day`] reads the ten bytes directly (anything else through chrono, as before);
//! PostgreSQL's binary dates are read as they always are.

use chrono::NaiveDate;
use dayops_domain::calendar::parse_iso;
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

macro_rules! optional_day {
    ($backend:ty) => {
        impl FromSql<Nullable<Date>, $backend> for OptionalDay {
            fn from_sql(
                value: <$backend as diesel::backend::Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                <Day as FromSql<Date, $backend>>::from_sql(value)
                    .map(|day| OptionalDay(Some(day.0)))
            }

            fn from_nullable_sql(
                value: Option<<$backend as diesel::backend::Backend>::RawValue<'_>>,
            ) -> deserialize::Result<Self> {
                match value {
                    Some(value) => <Self as FromSql<Nullable<Date>, $backend>>::from_sql(value),
                    None => Ok(OptionalDay(None)),
                }
            }
        }
    };
}

optional_day!(MultiBackend);
optional_day!(Sqlite);
optional_day!(Pg);
