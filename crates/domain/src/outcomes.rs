//! Outcomes measured from registers (SPEC §6): what the quarter's attendance lines show of
//! community access and outcome tags, set beside what the workbook reports (WBK-009).

use serde::Serialize;
use utoipa::ToSchema;

use crate::register::OutcomeTag;
use crate::report::share_pct;

/// One week's attendance on a contract: the distinct people who attended, and of them
/// those with a session in the community.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekAttendance {
    pub attending: i64,
    pub in_community: i64,
}

/// The people of the quarter tagged with one outcome.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TagShare {
    pub tag: OutcomeTag,
    /// Distinct people with an attended line carrying the tag.
    pub people: i64,
    /// Of the people who attended in the quarter.
    pub share_pct: f64,
}

/// What a quarter's current, not rejected registers of a contract show.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RegisterOutcomes {
    /// Weeks (registers starting in the quarter) with anyone attending.
    pub weeks: i64,
    /// Distinct people who attended in the quarter.
    pub people_attending: i64,
    /// The share of a week's attenders with a session in the community, averaged over
    /// the weeks, to two places (the figure WBK-009 compares); none without attendance.
    pub community_access_pct: Option<f64>,
    /// Every outcome tag, with the people it was recorded for.
    pub outcome_tags: Vec<TagShare>,
}

impl RegisterOutcomes {
    /// From the quarter's weeks, its distinct attenders and the distinct people per tag.
    pub fn measure(
        weeks: &[WeekAttendance],
        people_attending: i64,
        tagged: impl Fn(OutcomeTag) -> i64,
    ) -> Self {
        RegisterOutcomes {
            weeks: weeks.iter().filter(|w| w.attending > 0).count() as i64,
            people_attending,
            community_access_pct: average_week_share(weeks).map(round2),
            outcome_tags: OutcomeTag::ALL
                .iter()
                .map(|&tag| {
                    let people = tagged(tag);
                    TagShare {
                        tag,
                        people,
                        share_pct: share_pct(people, people_attending),
                    }
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
        (self.people_attending > 0).then(|| {
            self.outcome_tags
                .iter()
                .find(|t| t.tag == tag)
                .map_or(0.0, |t| t.share_pct)
        })
    }
}

/// The mean over weeks with attendance of each week's share in the community, in percent.
pub fn average_week_share(weeks: &[WeekAttendance]) -> Option<f64> {
    let attended: Vec<&WeekAttendance> = weeks.iter().filter(|w| w.attending > 0).collect();
    if attended.is_empty() {
        return None;
    }
    let sum: f64 = attended
        .iter()
        .map(|w| w.in_community as f64 * 100.0 / w.attending as f64)
        .sum();
    Some(sum / attended.len() as f64)
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

    fn week(attending: i64, in_community: i64) -> WeekAttendance {
        WeekAttendance {
            attending,
            in_community,
        }
    }

    #[test]
    fn the_average_week_weighs_each_week_alike() {
        // 1/2 and 3/3: an average week of 75%, not 4/5 of the attendances.
        assert_eq!(average_week_share(&[week(2, 1), week(3, 3)]), Some(75.0));
        // A week nobody attended is not a week of 0%.
        assert_eq!(average_week_share(&[week(2, 1), week(0, 0)]), Some(50.0));
        assert_eq!(average_week_share(&[]), None);
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
        let measured = RegisterOutcomes::measure(&[week(4, 1), week(4, 2)], 5, |tag| {
            if tag == OutcomeTag::Independence {
                2
            } else {
                0
            }
        });
        assert_eq!(measured.beside_kpi("community_access_pct"), Some(37.5));
        assert_eq!(measured.beside_kpi("independence_pct"), Some(40.0));
        assert_eq!(measured.beside_kpi("social_inclusion_pct"), Some(0.0));
        assert_eq!(measured.beside_kpi("staff_fte"), None);
        assert_eq!(measured.outcome_tags.len(), OutcomeTag::ALL.len());
    }
}
