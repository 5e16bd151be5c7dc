//! Columns read in bulk, decoded from the column's bytes straight into their type, without
//! a `String` each: budget monitoring reads a year's claim lines (half a million in the
//! benchmark's nation), each with an item, a session type and its claim's status, and the
//! agreements in force in the year (200,000), each with two vocabulary columns and three
//! JSON ones. A value outside the vocabulary fails the read, as [`crate::error::vocab`]
//! does; so does JSON that does not parse, as [`crate::error::from_json`] does.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use dayops_domain::agreement::{AssessedBand, PlannedSession, Suspension};
use dayops_domain::submission::SubmissionStatus;
use dayops_domain::types::{DayCategory, Funding, Item, SessionType, SupportReason, Weekday};

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
    ($(#[$doc:meta])* $name:ident(Vec<$ty:ty>), $column:literal, $as_written:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub struct $name(pub Vec<$ty>);

        impl FromSql<Text, Sqlite> for $name {
            fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                stored_json(value.read_text(), $column, $as_written).map($name)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                stored_json(std::str::from_utf8(value.as_bytes())?, $column, $as_written).map($name)
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
    "agreements.need_bands",
    band_as_written
);
json_column!(
    /// An agreement's planned sessions, JSON in a text column.
    StoredSessions(Vec<PlannedSession>),
    "agreements.planned_sessions",
    session_as_written
);
json_column!(
    /// An agreement's suspensions, JSON in a text column.
    StoredSuspensions(Vec<Suspension>),
    "agreements.suspensions",
    suspension_as_written
);

/// A JSON array column's elements: read as the store writes them when the text is in
/// exactly that spelling ([`written_array`]), and by serde otherwise.
fn stored_json<T: serde::de::DeserializeOwned>(
    text: &str,
    column: &str,
    element: Element<T>,
) -> deserialize::Result<Vec<T>> {
    match written_array(text, element) {
        Some(values) => Ok(values),
        None => json(text, column),
    }
}

/// The objects of a JSON array in the one spelling serde writes an agreement's plan in
/// (`[{"a":"x","b":"y"},…]`: fields in declaration order, no spaces), each read by
/// `element` from the text after its `{` up to its `}` and what follows; none for any
/// other spelling, which serde then reads. serde took a sixth of reading a nation's
/// 200,000 agreements; this takes a fraction of that. Each element reader accepts only
/// text serde reads to the same value (the tests hold it to that), so the two never
/// disagree.
fn written_array<T>(text: &str, element: Element<T>) -> Option<Vec<T>> {
    let mut rest = text.strip_prefix('[')?;
    let mut values = Vec::new();
    if rest == "]" {
        return Some(values);
    }
    loop {
        let (value, after) = element(rest.strip_prefix('{')?)?;
        values.push(value);
        match after {
            "]" => return Some(values),
            _ => rest = after.strip_prefix(',')?,
        }
    }
}

/// Reads one object's fields, up to and past its `}`: its value and what follows.
type Element<T> = fn(&str) -> Option<(T, &str)>;

/// The text of a JSON string that needs no unescaping: no quote, backslash or control
/// character (serde refuses the last raw).
fn plain(text: &str) -> Option<&str> {
    (!text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)).then_some(text)
}

/// `"name":"value"` at the start of `text`, then a comma, or the object's `}` if it is
/// the last: the value (plain) and what follows.
fn field<'t>(text: &'t str, name: &str, last: bool) -> Option<(&'t str, &'t str)> {
    let rest = text
        .strip_prefix('"')?
        .strip_prefix(name)?
        .strip_prefix("\":\"")?;
    let (value, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(if last { '}' } else { ',' })?;
    Some((plain(value)?, rest))
}

fn band_as_written(text: &str) -> Option<(AssessedBand, &str)> {
    let (from, rest) = field(text, "from", false)?;
    let (band, rest) = field(rest, "band", true)?;
    let band = AssessedBand {
        from: dayops_domain::calendar::parse_iso(from)?,
        band: band.to_string(),
    };
    Some((band, rest))
}

fn session_as_written(text: &str) -> Option<(PlannedSession, &str)> {
    let (weekday, rest) = field(text, "weekday", false)?;
    let (session_type, rest) = field(rest, "session_type", true)?;
    let session = PlannedSession {
        weekday: Weekday::parse(weekday)?,
        session_type: SessionType::parse(session_type)?,
    };
    Some((session, rest))
}

fn suspension_as_written(text: &str) -> Option<(Suspension, &str)> {
    let (from, rest) = field(text, "from", false)?;
    let (to, rest) = field(rest, "to", false)?;
    let (reason, rest) = field(rest, "reason", true)?;
    let suspension = Suspension {
        from: dayops_domain::calendar::parse_iso(from)?,
        to: dayops_domain::calendar::parse_iso(to)?,
        reason: reason.to_string(),
    };
    Some((suspension, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fast reader, and serde's, of one column's text.
    fn both<T: serde::de::DeserializeOwned>(
        text: &str,
        element: Element<T>,
    ) -> (Option<Vec<T>>, Option<Vec<T>>) {
        (
            written_array(text, element),
            serde_json::from_str(text).ok(),
        )
    }

    #[test]
    fn plans_as_the_store_writes_them_are_read_without_serde() {
        let bands = r#"[{"from":"2025-04-01","band":"low"},{"from":"2025-10-01","band":"high"}]"#;
        let (fast, serde) = both(bands, band_as_written);
        assert_eq!(fast.as_ref().map(Vec::len), Some(2));
        assert_eq!(fast, serde);
        let sessions = r#"[{"weekday":"monday","session_type":"am"}]"#;
        let (fast, serde) = both(sessions, session_as_written);
        assert_eq!(fast.as_ref().map(Vec::len), Some(1));
        assert_eq!(fast, serde);
        assert_eq!(written_array("[]", suspension_as_written), Some(Vec::new()));
    }

    #[test]
    fn any_other_spelling_is_left_to_serde() {
        for text in [
            r#"[ {"from":"2025-04-01","band":"low"}]"#,
            r#"[{"band":"low","from":"2025-04-01"}]"#,
            r#"[{"from":"2025-04-01","band":"lo\u0077"}]"#,
            r#"[{"from":"2025-04-01","band":"low"}"#,
            r#"[{"from":"2025-04-01","band":"low"},]"#,
            r#"[{"from":"2025-4-1","band":"low"}]"#,
            r#"[{"from":"2025-04-01","band":"low","extra":"x"}]"#,
            "[{\"from\":\"2025-04-01\",\"band\":\"tab\there\"}]",
        ] {
            assert_eq!(written_array(text, band_as_written), None, "{text}");
        }
        // Braces and commas inside a name are the name's.
        let (fast, serde) = both(r#"[{"from":"2025-04-01","band":"a},{b"}]"#, band_as_written);
        assert_eq!(fast.unwrap()[0].band, "a},{b");
        assert_eq!(serde.unwrap()[0].band, "a},{b");
        // serde reads some of those, and stored text is read whichever way it is spelt.
        let escaped = stored_json(
            r#"[{"band":"lo\u0077","from":"2025-04-01"}]"#,
            "agreements.need_bands",
            band_as_written,
        )
        .unwrap();
        assert_eq!(escaped[0].band, "low");
        assert!(stored_json("[{", "agreements.need_bands", band_as_written).is_err());
    }

    fn date() -> impl Strategy<Value = chrono::NaiveDate> {
        (0i64..40_000).prop_map(|d| {
            chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap() + chrono::Days::new(d as u64)
        })
    }

    proptest! {
        /// What serde writes, the fast reader reads back to the same values.
        #[test]
        fn written_plans_read_back(
            bands in proptest::collection::vec((date(), "\\PC{0,12}"), 0..4),
            sessions in proptest::collection::vec((0usize..7, 0usize..3), 0..10),
            suspensions in proptest::collection::vec((date(), date(), "\\PC{0,20}"), 0..3),
        ) {
            let bands: Vec<AssessedBand> = bands
                .into_iter()
                .map(|(from, band)| AssessedBand { from, band })
                .collect();
            let sessions: Vec<PlannedSession> = sessions
                .into_iter()
                .map(|(w, s)| PlannedSession {
                    weekday: Weekday::ALL[w % Weekday::ALL.len()],
                    session_type: SessionType::ALL[s % SessionType::ALL.len()],
                })
                .collect();
            let suspensions: Vec<Suspension> = suspensions
                .into_iter()
                .map(|(from, to, reason)| Suspension { from, to, reason })
                .collect();
            let text = serde_json::to_string(&bands).unwrap();
            prop_assert_eq!(stored_json(&text, "b", band_as_written).unwrap(), bands.clone());
            // Plain names are read without serde.
            if bands.iter().all(|b| plain(&b.band).is_some()) {
                prop_assert_eq!(written_array(&text, band_as_written), Some(bands));
            }
            let text = serde_json::to_string(&sessions).unwrap();
            prop_assert_eq!(written_array(&text, session_as_written), Some(sessions));
            let text = serde_json::to_string(&suspensions).unwrap();
            prop_assert_eq!(stored_json(&text, "s", suspension_as_written).unwrap(), suspensions);
        }

        /// Whatever the fast reader reads, serde reads to the same values: written plans
        /// with a few characters changed, inserted or removed.
        #[test]
        fn the_fast_reader_never_disagrees_with_serde(
            which in 0usize..3,
            edits in proptest::collection::vec(
                (0usize..200, 0usize..3, proptest::sample::select(
                    vec!['"', '\\', ',', '{', '}', '[', ']', ':', ' ', '\t', 'a', 'm', '0', '-', 'u'],
                )),
                1..4,
            ),
        ) {
            let written = [
                r#"[{"from":"2025-04-01","band":"low"},{"from":"2025-10-01","band":"high"}]"#,
                r#"[{"weekday":"monday","session_type":"am"},{"weekday":"friday","session_type":"pm"}]"#,
                r#"[{"from":"2025-05-01","to":"2025-05-20","reason":"hospital"}]"#,
            ][which];
            let mut text: Vec<char> = written.chars().collect();
            for (at, how, c) in edits {
                let at = at % (text.len() + 1);
                match how {
                    0 if at < text.len() => text[at] = c,
                    1 => text.insert(at, c),
                    _ if at < text.len() => { text.remove(at); }
                    _ => {}
                }
            }
            let text: String = text.into_iter().collect();
            let (fast, serde) = both(&text, band_as_written);
            if fast.is_some() { prop_assert_eq!(fast, serde); }
            let (fast, serde) = both(&text, session_as_written);
            if fast.is_some() { prop_assert_eq!(fast, serde); }
            let (fast, serde) = both(&text, suspension_as_written);
            if fast.is_some() { prop_assert_eq!(fast, serde); }
        }
    }
}
