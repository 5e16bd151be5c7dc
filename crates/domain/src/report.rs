//! The arithmetic of the council's reports (SPEC §6): spend against budget with a run-rate
//! forecast, shares by need band, and the compliance figures per provider.

use chrono::{Months, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

use crate::submission::SubmissionStatus;

/// A UK financial year: `2025` runs from 1 April 2025 to 31 March 2026.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinancialYear(pub i32);

impl FinancialYear {
    pub fn start(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.0, 4, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn end(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.0 + 1, 3, 31).unwrap_or(NaiveDate::MAX)
    }

    pub fn days(self) -> i64 {
        (self.end() - self.start()).num_days() + 1
    }

    /// The first day of each of the year's twelve months, April first.
    pub fn month_starts(self) -> [NaiveDate; 12] {
        let start = self.start();
        std::array::from_fn(|i| start + Months::new(i as u32))
    }
}

crate::types::vocabulary!(
    /// Which of a placement's time limits has run out: the care plan review more than 28
    /// days overdue (as REG-013 warns), or enablement past its twelve weeks (AGR-007).
    ReviewKind {
        ReviewOverdue => "review_overdue",
        EnablementOverrun => "enablement_overrun",
    }
);

/// Spend booked to one month of service, in pence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct MonthSpend {
    /// The calendar month, `YYYY-MM`.
    #[schema(example = "2026-04")]
    pub month: String,
    pub approved_pence: i64,
    pub paid_pence: i64,
    pub pending_pence: i64,
}

/// How a claim's accepted total counts in the spend report, by its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendBucket {
    /// Approved by the council, and possibly paid since.
    Approved { paid: bool },
    /// Accepted by validation, awaiting the council's decision.
    Pending,
    /// Not money the council will pay: rejected or declined.
    None,
}

impl SpendBucket {
    pub fn of(status: SubmissionStatus) -> Self {
        use SubmissionStatus::*;
        match status {
            Paid => SpendBucket::Approved { paid: true },
            // An approved claim whose register changed is still approved until adjusted.
            Approved | NeedsAdjustment => SpendBucket::Approved { paid: false },
            Accepted | AcceptedWithWarnings | PartiallyAccepted => SpendBucket::Pending,
            Rejected | Declined => SpendBucket::None,
        }
    }
}

/// Spend of one contract in a financial year, in pence: every priced line booked to the
/// month of its service date, never to the claim's period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendTotals {
    pub approved_pence: i64,
    pub paid_pence: i64,
    pub pending_pence: i64,
    /// The latest end of a claim period counted (approved or pending).
    pub covered_to: Option<NaiveDate>,
    /// Approved, paid and pending by month of service, April first.
    pub months: [(i64, i64, i64); 12],
}

impl SpendTotals {
    /// Adds the accepted amount of a claim's lines served in month `month` (0 for April)
    /// of the year; `period_end` is the claim period's end.
    pub fn add(
        &mut self,
        status: SubmissionStatus,
        month: usize,
        accepted_pence: i64,
        period_end: NaiveDate,
    ) {
        let Some((approved, paid, pending)) = self.months.get_mut(month) else {
            return;
        };
        match SpendBucket::of(status) {
            SpendBucket::Approved { paid: is_paid } => {
                self.approved_pence += accepted_pence;
                *approved += accepted_pence;
                if is_paid {
                    self.paid_pence += accepted_pence;
                    *paid += accepted_pence;
                }
            }
            SpendBucket::Pending => {
                self.pending_pence += accepted_pence;
                *pending += accepted_pence;
            }
            SpendBucket::None => return,
        }
        self.covered_to = Some(self.covered_to.map_or(period_end, |d| d.max(period_end)));
    }

    /// The months of `year` with their spend, April first.
    pub fn by_month(&self, year: FinancialYear) -> Vec<MonthSpend> {
        year.month_starts()
            .iter()
            .zip(&self.months)
            .map(|(start, (approved, paid, pending))| MonthSpend {
                month: start.format("%Y-%m").to_string(),
                approved_pence: *approved,
                paid_pence: *paid,
                pending_pence: *pending,
            })
            .collect()
    }

    /// The last day counted, within the year: a claim period running past 31 March
    /// counts here only to the year's end.
    pub fn claimed_to(&self, year: FinancialYear) -> Option<NaiveDate> {
        self.covered_to.map(|d| d.min(year.end()))
    }

    /// Approved and pending: what the council is committed to for the claimed periods.
    pub fn committed_pence(&self) -> i64 {
        self.approved_pence + self.pending_pence
    }

    /// The committed spend scaled from the days claimed so far (from the year's start to
    /// the latest claimed period end) to the whole year, to the nearest penny. Zero with
    /// no claims.
    pub fn run_rate_forecast(&self, year: FinancialYear) -> i64 {
        let Some(covered_to) = self.covered_to else {
            return 0;
        };
        let covered_days = ((covered_to.min(year.end()) - year.start()).num_days() + 1).max(1);
        let numerator = i128::from(self.committed_pence()) * i128::from(year.days());
        let denominator = i128::from(covered_days);
        // Half up, for non-negative amounts.
        i64::try_from((2 * numerator + denominator) / (2 * denominator)).unwrap_or(i64::MAX)
    }
}

/// A share of a whole as a percentage rounded to two places; 0 when the whole is 0.
pub fn share_pct(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 10_000.0 / whole as f64).round() / 100.0
}

/// A need band's part of a contract's committed spend.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BandShare {
    pub need_band: String,
    pub amount_pence: i64,
    pub share_pct: f64,
}

/// The most frequent codes first (ties by code), at most `n`.
pub fn most_frequent(mut counts: Vec<(String, i64)>, n: usize) -> Vec<(String, i64)> {
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(n);
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubmissionStatus::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn financial_years_run_april_to_march() {
        let y = FinancialYear(2025);
        assert_eq!(
            (y.start(), y.end(), y.days()),
            (d("2025-04-01"), d("2026-03-31"), 365)
        );
        assert_eq!(FinancialYear(2027).days(), 366);
    }

    #[test]
    fn claims_count_by_status() {
        let cases = [
            (Paid, (100, 100, 0)),
            (Approved, (100, 0, 0)),
            (NeedsAdjustment, (100, 0, 0)),
            (Accepted, (0, 0, 100)),
            (AcceptedWithWarnings, (0, 0, 100)),
            (PartiallyAccepted, (0, 0, 100)),
            (Rejected, (0, 0, 0)),
            (Declined, (0, 0, 0)),
        ];
        for (status, (approved, paid, pending)) in cases {
            let mut t = SpendTotals::default();
            t.add(status, 0, 100, d("2025-04-27"));
            assert_eq!(
                (t.approved_pence, t.paid_pence, t.pending_pence),
                (approved, paid, pending),
                "{status}"
            );
            assert_eq!(t.covered_to.is_some(), approved + pending > 0, "{status}");
        }
    }

    #[test]
    fn run_rate_scales_the_claimed_days_to_the_year() {
        let y = FinancialYear(2025);
        let mut t = SpendTotals::default();
        assert_eq!(t.run_rate_forecast(y), 0);
        // 73 days (1 April to 12 June) cost 73,000: 365 days cost 365,000.
        t.add(Paid, 1, 50_000, d("2025-05-31"));
        t.add(Accepted, 2, 23_000, d("2025-06-12"));
        assert_eq!(t.run_rate_forecast(y), 365_000);
        // Rounded half up to the penny: 1 penny over 2 days is 182.5 → 183.
        let mut t = SpendTotals::default();
        t.add(Approved, 0, 1, d("2025-04-02"));
        assert_eq!(t.run_rate_forecast(y), 183);
        // A claim period ending after the year counts the whole year.
        let mut t = SpendTotals::default();
        t.add(Approved, 11, 1_000, d("2026-04-05"));
        assert_eq!(t.run_rate_forecast(y), 1_000);
        assert_eq!(t.claimed_to(y), Some(d("2026-03-31")));
    }

    #[test]
    fn months_of_a_financial_year() {
        let y = FinancialYear(2025);
        assert_eq!(y.month_starts()[0], d("2025-04-01"));
        assert_eq!(y.month_starts()[11], d("2026-03-01"));
        let mut t = SpendTotals::default();
        t.add(Paid, 11, 700, d("2026-04-19"));
        t.add(Accepted, 11, 50, d("2026-04-19"));
        let months = t.by_month(y);
        assert_eq!(months.len(), 12);
        assert_eq!(
            months[11],
            MonthSpend {
                month: "2026-03".into(),
                approved_pence: 700,
                paid_pence: 700,
                pending_pence: 50
            }
        );
        assert_eq!(months[0].approved_pence, 0);
    }

    #[test]
    fn shares_and_most_frequent_codes() {
        assert_eq!(share_pct(1, 3), 33.33);
        assert_eq!(share_pct(2, 3), 66.67);
        assert_eq!(share_pct(5, 0), 0.0);
        let counts = vec![
            ("REG-001".to_string(), 3),
            ("AGR-005".to_string(), 7),
            ("REG-002".to_string(), 3),
        ];
        assert_eq!(
            most_frequent(counts, 2),
            [("AGR-005".to_string(), 7), ("REG-001".to_string(), 3)]
        );
    }
}
