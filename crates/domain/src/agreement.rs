//! Service agreements: the council's service orders placing a person with a provider.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::calendar::within;
use crate::contract::ContractInput;
use crate::error::FieldErrors;
use crate::types::{Funding, Hours, Pathway, SessionType, SupportReason, Weekday};

/// The need band a social worker assessed, in force from `from` until the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessedBand {
    // Read by the hundred thousand from stored plans (see `calendar::parse_iso`).
    #[serde(deserialize_with = "crate::calendar::iso_date")]
    pub from: NaiveDate,
    #[schema(example = "high")]
    pub band: String,
}

/// A session the person is planned to attend every week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedSession {
    pub weekday: Weekday,
    pub session_type: SessionType,
}

/// A period in which the placement is paused (hospital stay, respite, review).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    #[serde(deserialize_with = "crate::calendar::iso_date")]
    pub from: NaiveDate,
    #[serde(deserialize_with = "crate::calendar::iso_date")]
    pub to: NaiveDate,
    #[schema(max_length = 200, example = "hospital admission")]
    pub reason: String,
}

/// One agreement as the case-management export sends it. The API stores no names,
/// addresses or dates of birth: the person is known only by the council's reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementInput {
    /// The council's person identifier (e.g. a Mosaic person id).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9_-]{1,64}$",
        example = "P100234"
    )]
    pub person_ref: String,
    /// Assessed bands in date order; the first applies from the agreement's start.
    pub need_bands: Vec<AssessedBand>,
    pub planned_sessions: Vec<PlannedSession>,
    #[serde(default)]
    pub one_to_one_hours_per_week: Hours,
    #[serde(default)]
    #[schema(minimum = 0)]
    pub transport_journeys_per_week: u32,
    /// Meals authorised a week.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2_147_483_647)]
    pub meals: u32,
    pub start_date: NaiveDate,
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    pub suspensions: Vec<Suspension>,
    pub pathway: Pathway,
    #[serde(default)]
    pub care_plan_review_due: Option<NaiveDate>,
    /// Why the person is supported, when the case record says.
    #[serde(default)]
    pub primary_support_reason: Option<SupportReason>,
    /// How the placement is funded; `commissioned` when not sent.
    #[serde(default)]
    pub funding: Funding,
}

/// An agreement's terms as budget monitoring prices them: its plan, when it is in force,
/// its bands and suspensions, and its cohort; not its pathway or review date, which a
/// nation's 200,000 agreements are read faster without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub person_ref: String,
    pub need_bands: Vec<AssessedBand>,
    pub planned_sessions: Vec<PlannedSession>,
    pub one_to_one_hours_per_week: Hours,
    pub transport_journeys_per_week: u32,
    pub meals: u32,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub suspensions: Vec<Suspension>,
    pub primary_support_reason: Option<SupportReason>,
    pub funding: Funding,
}

impl Placement {
    /// The band assessed on `date`, if the agreement had one then.
    pub fn band_on(&self, date: NaiveDate) -> Option<&str> {
        band_on(&self.need_bands, date)
    }

    pub fn suspended_on(&self, date: NaiveDate) -> bool {
        suspended_on(&self.suspensions, date)
    }

    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        within(date, self.start_date, self.end_date)
    }
}

impl From<AgreementInput> for Placement {
    fn from(a: AgreementInput) -> Self {
        Placement {
            person_ref: a.person_ref,
            need_bands: a.need_bands,
            planned_sessions: a.planned_sessions,
            one_to_one_hours_per_week: a.one_to_one_hours_per_week,
            transport_journeys_per_week: a.transport_journeys_per_week,
            meals: a.meals,
            start_date: a.start_date,
            end_date: a.end_date,
            suspensions: a.suspensions,
            primary_support_reason: a.primary_support_reason,
            funding: a.funding,
        }
    }
}

/// The band of `need_bands` (in date order) assessed on `date`.
fn band_on(need_bands: &[AssessedBand], date: NaiveDate) -> Option<&str> {
    need_bands
        .iter()
        .take_while(|b| b.from <= date)
        .last()
        .map(|b| b.band.as_str())
}

fn suspended_on(suspensions: &[Suspension], date: NaiveDate) -> bool {
    suspensions.iter().any(|s| within(date, s.from, Some(s.to)))
}

/// An agreement as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Agreement {
    pub id: String,
    pub contract_id: String,
    #[serde(flatten)]
    pub details: AgreementInput,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A person reference: letters, digits, '-' and '_' only, so it is safe in a CSV cell or
/// a URL and never carries a name.
pub fn is_person_ref(person_ref: &str) -> bool {
    !person_ref.is_empty()
        && person_ref.len() <= 64
        && person_ref
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl AgreementInput {
    /// Checks the agreement on its own and against the contract's bands and sessions.
    /// Pointers are relative to the agreement (prefix them with its place in a batch).
    pub fn validate(&self, contract: &ContractInput) -> FieldErrors {
        let mut errors = FieldErrors::new();
        errors.check(
            !is_person_ref(&self.person_ref),
            "/person_ref",
            "must be 1 to 64 letters, digits, '-' or '_'",
        );
        if let Some(end) = self.end_date {
            errors.check(
                end < self.start_date,
                "/end_date",
                "must not be before start_date",
            );
        }
        errors.check(
            self.need_bands.is_empty(),
            "/need_bands",
            "must hold the assessed band",
        );
        for (i, assessed) in self.need_bands.iter().enumerate() {
            errors.check(
                !contract.has_band(&assessed.band),
                format!("/need_bands/{i}/band"),
                format!(
                    "must be one of the contract's bands ({})",
                    contract.need_bands.join(", ")
                ),
            );
            if i == 0 {
                errors.check(
                    assessed.from > self.start_date,
                    "/need_bands/0/from",
                    "the first band must apply from the agreement's start_date",
                );
            } else {
                errors.check(
                    assessed.from <= self.need_bands[i - 1].from,
                    format!("/need_bands/{i}/from"),
                    "must be after the previous band's from",
                );
            }
        }
        let mut planned = BTreeSet::new();
        for (i, session) in self.planned_sessions.iter().enumerate() {
            errors.check(
                !contract.offers_session_type(session.session_type),
                format!("/planned_sessions/{i}/session_type"),
                "is not a session type of the contract",
            );
            errors.check(
                !planned.insert(*session),
                format!("/planned_sessions/{i}"),
                "is planned twice",
            );
        }
        errors.check(
            self.one_to_one_hours_per_week.quarters() > 7 * 24 * 4,
            "/one_to_one_hours_per_week",
            "must be at most 168",
        );
        errors.check(
            self.transport_journeys_per_week > 100,
            "/transport_journeys_per_week",
            "must be at most 100",
        );
        errors.check(self.meals > 100, "/meals", "must be at most 100");
        for (i, suspension) in self.suspensions.iter().enumerate() {
            errors.check(
                suspension.to < suspension.from,
                format!("/suspensions/{i}/to"),
                "must not be before from",
            );
            errors.check(
                suspension.reason.chars().count() > 200,
                format!("/suspensions/{i}/reason"),
                "must be at most 200 characters",
            );
        }
        errors
    }

    /// The hash the nightly upsert compares to tell an unchanged agreement. Terms added
    /// after agreements were first stored are left out while they hold their defaults, so
    /// the export that sends an agreement as before finds it unchanged across the upgrade
    /// that added them (and writes no audit event or notice for it).
    pub fn terms_sha256(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(terms) = value.as_object_mut() {
            if self.primary_support_reason.is_none() {
                terms.remove("primary_support_reason");
            }
            if self.funding == Funding::default() {
                terms.remove("funding");
            }
        }
        crate::canonical::content_sha256(&value)
    }

    /// The band assessed on `date`, if the agreement had one then.
    pub fn band_on(&self, date: NaiveDate) -> Option<&str> {
        band_on(&self.need_bands, date)
    }

    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        within(date, self.start_date, self.end_date)
    }

    pub fn suspended_on(&self, date: NaiveDate) -> bool {
        suspended_on(&self.suspensions, date)
    }

    /// The care plan review's due date, when a session on `date` comes more than
    /// [`REVIEW_GRACE_DAYS`] after it (REG-013).
    pub fn review_overdue_on(&self, date: NaiveDate) -> Option<NaiveDate> {
        self.care_plan_review_due
            .filter(|due| review_overdue(*due, date))
    }

    /// The last day of an enabling placement's time limit ([`enablement_end`]); none for
    /// a therapeutic placement, which has no time limit.
    pub fn enablement_ends(&self) -> Option<NaiveDate> {
        (self.pathway == Pathway::Enabling).then(|| enablement_end(self.start_date))
    }

    /// Whether `session_type` on `date`'s weekday is in the plan.
    pub fn plans(&self, date: NaiveDate, session_type: SessionType) -> bool {
        let weekday = Weekday::of(date);
        self.planned_sessions
            .iter()
            .any(|p| p.weekday == weekday && p.session_type == session_type)
    }
}

/// How long past its due date a care plan review may be before attendance is flagged.
pub const REVIEW_GRACE_DAYS: u64 = 28;

/// Enablement is time-limited to this many weeks from the placement's start (AGR-007).
pub const ENABLEMENT_WEEKS: u64 = 12;

/// Whether a review due on `due` is overdue on `date`: more than [`REVIEW_GRACE_DAYS`]
/// past it.
pub fn review_overdue(due: NaiveDate, date: NaiveDate) -> bool {
    date > due + Days::new(REVIEW_GRACE_DAYS)
}

/// The last day of enablement started on `start`: twelve weeks from it (the start plus 84
/// days is twelve weeks after it, and still within).
pub fn enablement_end(start: NaiveDate) -> NaiveDate {
    start + Days::new(ENABLEMENT_WEEKS * 7)
}

/// Checks a bulk upsert: every agreement, and no person twice. Pointers are into
/// `{"agreements": [...]}`.
pub fn validate_batch(agreements: &[AgreementInput], contract: &ContractInput) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let mut people = BTreeSet::new();
    for (i, agreement) in agreements.iter().enumerate() {
        for e in agreement.validate(contract).into_vec() {
            errors.push(format!("/agreements/{i}{}", e.pointer), e.detail);
        }
        errors.check(
            !people.insert(agreement.person_ref.as_str()),
            format!("/agreements/{i}/person_ref"),
            "appears earlier in this batch",
        );
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::tests::sample;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn agreement() -> AgreementInput {
        serde_json::from_value(serde_json::json!({
            "person_ref": "P100234",
            "need_bands": [{"from": "2025-04-02", "band": "medium"}, {"from": "2025-06-04", "band": "high"}],
            "planned_sessions": [{"weekday": "monday", "session_type": "am"}, {"weekday": "wednesday", "session_type": "full_day"}],
            "one_to_one_hours_per_week": 2.5,
            "start_date": "2025-04-02",
            "suspensions": [{"from": "2025-05-12", "to": "2025-05-14", "reason": "hospital admission"}],
            "pathway": "therapeutic"
        }))
        .unwrap()
    }

    #[test]
    fn terms_added_later_keep_the_hash_at_their_defaults() {
        let before = agreement();
        let mut value = serde_json::to_value(&before).unwrap();
        let terms = value.as_object_mut().unwrap();
        terms.remove("primary_support_reason");
        terms.remove("funding");
        // The hash as agreements stored before cohorts existed were given it.
        assert_eq!(
            before.terms_sha256(),
            crate::canonical::content_sha256(&value)
        );
        let mut changed = agreement();
        changed.funding = Funding::DirectPayment;
        assert_ne!(changed.terms_sha256(), before.terms_sha256());
        let mut changed = agreement();
        changed.primary_support_reason = Some(SupportReason::Autism);
        assert_ne!(changed.terms_sha256(), before.terms_sha256());
    }

    #[test]
    fn band_changes_mid_week() {
        let a = agreement();
        assert_eq!(a.band_on(d("2025-04-01")), None);
        assert_eq!(a.band_on(d("2025-04-02")), Some("medium"));
        assert_eq!(a.band_on(d("2025-06-03")), Some("medium"));
        assert_eq!(a.band_on(d("2025-06-04")), Some("high"));
    }

    #[test]
    fn suspension_and_force() {
        let a = agreement();
        assert!(!a.in_force_on(d("2025-04-01")), "starts on a Wednesday");
        assert!(a.in_force_on(d("2025-04-02")));
        assert!(!a.suspended_on(d("2025-05-11")));
        assert!(a.suspended_on(d("2025-05-12")));
        assert!(
            a.suspended_on(d("2025-05-14")),
            "a suspension ends inclusive mid-week"
        );
        assert!(!a.suspended_on(d("2025-05-15")));
        assert!(a.plans(d("2025-05-19"), SessionType::Am));
        assert!(!a.plans(d("2025-05-19"), SessionType::Pm));
    }

    #[test]
    fn validation_points_into_the_batch() {
        let contract = sample();
        let mut bad = agreement();
        bad.need_bands[1].band = "gold".into();
        bad.need_bands[0].from = d("2025-04-03");
        bad.planned_sessions.push(PlannedSession {
            weekday: Weekday::Friday,
            session_type: SessionType::Evening,
        });
        bad.suspensions[0].to = d("2025-05-01");
        let batch = [agreement(), bad, agreement()];
        let pointers: Vec<_> = validate_batch(&batch, &contract)
            .into_vec()
            .into_iter()
            .map(|e| e.pointer)
            .collect();
        assert_eq!(
            pointers,
            [
                "/agreements/1/need_bands/0/from",
                "/agreements/1/need_bands/1/band",
                "/agreements/1/planned_sessions/2/session_type",
                "/agreements/1/suspensions/0/to",
                "/agreements/1/person_ref",
                "/agreements/2/person_ref",
            ]
        );
        assert!(validate_batch(&[agreement()], &contract).is_empty());
    }
}
