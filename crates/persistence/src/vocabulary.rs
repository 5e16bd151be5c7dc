//! Columns read in bulk, decoded from the column's bytes straight into their type, without
//! a `String` each: budget monitoring reads a year's claim lines (half a million in the
//! benchmark's nation), each with an item, a session type and its claim's status, and the
//! agreements in force in the year (200,000), each with three vocabulary columns and three
//! JSON ones. A value outside the vocabulary fails the read, as [`crate::error::vocab`]
//! does; so does JSON that does not parse, as [`crate::error::from_json`] does.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use dayops_domain::agreement::{AssessedBand, PlannedSession, Suspension};
use dayops_domain::submission::SubmissionStatus;
use dayops_domain::types::{DayCategory, Funding, Item, Pathway, SessionType, SupportReason};

use crate::DbConnection;

/// The back end of [`DbConnection`], either of the two.
type MultiBackend = <DbConnection as diesel::Connection>::Backend;

/// `text` as a value of the vocabulary `parse` reads, or an error naming `column`.
fn parse<T>(text: &str, column: &str, parse: impl Fn(&str) -> Option<T>) -> deserialize::Result<T> {
    parse(text).ok_or_else(|| format!("{column} holds {text:?}, not in its vocabulary").into())
}

macro_rules! vocabulary_column {
    ($(#[$doc:meta])* $name:ident($ty:ty), $column:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub struct $name(pub $ty);

        impl FromSql<Text, Sqlite> for $name {
            fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                parse(value.read_text(), $column, <$ty>::parse).map($name)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                parse(std::str::from_utf8(value.as_bytes())?, $column, <$ty>::parse).map($name)
            }
        }

        impl FromSql<Text, MultiBackend> for $name {
            fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                value.from_sql::<Self, Text>()
            }
        }
    };
}

vocabulary_column!(
    /// A submission's status column.
    StoredStatus(SubmissionStatus),
    "submissions.status"
);
vocabulary_column!(
    /// A claim line's item column.
    StoredItem(Item),
    "claim_lines.item"
);
vocabulary_column!(
    /// A claim line's session type column (nullable: `Option<StoredSessionType>`).
    StoredSessionType(SessionType),
    "claim_lines.session_type"
);
vocabulary_column!(
    /// A rate cell's day category column.
    StoredDayCategory(DayCategory),
    "rate_cells.day_category"
);
vocabulary_column!(
    /// An agreement's pathway column.
    StoredPathway(Pathway),
    "agreements.pathway"
);
vocabulary_column!(
    /// An agreement's funding column.
    StoredFunding(Funding),
    "agreements.funding"
);
vocabulary_column!(
    /// An agreement's support reason column (nullable: `Option<StoredSupportReason>`).
    StoredSupportReason(SupportReason),
    "agreements.primary_support_reason"
);

/// `text` parsed as the JSON of `T`, or an error naming `column`.
fn json<T: serde::de::DeserializeOwned>(text: &str, column: &str) -> deserialize::Result<T> {
    serde_json::from_str(text)
        .map_err(|e| format!("{column} holds JSON that does not read: {e}").into())
}

macro_rules! json_column {
    ($(#[$doc:meta])* $name:ident($ty:ty), $column:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub struct $name(pub $ty);

        impl FromSql<Text, Sqlite> for $name {
            fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                json(value.read_text(), $column).map($name)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                json(std::str::from_utf8(value.as_bytes())?, $column).map($name)
            }
        }

        impl FromSql<Text, MultiBackend> for $name {
            fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                value.from_sql::<Self, Text>()
            }
        }
    };
}

json_column!(
    /// An agreement's assessed bands, JSON in a text column.
    StoredBands(Vec<AssessedBand>),
    "agreements.need_bands"
);
json_column!(
    /// An agreement's planned sessions, JSON in a text column.
    StoredSessions(Vec<PlannedSession>),
    "agreements.planned_sessions"
);
json_column!(
    /// An agreement's suspensions, JSON in a text column.
    StoredSuspensions(Vec<Suspension>),
    "agreements.suspensions"
);
