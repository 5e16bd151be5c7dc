//! Vocabulary columns read in bulk, decoded from the column's bytes straight into their
//! enum, without a `String` each: budget monitoring reads a year's claim lines (half a
//! million in the benchmark's nation), each with an item, a session type and its claim's
//! status. A value outside the vocabulary fails the read, as [`crate::error::vocab`] does.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use dayops_domain::submission::SubmissionStatus;
use dayops_domain::types::{Item, SessionType};

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
