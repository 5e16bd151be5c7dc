//! Outcomes measured from registers (SPEC §6): what the quarter's attendance lines show of
//! community access and outcome tags, set beside what the workbook reports (WBK-009).

use serde::Serialize;
use utoipa::ToSchema;

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::register::{AttendanceStatus, OutcomeTag, RegisterLine};

/// What one week's register shows: the distinct people who attended, those of them with
/// a session in the community, and those with a line tagged with each outcome (in the
/// order of [`OutcomeTag::ALL`]). Kept with each register version, so a quarter's
/// measures read one row a week, not every line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeekMeasures {
    pub attending: i64,
    pub in_community: i64,
    pub tagged: [i64; 6],
}

// A week's tag counts are kept in the order of the vocabulary, one column each.
const _: () = assert!(OutcomeTag::ALL.len() == 6);

impl WeekMeasures {
    /// The measures of a register's lines.
    pub fn of(lines: &[RegisterLine]) -> Self {
        Self::of_people(&PersonWeek::of(lines))
    }

    /// The measures of a week's attenders.
    pub fn of_people(people: &[PersonWeek]) -> Self {
        let mut week = WeekMeasures::default();
        for person in people {
            week.add(person);
        }
        week
    }

    /// Counts one more attender.
    pub fn add(&mut self, person: &PersonWeek) {
        self.attending += 1;
        self.in_community += i64::from(person.in_community);
        for (count, tagged) in self.tagged.iter_mut().zip(person.tagged) {
            *count += i64::from(tagged);
        }
    }

    /// Adds another group's counts for the same week (another cohort's or contract's).
    pub fn absorb(&mut self, other: &WeekMeasures) {
        self.attending += other.attending;
        self.in_community += other.in_community;
        for (count, more) in self.tagged.iter_mut().zip(other.tagged) {
            *count += more;
        }
    }
}

/// One person who attended in a register's week: whether any of their attended
/// sessions was in the community, and whether any carried each outcome tag (in the order
/// of [`OutcomeTag::ALL`]). Kept with each register version, so that a quarter's
/// measures can be broken down by the cohort of each person's agreement as it stands
/// when the report is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonWeek {
    pub person_ref: String,
    pub in_community: bool,
    pub tagged: [bool; 6],
}

impl PersonWeek {
    /// The people who attended in a register's lines, in `person_ref` order.
    pub fn of(lines: &[RegisterLine]) -> Vec<PersonWeek> {
        let mut people: BTreeMap<&str, PersonWeek> = BTreeMap::new();
        for line in lines
            .iter()
            .filter(|l| l.status == AttendanceStatus::Attended)
        {
            let person = people
                .entry(line.person_ref.as_str())
                .or_insert_with(|| PersonWeek {
                    person_ref: line.person_ref.clone(),
                    in_community: false,
                    tagged: [false; 6],
                });
            person.in_community |= line.community_access;
            for tag in &line.outcome_tags {
                if let Some(i) = OutcomeTag::ALL.iter().position(|t| t == tag) {
                    person.tagged[i] = true;
                }
            }
        }
        people.into_values().collect()
    }
}

/// The share of a week's attenders with one outcome tag, in an average week.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TagShare {
    pub tag: OutcomeTag,
    /// The mean over the weeks of the share of attenders with a line carrying the tag.
    pub share_pct: f64,
}

/// What a quarter's current, not rejected registers of a contract show, in an average
/// week (the mean over the weeks with attendance).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RegisterOutcomes {
    /// Weeks (registers starting in the quarter) with anyone attending.
    pub weeks: i64,
    /// Distinct people attending in an average week, to two places.
    pub people_attending_weekly: f64,
    /// The share of a week's attenders with a session in the community, to two places
    /// (the figure WBK-009 compares); none without attendance.
    pub community_access_pct: Option<f64>,
    /// Every outcome tag, with the share of a week's attenders it was recorded for.
    pub outcome_tags: Vec<TagShare>,
}

impl RegisterOutcomes {
    /// From the quarter's weeks.
    pub fn measure(weeks: &[WeekMeasures]) -> Self {
        let attended: Vec<&WeekMeasures> = weeks.iter().filter(|w| w.attending > 0).collect();
        let mean = |part: &dyn Fn(&WeekMeasures) -> i64| -> Option<f64> {
            if attended.is_empty() {
                return None;
            }
            let sum: f64 = attended
                .iter()
                .map(|w| part(w) as f64 * 100.0 / w.attending as f64)
                .sum();
            Some(round2(sum / attended.len() as f64))
        };
        let people = if attended.is_empty() {
            0.0
        } else {
            round2(attended.iter().map(|w| w.attending).sum::<i64>() as f64 / attended.len() as f64)
        };
        RegisterOutcomes {
            weeks: attended.len() as i64,
            people_attending_weekly: people,
            community_access_pct: mean(&|w| w.in_community),
            outcome_tags: OutcomeTag::ALL
                .iter()
                .enumerate()
                .map(|(i, &tag)| TagShare {
                    tag,
                    share_pct: mean(&|w| w.tagged[i]).unwrap_or(0.0),
                })
                .collect(),
        }
    }

    /// The register-measured figure beside a workbook KPI, where the registers measure
    /// the same thing: community access, and the share tagged with an outcome the KPI
    /// counts.
    pub fn beside_kpi(&self, code: &str) -> Option<f64> {
        let tag = match code {
            "community_access_pct" => return self.community_access_pct,
            "social_inclusion_pct" => OutcomeTag::SocialInclusion,
            "independence_pct" => OutcomeTag::Independence,
            "employment_volunteering_education_pct" => OutcomeTag::EmploymentVolunteeringEducation,
            _ => return None,
        };
        (self.weeks > 0).then(|| {
            self.outcome_tags
                .iter()
                .find(|t| t.tag == tag)
                .map_or(0.0, |t| t.share_pct)
        })
    }
}

fn round2(pct: f64) -> f64 {
    (pct * 100.0).round() / 100.0
}

crate::types::vocabulary!(
    /// How a cohort row groups people: by their agreement's primary support reason, or
    /// by its funding.
    CohortScope {
        PrimarySupportReason => "primary_support_reason",
        Funding => "funding",
    }
);

/// What a quarter shows of one cohort, across the contracts reported on: its attenders'
/// register measures in an average week, and the workbooks' person outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CohortOutcomes {
    pub scope: CohortScope,
    /// The support reason (`not_recorded` where the agreement has none), or the funding.
    #[schema(example = "learning_disability")]
    pub key: String,
    /// The cohort's attenders in the quarter's registers: each week's attenders summed
    /// over contracts, then the mean over the weeks with attendance.
    pub registers: RegisterOutcomes,
    /// Person outcomes of the cohort in the quarter's workbooks.
    pub person_outcomes: i64,
    /// The share of them achieved or progressing (the workbook KPI
    /// `outcomes_progressing_pct` for the cohort), to two places; none without any.
    pub outcomes_progressing_pct: Option<f64>,
}

/// One cohort's counts before they are measured.
#[derive(Default)]
struct CohortTally {
    weeks: BTreeMap<NaiveDate, WeekMeasures>,
    person_outcomes: i64,
    progressing: i64,
}

/// Gathers a quarter's counts by cohort: register weeks and workbook person outcomes,
/// each counted once under the support reason and once under the funding of the
/// person's agreement.
#[derive(Default)]
pub struct CohortCounts {
    by_reason: BTreeMap<String, CohortTally>,
    by_funding: BTreeMap<String, CohortTally>,
}

impl CohortCounts {
    /// The two rows a cohort's counts go to.
    fn tallies(&mut self, reason: &str, funding: &str) -> [&mut CohortTally; 2] {
        [
            self.by_reason.entry(reason.to_string()).or_default(),
            self.by_funding.entry(funding.to_string()).or_default(),
        ]
    }

    /// Adds the attenders of one cohort (reason and funding) in the week starting `week`.
    pub fn add_week(&mut self, reason: &str, funding: &str, week: NaiveDate, m: &WeekMeasures) {
        for tally in self.tallies(reason, funding) {
            tally.weeks.entry(week).or_default().absorb(m);
        }
    }

    /// Adds person outcomes of one cohort: how many, and how many achieved or progressing.
    pub fn add_outcomes(&mut self, reason: &str, funding: &str, outcomes: i64, progressing: i64) {
        for tally in self.tallies(reason, funding) {
            tally.person_outcomes += outcomes;
            tally.progressing += progressing;
        }
    }

    /// The cohorts by support reason, then by funding, each in key order.
    pub fn measure(self) -> Vec<CohortOutcomes> {
        let rows = |scope: CohortScope, tallies: BTreeMap<String, CohortTally>| {
            tallies.into_iter().map(move |(key, tally)| {
                let weeks: Vec<WeekMeasures> = tally.weeks.into_values().collect();
                CohortOutcomes {
                    scope,
                    key,
                    registers: RegisterOutcomes::measure(&weeks),
                    person_outcomes: tally.person_outcomes,
                    outcomes_progressing_pct: (tally.person_outcomes > 0).then(|| {
                        round2(tally.progressing as f64 * 100.0 / tally.person_outcomes as f64)
                    }),
                }
            })
        };
        rows(CohortScope::PrimarySupportReason, self.by_reason)
            .chain(rows(CohortScope::Funding, self.by_funding))
            .collect()
    }
}

/// WBK-009's tolerance, in percentage points of `people_supported`.
pub const COMMUNITY_ACCESS_TOLERANCE_POINTS: f64 = 10.0;

/// WBK-009: the workbook's weekly community access, as a share of `people_supported`,
/// differs from the registers' average week by more than the tolerance. Nothing to
/// compare without people supported or without registers.
pub fn community_access_disagrees(
    people_accessing_community_weekly: f64,
    people_supported: f64,
    measured_pct: Option<f64>,
) -> Option<f64> {
    let measured = measured_pct?;
    if people_supported <= 0.0 {
        return None;
    }
    let reported = people_accessing_community_weekly * 100.0 / people_supported;
    ((reported - measured).abs() > COMMUNITY_ACCESS_TOLERANCE_POINTS).then_some(reported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week(attending: i64, in_community: i64) -> WeekMeasures {
        WeekMeasures {
            attending,
            in_community,
            tagged: [0; 6],
        }
    }

    #[test]
    fn the_average_week_weighs_each_week_alike() {
        // 1/2 and 3/3: an average week of 75%, not 4/5 of the attendances.
        let m = RegisterOutcomes::measure(&[week(2, 1), week(3, 3)]);
        assert_eq!(m.community_access_pct, Some(75.0));
        assert_eq!(m.people_attending_weekly, 2.5);
        // A week nobody attended is not a week of 0%.
        let m = RegisterOutcomes::measure(&[week(2, 1), week(0, 0)]);
        assert_eq!((m.weeks, m.community_access_pct), (1, Some(50.0)));
        assert_eq!(RegisterOutcomes::measure(&[]).community_access_pct, None);
    }

    #[test]
    fn a_weeks_measures_count_people_not_lines() {
        let line = |person: &str, status: &str, community: bool, tags: &[&str]| -> RegisterLine {
            serde_json::from_value(serde_json::json!({
                "person_ref": person, "date": "2025-06-02", "session_type": "am", "status": status,
                "absence_reason": "illness", "community_access": community, "outcome_tags": tags
            }))
            .unwrap()
        };
        let lines = [
            line("P1", "attended", true, &["wellbeing"]),
            line("P1", "attended", true, &["wellbeing", "independence"]),
            line("P2", "attended", false, &[]),
            line("P3", "absent", true, &["wellbeing"]),
        ];
        let m = WeekMeasures::of(&lines);
        assert_eq!((m.attending, m.in_community), (2, 1));
        assert_eq!(m.tagged, [1, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn wbk_009_compares_in_points_of_people_supported() {
        let cases = [
            // (reported, supported, measured, disagrees)
            (6.0, 10.0, Some(50.0), false), // 60 against 50: exactly 10 points
            (7.0, 10.0, Some(50.0), true),  // 70 against 50
            (3.0, 10.0, Some(45.0), true),  // 30 against 45
            (5.0, 0.0, Some(50.0), false),  // nobody supported
            (9.0, 10.0, None, false),       // no registers
        ];
        for (reported, supported, measured, disagrees) in cases {
            assert_eq!(
                community_access_disagrees(reported, supported, measured).is_some(),
                disagrees,
                "{reported}/{supported} against {measured:?}"
            );
        }
    }

    #[test]
    fn kpis_beside_their_register_measure() {
        let mut first = week(4, 1);
        first.tagged[0] = 2;
        let measured = RegisterOutcomes::measure(&[first, week(4, 2)]);
        assert_eq!(measured.beside_kpi("community_access_pct"), Some(37.5));
        assert_eq!(measured.beside_kpi("independence_pct"), Some(25.0));
        assert_eq!(measured.beside_kpi("social_inclusion_pct"), Some(0.0));
        assert_eq!(measured.beside_kpi("staff_fte"), None);
        assert_eq!(measured.outcome_tags.len(), OutcomeTag::ALL.len());
    }
}
