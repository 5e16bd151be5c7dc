//! The council's vocabulary: enumerations and exact quantities.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// A closed vocabulary: the one mapping between a value and its word, used alike in JSON,
/// in the database and in CSV.
pub trait Vocabulary: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
    fn parse(text: &str) -> Option<Self>;
}

/// Declares a closed vocabulary as a snake_case enum with `as_str`/`parse`, so the same
/// words are used in JSON, in the database and in CSV.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl $crate::types::Vocabulary for $name {
            const ALL: &'static [Self] = $name::ALL;

            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }

            fn parse(text: &str) -> Option<Self> {
                $name::parse(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary!(
    /// Whether a provider may currently deliver and submit.
    ProviderStatus { Active => "active", Suspended => "suspended" }
);

vocabulary!(
    /// A contract is `active` while services are bought under it.
    ContractStatus { Active => "active", Suspended => "suspended", Ended => "ended" }
);

vocabulary!(
    /// The kind of day opportunity a contract buys.
    ServiceType {
        BuildingBased => "building_based",
        Community => "community",
        Specialist => "specialist",
        Enablement => "enablement",
        SupportedEmployment => "supported_employment",
    }
);

vocabulary!(
    /// How claims are periodised.
    PaymentPeriod { Weekly => "weekly", FourWeekly => "four_weekly", Monthly => "monthly" }
);

vocabulary!(
    /// Which of the UK's built-in bank-holiday calendars a contract is priced by.
    BankHolidayRegion {
        EnglandAndWales => "england_and_wales",
        Scotland => "scotland",
        NorthernIreland => "northern_ireland",
    }
);

impl Default for BankHolidayRegion {
    /// Most councils that buy day opportunities are in England.
    fn default() -> Self {
        BankHolidayRegion::EnglandAndWales
    }
}

vocabulary!(
    /// Session types a day service runs.
    SessionType { Am => "am", Pm => "pm", FullDay => "full_day", Evening => "evening" }
);

vocabulary!(
    /// What a rate cell prices.
    Item {
        Session => "session",
        OneToOneHour => "one_to_one_hour",
        TransportJourney => "transport_journey",
        Meal => "meal",
    }
);

vocabulary!(
    /// Day category a rate cell applies to; `any` is the fallback.
    DayCategory { Weekday => "weekday", Weekend => "weekend", BankHoliday => "bank_holiday", Any => "any" }
);

vocabulary!(
    /// Reasons an absence can be recorded with.
    AbsenceReason {
        Illness => "illness",
        Hospital => "hospital",
        Holiday => "holiday",
        Family => "family",
        Transport => "transport",
        Unknown => "unknown",
        Other => "other",
    }
);

vocabulary!(
    /// The purpose of a placement.
    Pathway { Enabling => "enabling", Therapeutic => "therapeutic" }
);

vocabulary!(
    /// Why the person is supported: the council's primary support reason (the national
    /// short- and long-term support return's categories, grouped).
    SupportReason {
        LearningDisability => "learning_disability",
        Autism => "autism",
        Physical => "physical",
        Sensory => "sensory",
        MentalHealth => "mental_health",
        Dementia => "dementia",
        Other => "other",
    }
);

vocabulary!(
    /// How a placement is funded.
    Funding {
        Commissioned => "commissioned",
        DirectPayment => "direct_payment",
        IndividualServiceFund => "individual_service_fund",
    }
);

// The vocabulary macro declares the enum, so its default is written out here.
#[allow(clippy::derivable_impls)]
impl Default for Funding {
    fn default() -> Self {
        Funding::Commissioned
    }
}

vocabulary!(
    /// Days of the week, for planned sessions.
    Weekday {
        Monday => "monday",
        Tuesday => "tuesday",
        Wednesday => "wednesday",
        Thursday => "thursday",
        Friday => "friday",
        Saturday => "saturday",
        Sunday => "sunday",
    }
);

impl Weekday {
    pub fn of(date: chrono::NaiveDate) -> Self {
        use chrono::Datelike;
        match date.weekday() {
            chrono::Weekday::Mon => Weekday::Monday,
            chrono::Weekday::Tue => Weekday::Tuesday,
            chrono::Weekday::Wed => Weekday::Wednesday,
            chrono::Weekday::Thu => Weekday::Thursday,
            chrono::Weekday::Fri => Weekday::Friday,
            chrono::Weekday::Sat => Weekday::Saturday,
            chrono::Weekday::Sun => Weekday::Sunday,
        }
    }
}

vocabulary!(
    /// Roles a bearer token can carry (SPEC §2).
    Role { Provider => "provider", Commissioner => "commissioner", Auditor => "auditor" }
);

/// A number held exactly as a whole number of quarter-units (`u32`), in JSON a decimal
/// (`2.75`). Every multiple of 0.25 is exact in binary floating point, so the round trip
/// loses nothing; anything else, negative or out of range is refused when read.
macro_rules! quarter_units {
    ($(#[$meta:meta])* $name:ident, $description:literal, $example:literal, $refusal:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(u32);

        impl $name {
            pub const ZERO: $name = $name(0);

            pub fn from_quarters(quarters: u32) -> Self {
                $name(quarters)
            }

            /// The value in quarter-units (a whole unit is 4).
            pub fn quarters(self) -> u32 {
                self.0
            }

            /// Exact conversion from a decimal; `None` unless it is a non-negative
            /// multiple of 0.25 within range.
            pub fn from_f64(value: f64) -> Option<Self> {
                quarter_steps(value).map($name)
            }

            pub fn as_f64(self) -> f64 {
                f64::from(self.0) / 4.0
            }

            pub fn is_whole(self) -> bool {
                self.0.is_multiple_of(4)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
                    .minimum(Some(0.0))
                    .maximum(Some(f64::from(MAX_QUARTER_UNITS)))
                    .multiple_of(Some(0.25))
                    .description(Some($description))
                    .examples([serde_json::json!($example)])
                    .into()
            }
        }

        impl ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.as_f64())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_f64(self.as_f64())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = f64::deserialize(deserializer)?;
                $name::from_f64(value).ok_or_else(|| serde::de::Error::custom($refusal))
            }
        }
    };
}

/// The largest value quarter-units hold (in units, not quarters).
pub const MAX_QUARTER_UNITS: u32 = u32::MAX / 4;

/// `value` × 4 when `value` is a non-negative multiple of 0.25 that fits in quarter-units.
fn quarter_steps(value: f64) -> Option<u32> {
    if !value.is_finite() || value < 0.0 || value > f64::from(MAX_QUARTER_UNITS) {
        return None;
    }
    let quarters = value * 4.0;
    if quarters.fract() != 0.0 {
        return None;
    }
    // The range check above keeps this cast lossless.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(quarters as u32)
}

quarter_units!(
    /// A quantity of hours held exactly as a whole number of quarter-hours.
    Hours,
    "Hours, in steps of 0.25 (stored exactly as quarter-hours).",
    3.0,
    "hours must be a non-negative multiple of 0.25, at most 1073741823"
);

quarter_units!(
    /// A claimed quantity, held exactly as quarter-units: sessions, days, journeys and
    /// meals come in wholes, one-to-one hours in steps of 0.25. Which items may be
    /// fractional is the claim's shape rule (`ClaimInput::check_shape`); the type only
    /// refuses what no item allows.
    Quantity,
    "Whole numbers, except one-to-one hours (steps of 0.25); held exactly.",
    1,
    "must be a non-negative whole number, or hours in steps of 0.25, at most 1073741823"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_quarter_units_exactly() {
        for (json, quarters) in [("1", Some(4)), ("2.75", Some(11)), ("0", Some(0))] {
            let q: Result<Quantity, _> = serde_json::from_str(json);
            assert_eq!(q.ok().map(Quantity::quarters), quarters, "{json}");
        }
        for json in ["0.3", "-1", "1e300", "\"1\""] {
            assert!(serde_json::from_str::<Quantity>(json).is_err(), "{json}");
        }
        assert!(Quantity::from_quarters(8).is_whole());
        assert!(!Quantity::from_quarters(9).is_whole());
        assert_eq!(
            serde_json::to_string(&Quantity::from_quarters(9)).unwrap(),
            "2.25"
        );
    }

    #[test]
    fn hours_accept_only_quarter_steps() {
        for (input, expected) in [
            (0.0, Some(0)),
            (0.25, Some(1)),
            (2.75, Some(11)),
            (24.0, Some(96)),
            (0.1, None),
            (-0.25, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ] {
            assert_eq!(
                Hours::from_f64(input).map(Hours::quarters),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn hours_round_trip_through_json() {
        let h: Hours = serde_json::from_str("3.25").unwrap();
        assert_eq!(h.quarters(), 13);
        assert_eq!(serde_json::to_string(&h).unwrap(), "3.25");
        assert!(serde_json::from_str::<Hours>("3.3").is_err());
    }

    #[test]
    fn vocabularies_round_trip() {
        for s in SessionType::ALL {
            assert_eq!(SessionType::parse(s.as_str()), Some(*s));
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(Item::parse("one_to_one_hour"), Some(Item::OneToOneHour));
        assert_eq!(DayCategory::parse("holiday"), None);
    }
}
