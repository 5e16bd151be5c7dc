//! Outcomes measured from registers (SPEC §6): what the quarter's attendance lines show of
//! community access and outcome tags, set beside what the workbook reports (WBK-009).

use serde::Serialize;
use utoipa::ToSchema;

use std::collections::BTreeSet;

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
        let mut attending = BTreeSet::new();
        let mut in_community = BTreeSet::new();
        let mut tagged: [BTreeSet<&str>; 6] = Default::default();
        for line in lines
            .iter()
            .filter(|l| l.status == AttendanceStatus::Attended)
        {
            let person = line.person_ref.as_str();
            attending.insert(person);
            if line.community_access {
                in_community.insert(person);
            }
            for tag in &line.outcome_tags {
                if let Some(i) = OutcomeTag::ALL.iter().position(|t| t == tag) {
                    tagged[i].insert(person);
                }
            }
        }
        WeekMeasures {
            attending: attending.len() as i64,
            in_community: in_community.len() as i64,
            tagged: tagged.map(|people| people.len() as i64),
        }
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
