//! Budget monitoring (SPEC §6), as a finance business partner reports it: actuals by
//! month of service, commitments from the current agreements to the year's end, a
//! forecast of the two, and the variance against budget split into volume, mix and price.
//!
//! **Commitments.** From the day after the last claimed day (the year's start without
//! claims) to 31 March, every planned session of every agreement, on each date of its
//! weekday while the agreement is in force and not suspended, the contract open (not a
//! closure date) and not a bank holiday, priced at the rate and the band in force on that
//! date. The week's one-to-one hours, transport journeys and meals are spread evenly over
//! its planned sessions, each share priced on its session's date. Amounts are exact to the
//! quarter-penny and rounded half up once an agreement, band and month.
//!
//! **Price-volume-mix.** The budget is read as what it buys at the baseline: the
//! caseload's band mix and the rates in force on the day before the year starts (the
//! position the budget was set against). With `D` the person-days funded in the year
//! (agreements in force, not suspended) and `D_b` of them in band `b`, `F` the forecast
//! and `F0` the same units priced at the baseline rates (`F0_b` in band `b`), `m0_b` the
//! baseline caseload's share in band `b` and `p̄0 = Σ m0_b · F0_b / D_b` the baseline cost
//! of a person-day at the baseline mix:
//!
//! - volume = `D · p̄0 − budget` (more or fewer people than the budget buys);
//! - mix = `F0 − D · p̄0` (people in dearer or cheaper bands than the baseline's);
//! - price = `F − F0` (rate versions since the baseline).
//!
//! They sum to `F − budget` exactly: `D · p̄0` is rounded to the penny once, and volume
//! and mix take it alike. Bands with no funded days this year carry no baseline weight
//! (the baseline mix is taken over the bands in use); with no baseline caseload, the
//! year's own mix is the baseline and mix is zero.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate};

use crate::agreement::{Placement, PlannedSession};
use crate::calendar::within;
use crate::contract::ContractInput;
use crate::matrix::{lookup, MatrixVersion, RateQuery};
use crate::report::FinancialYear;
use crate::types::{DayCategory, Item, SessionType, Weekday};

crate::types::vocabulary!(
    /// What a row of the budget monitoring report covers: one contract, the contracts of
    /// one service type, the council as a whole, or a cohort of people by their primary
    /// support reason or their funding.
    BudgetScope {
        Contract => "contract",
        ServiceType => "service_type",
        Council => "council",
        PrimarySupportReason => "primary_support_reason",
        Funding => "funding",
    }
);

crate::types::vocabulary!(
    /// What a row of the unit-cost report covers: a service type at one need band, a
    /// service type, a cohort by primary support reason or by funding, or the council.
    UnitCostScope {
        ServiceTypeBand => "service_type_band",
        ServiceType => "service_type",
        PrimarySupportReason => "primary_support_reason",
        Funding => "funding",
        Council => "council",
    }
);

/// Hours delivered and what they cost: sessions at their contract's length plus
/// one-to-one hours, in quarter-hours; every accepted amount (transport and meals too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitCost {
    pub quarter_hours: i64,
    pub cost_pence: i64,
}

impl UnitCost {
    /// Adds claimed units: `quantity_quarters` of `item` (a session of `session_quarters`
    /// quarter-hours, when a session) costing `amount_pence`.
    pub fn add(
        &mut self,
        item: Item,
        quantity_quarters: i64,
        session_quarters: i64,
        amount_pence: i64,
    ) {
        self.cost_pence += amount_pence;
        self.quarter_hours += match item {
            // Whole sessions are four quarters of quantity each.
            Item::Session => quantity_quarters * session_quarters / 4,
            Item::OneToOneHour => quantity_quarters,
            Item::TransportJourney | Item::Meal => 0,
        };
    }

    pub fn absorb(&mut self, other: UnitCost) {
        self.quarter_hours += other.quarter_hours;
        self.cost_pence += other.cost_pence;
    }

    pub fn hours(self) -> f64 {
        self.quarter_hours as f64 / 4.0
    }

    /// Pence an hour, rounded half up; none without hours.
    pub fn per_hour_pence(self) -> Option<i64> {
        (self.quarter_hours > 0).then(|| {
            round_half_up(
                i128::from(self.cost_pence) * 4,
                i128::from(self.quarter_hours),
            )
        })
    }
}

/// The period of a financial year a date falls in: 0 for April to 11 for March.
pub fn period_index(year: FinancialYear, date: NaiveDate) -> usize {
    let months = (date.year() - year.0) * 12 + date.month0() as i32 - 3;
    months.clamp(0, 11) as usize
}

/// Rounds `numerator / denominator` half up (non-negative amounts).
fn round_half_up(numerator: i128, denominator: i128) -> i64 {
    if denominator == 0 {
        return 0;
    }
    let (n, d) = (2 * numerator + denominator, 2 * denominator);
    // The same quotient in 64 bits when it fits, as it always does for one plan's year:
    // 128-bit division is done in software, and a nation's commitments divide millions
    // of times.
    if let (Ok(n), Ok(d)) = (i64::try_from(n), i64::try_from(d)) {
        return n / d;
    }
    i64::try_from(n / d).unwrap_or(i64::MAX)
}

/// Prices units at the rates in force on their date and at the baseline's.
pub struct Pricer<'a, Id> {
    contract: &'a ContractInput,
    matrix: &'a [MatrixVersion<Id>],
    baseline: Option<&'a MatrixVersion<Id>>,
}

/// A unit's rate in force on its date and at the baseline, in pence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub current: i64,
    pub baseline: i64,
}

impl<'a, Id> Pricer<'a, Id> {
    /// The baseline is the version in force on `baseline_date`, or else the first to
    /// start after it.
    pub fn new(
        contract: &'a ContractInput,
        matrix: &'a [MatrixVersion<Id>],
        baseline_date: NaiveDate,
    ) -> Self {
        let baseline = matrix
            .iter()
            .find(|v| within(baseline_date, v.effective_from, v.effective_to))
            .or_else(|| {
                matrix
                    .iter()
                    .filter(|v| v.effective_from > baseline_date)
                    .min_by_key(|v| v.effective_from)
            });
        Pricer {
            contract,
            matrix,
            baseline,
        }
    }

    /// The rates of `item` for `band` on `date`: none without a cell in force. At the
    /// baseline, the baseline version's cell for the same day category, band and item
    /// (the rate in force when the baseline has no such cell).
    pub fn rates(
        &self,
        date: NaiveDate,
        item: Item,
        band: &str,
        session_type: Option<SessionType>,
    ) -> Option<Rates> {
        let query = RateQuery {
            date,
            item,
            need_band: band,
            session_type,
            day_category: self.contract.day_category(date),
        };
        let (_, cell) = lookup(self.matrix, &query)?;
        let baseline = self
            .baseline
            .and_then(|version| {
                let at_baseline = RateQuery {
                    date: version.effective_from,
                    ..query
                };
                lookup(std::slice::from_ref(version), &at_baseline)
            })
            .map_or(cell.rate_pence, |(_, c)| c.rate_pence);
        Some(Rates {
            current: cell.rate_pence,
            baseline,
        })
    }

    /// The index of the version in force on `date`.
    fn version_at(&self, date: NaiveDate) -> Option<usize> {
        self.matrix
            .iter()
            .position(|v| within(date, v.effective_from, v.effective_to))
    }

    /// Whether the contract delivers on `date`: not a closure date, not a bank holiday.
    fn open_on(&self, date: NaiveDate) -> bool {
        self.open_unless_holiday(date, self.contract.is_bank_holiday(date))
    }

    /// The same, knowing whether `date` is a bank holiday.
    fn open_unless_holiday(&self, date: NaiveDate, holiday: bool) -> bool {
        !holiday && !self.contract.closure_dates.contains(&date)
    }
}

/// Amounts in pence, priced in force and at the baseline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Priced {
    pub current: i64,
    pub baseline: i64,
}

impl std::ops::AddAssign for Priced {
    fn add_assign(&mut self, other: Priced) {
        self.current += other.current;
        self.baseline += other.baseline;
    }
}

/// One agreement's commitment, by band and by period of the year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commitment<'a> {
    /// In band order, each band once; the names are the agreement's own (a nation's
    /// commitments are 200,000, and a map with a key of its own was an allocation or two
    /// for each).
    pub by_band: Vec<(&'a str, Priced)>,
    pub by_period: [i64; 12],
    pub total: Priced,
}

impl Commitment<'_> {
    /// What the commitment is in `band`, if it has any.
    pub fn in_band(&self, band: &str) -> Option<Priced> {
        self.by_band
            .iter()
            .find(|(b, _)| *b == band)
            .map(|(_, p)| *p)
    }
}

/// The days an agreement's plan is committed for, and what a planned session carries, in
/// quarter-units over `units[0]` (4N, for N planned sessions a week): its own session
/// (4N of its rate) and its share of the week's one-to-one quarter-hours, journeys and
/// meals, summed exactly and divided once.
struct PlanWindow {
    first: NaiveDate,
    last: NaiveDate,
    /// Small (four times a `u32` at most): each product with a rate is one 64-bit by
    /// 64-bit multiplication into 128 bits.
    units: [i64; 4],
}

impl PlanWindow {
    /// None for an agreement with no planned session or none of its days in the window
    /// from `from` to the end of `year`.
    fn of(agreement: &Placement, year: FinancialYear, from: NaiveDate) -> Option<Self> {
        let sessions = agreement.planned_sessions.len() as i64;
        let first = from.max(agreement.start_date).max(year.start());
        let last = agreement
            .end_date
            .map_or(year.end(), |end| end.min(year.end()));
        (sessions > 0 && first <= last).then(|| PlanWindow {
            first,
            last,
            units: [
                4 * sessions,
                i64::from(agreement.one_to_one_hours_per_week.quarters()),
                4 * i64::from(agreement.transport_journeys_per_week),
                4 * i64::from(agreement.meals),
            ],
        })
    }
}

/// Exact sums by band and period, `(current, baseline)` in quarter-pence over a plan's
/// denominator. A plan has a band or two, so a short list with a slot per period.
#[derive(Default)]
struct Sums<'a> {
    bands: Vec<(&'a str, [Option<Exact>; 12])>,
}

/// `(current, baseline)` in quarter-pence over a plan's denominator.
type Exact = (i128, i128);

impl<'a> Sums<'a> {
    /// Where `band` is, added if new.
    fn slot(&mut self, band: &'a str) -> usize {
        match self.bands.iter().position(|(b, _)| *b == band) {
            Some(i) => i,
            None => {
                self.bands.push((band, [None; 12]));
                self.bands.len() - 1
            }
        }
    }

    fn at(&mut self, band: &'a str, period: usize) -> &mut Exact {
        let i = self.slot(band);
        self.bands[i].1[period].get_or_insert((0, 0))
    }
}

impl<'a> Commitment<'a> {
    /// From exact sums by band and period, each rounded half up once.
    fn of_sums(mut sums: Sums<'a>, denominator: i128) -> Self {
        let mut out = Commitment::default();
        sums.bands.sort_unstable_by_key(|(band, _)| *band);
        for (band, periods) in sums.bands {
            // Each band is once in `sums`, so once in `by_band`.
            let mut in_band: Option<Priced> = None;
            for (period, sum) in periods.into_iter().enumerate() {
                let Some((current, baseline)) = sum else {
                    continue;
                };
                let priced = Priced {
                    current: round_half_up(current, denominator),
                    baseline: round_half_up(baseline, denominator),
                };
                *in_band.get_or_insert_default() += priced;
                out.by_period[period] += priced.current;
                out.total += priced;
            }
            if let Some(priced) = in_band {
                out.by_band.push((band, priced));
            }
        }
        out
    }
}

/// What `agreement`'s plan costs from `from` to the end of `year` (see the module's
/// words on commitments).
pub fn commitment<'a, Id>(
    agreement: &'a Placement,
    pricer: &Pricer<'_, Id>,
    year: FinancialYear,
    from: NaiveDate,
) -> Commitment<'a> {
    let Some(PlanWindow {
        first,
        last,
        units: [denominator, one_to_one, journeys, meals],
    }) = PlanWindow::of(agreement, year, from)
    else {
        return Commitment::default();
    };
    let mut sums = Sums::default();
    for planned in &agreement.planned_sessions {
        let mut date = first_weekday_on_or_after(first, planned.weekday);
        while date <= last {
            if !agreement.suspended_on(date) && pricer.open_on(date) {
                if let Some(band) = agreement.band_on(date) {
                    let mut current = 0i128;
                    let mut baseline = 0i128;
                    let mut add = |item: Item, session_type: Option<SessionType>, units: i64| {
                        if units == 0 {
                            return;
                        }
                        let units = i128::from(units);
                        if let Some(rates) = pricer.rates(date, item, band, session_type) {
                            current += units * i128::from(rates.current);
                            baseline += units * i128::from(rates.baseline);
                        }
                    };
                    add(Item::Session, Some(planned.session_type), denominator);
                    add(Item::OneToOneHour, None, one_to_one);
                    add(Item::TransportJourney, None, journeys);
                    add(Item::Meal, None, meals);
                    let entry = sums.at(band, period_index(year, date));
                    entry.0 += current;
                    entry.1 += baseline;
                }
            }
            date = date + Days::new(7);
        }
    }
    Commitment::of_sums(sums, i128::from(denominator))
}

/// The prices of a contract's plans over a year, for many agreements: for each weekday,
/// session type and band an agreement plans, the open dates of that weekday from the
/// first day committed to the year's end, with running sums of what a session and each
/// weekly item cost on them, at the rates in force and at the baseline's. An agreement's
/// commitment is then a few differences of sums, not a walk over its dates;
/// [`commitment`] is the walk, and the two agree to the penny (a property test holds
/// them to it).
pub struct PlanPrices<'p, 'a, Id> {
    pricer: &'p Pricer<'a, Id>,
    year: FinancialYear,
    /// The first day the series cover: commitments run from the day after the actuals.
    start: NaiveDate,
    /// The bands seen, and for each (at the same place) its series by weekday and
    /// session type: a contract has a handful of bands, found without building a key.
    bands: Vec<String>,
    /// By [`series_slot`]: a nation's commitments look a series up millions of times, and
    /// hashing the key was a twentieth of pricing them.
    series: Vec<Vec<Option<Series>>>,
    /// The open dates of each weekday, shared by its series of every session type and
    /// band: a contract's forty series walked the year's days forty times.
    weekdays: [Option<OpenDates>; Weekday::ALL.len()],
    /// The days of the year as they are first needed: whether the contract is open, the
    /// version then in force and the day category (worked out once a day, not for every
    /// weekday, session type and band, or for every claim line).
    days: YearDays,
    /// The rates of claimed units by what they depend on: the version in force, the day
    /// category, the item, session type and band (its place in `bands`).
    /// Hashed with foldhash: a nation's series look rates up hundreds of thousands of
    /// times, and SipHash's defence against chosen keys buys nothing for keys of ours.
    rates: foldhash::HashMap<RatesKey, Option<Rates>>,
    /// What a plan's sessions cost by period over a range of days at one band, kept for
    /// the next agreement with the same: a contract's people share a handful of weekly
    /// patterns, bands and ranges (in the benchmark's nation a shard prices 94,000
    /// ranges, 29,000 of them different), and summing each plan's series by period for
    /// every agreement was a fifth of reading and pricing a shard.
    plans: foldhash::HashMap<PlanKey, PeriodRates>,
}

/// A plan's sessions (a bit for each weekday and session type, [`series_slot`]), its band
/// (the place in `bands`) and the first and last days of the range.
type PlanKey = (u32, usize, NaiveDate, NaiveDate);

/// The rates of a plan's sessions over a range summed by period: for each period, the
/// sums of [`Series`]; and whether the range has any of the plan's dates in the period.
#[derive(Clone)]
struct PeriodRates {
    rates: [[i64; 8]; 12],
    dated: [bool; 12],
}

/// `sessions` as [`PlanKey`]'s bits, or none when the plan names a weekday and session
/// type twice (it is then priced twice, as the walk does, not from the bits).
fn plan_bits(sessions: &[PlannedSession]) -> Option<u32> {
    const _: () = assert!(SERIES_SLOTS <= 32);
    let mut bits = 0u32;
    for planned in sessions {
        let bit = 1u32 << series_slot(planned.weekday, planned.session_type);
        if bits & bit != 0 {
            return None;
        }
        bits |= bit;
    }
    Some(bits)
}

/// Adds a plan's `rates` over a range to a band's sums by period, at the plan's units.
/// The rates are whole pence summed over a period (exact in 64 bits: a year of a plan's
/// rates), multiplied by the plan's units once a period rather than once a session.
fn add_period_rates(rates: &PeriodRates, units: [i64; 4], periods: &mut [Option<Exact>; 12]) {
    for ((sum, dated), entry) in rates.rates.iter().zip(rates.dated).zip(periods) {
        if !dated {
            continue;
        }
        let entry = entry.get_or_insert((0, 0));
        for (k, units) in units.iter().enumerate() {
            // Most plans carry no one-to-one hours, journeys or meals.
            if *units == 0 {
                continue;
            }
            let units = i128::from(*units);
            entry.0 += units * i128::from(sum[2 * k]);
            entry.1 += units * i128::from(sum[2 * k + 1]);
        }
    }
}

/// One day of the year under a contract.
#[derive(Clone, Copy)]
struct YearDay {
    open: bool,
    version: Option<usize>,
    category: DayCategory,
}

/// The days of a year under a contract, each worked out when first asked for.
struct YearDays {
    first: NaiveDate,
    days: Vec<Option<YearDay>>,
}

impl YearDays {
    fn new(year: FinancialYear) -> Self {
        YearDays {
            first: year.start(),
            days: vec![None; year.days() as usize],
        }
    }

    /// The day, when it is in the year.
    fn get<Id>(&mut self, pricer: &Pricer<'_, Id>, date: NaiveDate) -> Option<YearDay> {
        let i = usize::try_from(date.num_days_from_ce() - self.first.num_days_from_ce()).ok()?;
        let slot = self.days.get_mut(i)?;
        Some(*slot.get_or_insert_with(|| {
            let holiday = pricer.contract.is_bank_holiday(date);
            YearDay {
                open: pricer.open_unless_holiday(date, holiday),
                version: pricer.version_at(date),
                category: crate::calendar::day_category(date, holiday),
            }
        }))
    }
}

/// What a unit's rates depend on, besides the contract.
type RatesKey = (Option<usize>, DayCategory, Item, Option<SessionType>, usize);

/// The open dates of one weekday from the first day the series cover to the year's end.
struct OpenDates {
    dates: Vec<NaiveDate>,
    /// The rate version in force on each date, and its day category.
    days: Vec<YearDay>,
    periods: Vec<u8>,
    /// Where each period's dates start in `dates` (the last entry: its length), so that a
    /// run of dates is cut at period ends without a search (a binary search there was
    /// a third of pricing a nation's plans).
    period_starts: [usize; 13],
}

/// Running sums of the rates on a weekday's open dates ([`OpenDates`]), one longer than
/// the dates: for each item (session, one-to-one hour, journey, meal) the rate in force,
/// then the baseline's.
struct Series {
    sums: Vec<[i64; 8]>,
}

/// A band's series, one for each weekday and session type.
const SERIES_SLOTS: usize = Weekday::ALL.len() * SessionType::ALL.len();

/// Where the series of `weekday` and `session_type` is among a band's.
fn series_slot(weekday: Weekday, session_type: SessionType) -> usize {
    weekday as usize * SessionType::ALL.len() + session_type as usize
}

const ITEMS: [Item; 4] = [
    Item::Session,
    Item::OneToOneHour,
    Item::TransportJourney,
    Item::Meal,
];

impl<'p, 'a, Id> PlanPrices<'p, 'a, Id> {
    /// Prices for commitments from `start` (an earlier window is walked instead).
    pub fn new(pricer: &'p Pricer<'a, Id>, year: FinancialYear, start: NaiveDate) -> Self {
        PlanPrices {
            pricer,
            year,
            start: start.max(year.start()),
            bands: Vec::new(),
            series: Vec::new(),
            weekdays: Default::default(),
            days: YearDays::new(year),
            rates: foldhash::HashMap::default(),
            plans: foldhash::HashMap::default(),
        }
    }

    /// Where `band` is in `bands` (and its series in `series`), added if new.
    fn band_at(&mut self, band: &str) -> usize {
        match self.bands.iter().position(|b| b == band) {
            Some(at) => at,
            None => {
                self.bands.push(band.to_string());
                self.series
                    .push(std::iter::repeat_with(|| None).take(SERIES_SLOTS).collect());
                self.series.len() - 1
            }
        }
    }

    /// The open dates of `weekday` and the series of `session_type` and `band` (at `at`
    /// in `bands`) on them.
    fn series(
        &mut self,
        weekday: Weekday,
        session_type: SessionType,
        (band, at): (&str, usize),
    ) -> (&OpenDates, &Series) {
        let PlanPrices {
            pricer,
            year,
            start,
            days,
            rates: known,
            series,
            weekdays,
            ..
        } = self;
        let (pricer, year) = (*pricer, *year);
        let open = weekdays[weekday as usize].get_or_insert_with(|| {
            let mut open = OpenDates {
                dates: Vec::with_capacity(53),
                days: Vec::with_capacity(53),
                periods: Vec::with_capacity(53),
                period_starts: [0; 13],
            };
            let mut date = first_weekday_on_or_after(*start, weekday);
            while let Some(day) = days.get(pricer, date) {
                if day.open {
                    open.dates.push(date);
                    open.days.push(day);
                    open.periods.push(period_index(year, date) as u8);
                }
                date = date + Days::new(7);
            }
            open.period_starts =
                std::array::from_fn(|p| open.periods.partition_point(|at| usize::from(*at) < p));
            open
        });
        let series = series[at][series_slot(weekday, session_type)].get_or_insert_with(|| {
            let mut sums: Vec<[i64; 8]> = Vec::with_capacity(open.dates.len() + 1);
            sums.push([0; 8]);
            // A weekday's rates change only with the version in force (bank holidays
            // are closed): looked up again only when the version changes, and then
            // shared with the other weekdays of the same day category.
            let mut cached: Option<(usize, [Option<Rates>; 4])> = None;
            for (date, day) in open.dates.iter().zip(&open.days) {
                let rates = match cached {
                    Some((v, rates)) if Some(v) == day.version => rates,
                    _ => {
                        let rates = ITEMS.map(|item| {
                            let st = (item == Item::Session).then_some(session_type);
                            *known
                                .entry((day.version, day.category, item, st, at))
                                .or_insert_with(|| pricer.rates(*date, item, band, st))
                        });
                        if let Some(v) = day.version {
                            cached = Some((v, rates));
                        }
                        rates
                    }
                };
                let mut next = *sums.last().unwrap_or(&[0; 8]);
                for (k, rate) in rates.iter().enumerate() {
                    if let Some(r) = rate {
                        next[2 * k] += r.current;
                        next[2 * k + 1] += r.baseline;
                    }
                }
                sums.push(next);
            }
            Series { sums }
        });
        (open, series)
    }

    /// The rates of claimed units on `date` ([`Pricer::rates`]), looked up once for each
    /// version, day category, item, session type and band: a year's claim lines are
    /// hundreds of thousands, their rate cells a few dozen a contract.
    pub fn rates(
        &mut self,
        date: NaiveDate,
        item: Item,
        band: &str,
        session_type: Option<SessionType>,
    ) -> Option<Rates> {
        let pricer = self.pricer;
        let (version, category) = match self.days.get(pricer, date) {
            Some(day) => (day.version, day.category),
            None => (pricer.version_at(date), pricer.contract.day_category(date)),
        };
        let key = (version, category, item, session_type, self.band_at(band));
        *self
            .rates
            .entry(key)
            .or_insert_with(|| pricer.rates(date, item, band, session_type))
    }

    /// The same as [`commitment`], by differences of running sums.
    pub fn commitment<'g>(&mut self, agreement: &'g Placement, from: NaiveDate) -> Commitment<'g> {
        if from < self.start {
            return commitment(agreement, self.pricer, self.year, from);
        }
        let Some(PlanWindow { first, last, units }) = PlanWindow::of(agreement, self.year, from)
        else {
            return Commitment::default();
        };
        let denominator = i128::from(units[0]);
        // The ranges funded at one band, priced as they are found: band segments within
        // [first, last], less the suspensions.
        let suspensions = merged_suspensions(agreement);
        let mut sums = Sums::default();
        for (i, assessed) in agreement.need_bands.iter().enumerate() {
            let from = assessed.from.max(first);
            let to = agreement
                .need_bands
                .get(i + 1)
                .map_or(last, |next| (next.from - Days::new(1)).min(last));
            let mut start = from;
            for (s_from, s_to) in &suspensions {
                if *s_to < start || *s_from > to {
                    continue;
                }
                if *s_from > start {
                    self.add_range(
                        agreement,
                        (start, *s_from - Days::new(1)),
                        &assessed.band,
                        units,
                        &mut sums,
                    );
                }
                start = start.max(*s_to + Days::new(1));
            }
            if start <= to {
                self.add_range(agreement, (start, to), &assessed.band, units, &mut sums);
            }
        }
        Commitment::of_sums(sums, denominator)
    }

    /// Adds to `sums` what `agreement`'s plan costs on the days from `from` to `to`, all
    /// funded at `band`.
    fn add_range<'g>(
        &mut self,
        agreement: &'g Placement,
        range: (NaiveDate, NaiveDate),
        band: &'g str,
        units: [i64; 4],
        sums: &mut Sums<'g>,
    ) {
        let at = self.band_at(band);
        let sessions = &agreement.planned_sessions;
        let slot = sums.slot(band);
        let periods = &mut sums.bands[slot].1;
        match plan_bits(sessions).map(|bits| (bits, at, range.0, range.1)) {
            // Looked up once: a nation's agreements mostly find their plan's rates kept.
            Some(key) => match self.plans.get(&key) {
                Some(rates) => add_period_rates(rates, units, periods),
                None => {
                    let rates = self.period_rates(sessions, (band, at), range);
                    add_period_rates(&rates, units, periods);
                    self.plans.insert(key, rates);
                }
            },
            None => {
                let rates = self.period_rates(sessions, (band, at), range);
                add_period_rates(&rates, units, periods);
            }
        }
    }

    /// The rates of every planned session's dates from `from` to `to`, at `band` (at
    /// `at` in `bands`), summed by period.
    fn period_rates(
        &mut self,
        sessions: &[PlannedSession],
        (band, at): (&str, usize),
        (from, to): (NaiveDate, NaiveDate),
    ) -> PeriodRates {
        let mut out = PeriodRates {
            rates: [[0; 8]; 12],
            dated: [false; 12],
        };
        for planned in sessions {
            let (open, series) = self.series(planned.weekday, planned.session_type, (band, at));
            let mut i = open.dates.partition_point(|d| *d < from);
            let end = open.dates.partition_point(|d| *d <= to);
            while i < end {
                let at = usize::from(open.periods[i]);
                let next = open.period_starts[at + 1].min(end);
                let (upto, since) = (&series.sums[next], &series.sums[i]);
                out.dated[at] = true;
                for (sum, (u, s)) in out.rates[at].iter_mut().zip(upto.iter().zip(since)) {
                    *sum += u - s;
                }
                i = next;
            }
        }
        out
    }
}

fn first_weekday_on_or_after(date: NaiveDate, weekday: Weekday) -> NaiveDate {
    let mut d = date;
    while Weekday::of(d) != weekday {
        d = d + Days::new(1);
    }
    d
}

/// The days from `from` to `to` that `agreement` is in force and not suspended, by the
/// band assessed on each.
pub fn funded_days_by_band(
    agreement: &Placement,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<(&str, i64)> {
    let mut days: Vec<(&str, i64)> = Vec::new();
    let start = from.max(agreement.start_date);
    let end = agreement.end_date.map_or(to, |e| e.min(to));
    let suspensions = merged_suspensions(agreement);
    for (i, assessed) in agreement.need_bands.iter().enumerate() {
        let band_from = assessed.from.max(start);
        let band_to = agreement
            .need_bands
            .get(i + 1)
            .map_or(end, |next| (next.from - Days::new(1)).min(end));
        if band_from > band_to {
            continue;
        }
        let suspended: i64 = suspensions
            .iter()
            .map(|(s, e)| overlap_days((*s, *e), (band_from, band_to)))
            .sum();
        let funded = (band_to - band_from).num_days() + 1 - suspended;
        if funded > 0 {
            match days.iter_mut().find(|(b, _)| *b == assessed.band) {
                Some((_, total)) => *total += funded,
                None => days.push((&assessed.band, funded)),
            }
        }
    }
    days
}

/// The agreement's suspensions as disjoint ranges.
fn merged_suspensions(agreement: &Placement) -> Vec<(NaiveDate, NaiveDate)> {
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = agreement
        .suspensions
        .iter()
        .filter(|s| s.from <= s.to)
        .map(|s| (s.from, s.to))
        .collect();
    ranges.sort();
    let mut merged: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for (from, to) in ranges {
        match merged.last_mut() {
            Some(last) if from <= last.1 + Days::new(1) => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged
}

fn overlap_days(a: (NaiveDate, NaiveDate), b: (NaiveDate, NaiveDate)) -> i64 {
    let from = a.0.max(b.0);
    let to = a.1.min(b.1);
    if from > to {
        0
    } else {
        (to - from).num_days() + 1
    }
}

/// The band of `agreement` on `date` if it is funded then (in force, not suspended).
pub fn funded_band_on(agreement: &Placement, date: NaiveDate) -> Option<&str> {
    (agreement.in_force_on(date) && !agreement.suspended_on(date))
        .then(|| agreement.band_on(date))
        .flatten()
}

/// The variance against budget, split by the module's price-volume-mix method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarianceSplit {
    pub volume_pence: i64,
    pub mix_pence: i64,
    pub price_pence: i64,
}

/// What the split of one contract (or any sum of contracts) reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MixInputs {
    /// Person-days funded in the year, by band (`D_b`).
    pub funded_days: BTreeMap<String, i64>,
    /// The forecast priced at the baseline rates, by band (`F0_b`).
    pub baseline_priced: BTreeMap<String, i64>,
    /// The baseline caseload by band (`m0` before it is made a share).
    pub baseline_people: BTreeMap<String, i64>,
}

/// Adds `amount` to `band`'s entry, allocating its key only the first time.
fn add_to(map: &mut BTreeMap<String, i64>, band: &str, amount: i64) {
    match map.get_mut(band) {
        Some(total) => *total += amount,
        None => {
            map.insert(band.to_string(), amount);
        }
    }
}

impl MixInputs {
    /// Units priced at the baseline rates in `band`.
    pub fn add_baseline_priced(&mut self, band: &str, pence: i64) {
        add_to(&mut self.baseline_priced, band, pence);
    }

    /// Person-days funded in `band`.
    pub fn add_funded_days(&mut self, band: &str, days: i64) {
        add_to(&mut self.funded_days, band, days);
    }

    /// One person funded in `band` on the baseline day.
    pub fn add_baseline_person(&mut self, band: &str) {
        add_to(&mut self.baseline_people, band, 1);
    }
}

/// Splits `forecast − budget` into volume, mix and price (see the module's words).
pub fn split_variance(budget: i64, forecast: i64, inputs: &MixInputs) -> VarianceSplit {
    let f0: i64 = inputs.baseline_priced.values().sum();
    let in_use: Vec<(&String, i64)> = inputs
        .funded_days
        .iter()
        .filter(|(_, d)| **d > 0)
        .map(|(b, d)| (b, *d))
        .collect();
    let total_days: i64 = in_use.iter().map(|(_, d)| d).sum();
    let baseline_weight = |band: &str| inputs.baseline_people.get(band).copied().unwrap_or(0);
    let baseline_people: i64 = in_use.iter().map(|(b, _)| baseline_weight(b)).sum();
    let flexed = if total_days == 0 {
        f0
    } else if baseline_people == 0 {
        // No baseline caseload: this year's mix is the baseline's, and mix is zero.
        f0
    } else {
        let per_day: f64 = in_use
            .iter()
            .map(|(band, days)| {
                let share = baseline_weight(band) as f64 / baseline_people as f64;
                let cost = inputs.baseline_priced.get(*band).copied().unwrap_or(0) as f64;
                share * cost / *days as f64
            })
            .sum();
        (per_day * total_days as f64).round() as i64
    };
    VarianceSplit {
        volume_pence: flexed - budget,
        mix_pence: f0 - flexed,
        price_pence: forecast - f0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::RateCell;
    use crate::types::DayCategory;

    #[test]
    fn each_weekday_and_session_type_has_a_series_slot_of_its_own() {
        let mut slots: Vec<usize> = Weekday::ALL
            .iter()
            .flat_map(|w| SessionType::ALL.iter().map(|s| series_slot(*w, *s)))
            .collect();
        slots.sort_unstable();
        assert_eq!(slots, (0..SERIES_SLOTS).collect::<Vec<_>>());
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cell(item: Item, band: &str, session: Option<SessionType>, pence: i64) -> RateCell {
        RateCell {
            item,
            need_band: band.into(),
            session_type: session,
            day_category: DayCategory::Any,
            rate_pence: pence,
        }
    }

    /// 2025/26 at £50 (high £65) a session; from 1 October an uplift to £52 (£68).
    fn matrix() -> Vec<MatrixVersion<u8>> {
        let cells = |base: i64, high: i64| {
            vec![
                cell(Item::Session, "*", Some(SessionType::Am), base),
                cell(Item::Session, "high", Some(SessionType::Am), high),
                cell(Item::OneToOneHour, "*", None, 1800),
                cell(Item::TransportJourney, "*", None, 850),
                cell(Item::Meal, "*", None, 450),
            ]
        };
        vec![
            MatrixVersion {
                id: 1,
                effective_from: d("2025-01-01"),
                effective_to: Some(d("2025-09-30")),
                cells: cells(5000, 6500),
            },
            MatrixVersion {
                id: 2,
                effective_from: d("2025-10-01"),
                effective_to: None,
                cells: cells(5200, 6800),
            },
        ]
    }

    fn agreement(json: serde_json::Value) -> Placement {
        let mut base = serde_json::json!({
            "person_ref": "P1",
            "need_bands": [{"from": "2025-01-06", "band": "medium"}],
            "planned_sessions": [{"weekday": "monday", "session_type": "am"}],
            "start_date": "2025-01-06",
            "pathway": "therapeutic"
        });
        for (k, v) in json.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value::<crate::agreement::AgreementInput>(base)
            .unwrap()
            .into()
    }

    #[test]
    fn unit_costs_count_session_hours_and_one_to_one() {
        let mut cost = UnitCost::default();
        // Two three-hour sessions at £48, 1.5 hours of one-to-one at £18, a journey.
        cost.add(Item::Session, 8, 12, 9600);
        cost.add(Item::OneToOneHour, 6, 0, 2700);
        cost.add(Item::TransportJourney, 4, 0, 850);
        assert_eq!(cost.hours(), 7.5);
        // £131.50 over 7.5 hours: £17.533… an hour.
        assert_eq!(cost.per_hour_pence(), Some(1753));
        assert_eq!(UnitCost::default().per_hour_pence(), None);
    }

    #[test]
    fn periods_run_april_to_march() {
        let year = FinancialYear(2025);
        assert_eq!(period_index(year, d("2025-04-01")), 0);
        assert_eq!(period_index(year, d("2025-12-31")), 8);
        assert_eq!(period_index(year, d("2026-03-31")), 11);
    }

    #[test]
    fn a_year_of_mondays_at_the_rates_in_force() {
        let mut contract = crate::contract::tests::sample();
        contract.closure_dates = vec![d("2025-12-29")];
        let matrix = matrix();
        let pricer = Pricer::new(&contract, &matrix, d("2025-03-31"));
        let year = FinancialYear(2025);
        let plain = agreement(serde_json::json!({}));
        let c = commitment(&plain, &pricer, year, year.start());
        // Mondays from 7 April 2025 to 30 March 2026: 26 before the uplift of 1 October,
        // less Easter Monday and the early May, spring and summer bank holidays; 26 after
        // it, less the closure on 29 December.
        let before = 26 - 4;
        let after = 26 - 1;
        assert_eq!(c.total.current, before * 5000 + after * 5200);
        assert_eq!(c.total.baseline, (before + after) * 5000);
        assert_eq!(c.by_period.iter().sum::<i64>(), c.total.current);
        assert_eq!(
            c.by_period[0],
            3 * 5000,
            "April: 7, 14, 28 (21 April is Easter Monday)"
        );
    }

    #[test]
    fn weekly_authorisations_spread_over_the_planned_sessions() {
        let contract = crate::contract::tests::sample();
        let matrix = matrix();
        let pricer = Pricer::new(&contract, &matrix, d("2025-03-31"));
        let year = FinancialYear(2025);
        // Two sessions a week, 1.5 hours of one-to-one, three journeys and one meal: each
        // session carries half of them. One week only (an end date).
        let a = agreement(serde_json::json!({
            "planned_sessions": [{"weekday": "tuesday", "session_type": "am"}, {"weekday": "thursday", "session_type": "am"}],
            "one_to_one_hours_per_week": 1.5, "transport_journeys_per_week": 3, "meals": 1,
            "end_date": "2025-06-08"
        }));
        let c = commitment(&a, &pricer, year, d("2025-06-02"));
        assert_eq!(c.total.current, 2 * 5000 + 2700 + 3 * 850 + 450);
        // A suspension over the Thursday takes that session and its half of the week.
        let mut suspended = a.clone();
        suspended.suspensions = vec![crate::agreement::Suspension {
            from: d("2025-06-05"),
            to: d("2025-06-05"),
            reason: "hospital".into(),
        }];
        let c = commitment(&suspended, &pricer, year, d("2025-06-02"));
        // 5000 + (2700 + 2550 + 450) / 2 = 7850
        assert_eq!(c.total.current, 7850);
    }

    #[test]
    fn band_changes_price_from_their_date() {
        let contract = crate::contract::tests::sample();
        let matrix = matrix();
        let pricer = Pricer::new(&contract, &matrix, d("2025-03-31"));
        let year = FinancialYear(2025);
        let a = agreement(serde_json::json!({
            "need_bands": [{"from": "2025-01-06", "band": "medium"}, {"from": "2025-06-10", "band": "high"}],
            "end_date": "2025-06-22"
        }));
        let c = commitment(&a, &pricer, year, d("2025-06-02"));
        // Mondays 2 and 9 June at medium, 16 June at high.
        assert_eq!(c.in_band("medium").unwrap().current, 2 * 5000);
        assert_eq!(c.in_band("high").unwrap().current, 6500);
        let days = funded_days_by_band(&a, year.start(), year.end());
        assert_eq!(
            days,
            [
                ("medium", (d("2025-06-09") - d("2025-04-01")).num_days() + 1),
                ("high", 13)
            ]
        );
    }

    /// One of the property tests' agreements: which weekdays it plans (am), when it starts
    /// (days after 2 December 2024) and ends, a second band after some days, a suspension
    /// and its weekly units.
    #[derive(Debug, Clone)]
    struct Plan {
        start: u64,
        length: Option<u64>,
        weekdays: std::collections::BTreeSet<usize>,
        second_band: Option<(u64, usize)>,
        suspension: Option<(u64, u64)>,
        hours: u32,
        journeys: u32,
        meals: u32,
    }

    fn plans() -> impl proptest::strategy::Strategy<Value = Plan> {
        use proptest::strategy::Strategy;
        (
            0u64..500,
            proptest::option::of(1u64..400),
            proptest::collection::btree_set(0usize..7, 1..4),
            proptest::option::of((1u64..300, 0usize..4)),
            proptest::option::of((0u64..400, 0u64..40)),
            (0u32..12, 0u32..5, 0u32..3),
        )
            .prop_map(
                |(start, length, weekdays, second_band, suspension, (hours, journeys, meals))| {
                    Plan {
                        start,
                        length,
                        weekdays,
                        second_band,
                        suspension,
                        hours,
                        journeys,
                        meals,
                    }
                },
            )
    }

    impl Plan {
        fn placement(&self) -> Placement {
            const BANDS: [&str; 4] = ["low", "medium", "high", "complex"];
            let start_date = d("2024-12-02") + Days::new(self.start);
            let mut bands = vec![serde_json::json!({"from": start_date, "band": "medium"})];
            if let Some((after, band)) = self.second_band {
                bands.push(
                    serde_json::json!({"from": start_date + Days::new(after), "band": BANDS[band]}),
                );
            }
            let sessions: Vec<_> = self
                .weekdays
                .iter()
                .map(|w| serde_json::json!({"weekday": Weekday::ALL[*w].as_str(), "session_type": "am"}))
                .collect();
            let suspensions: Vec<_> = self
                .suspension
                .iter()
                .map(|(at, days)| serde_json::json!({"from": start_date + Days::new(*at), "to": start_date + Days::new(at + days), "reason": "r"}))
                .collect();
            agreement(serde_json::json!({
                "need_bands": bands,
                "planned_sessions": sessions,
                "start_date": start_date,
                "end_date": self.length.map(|l| start_date + Days::new(l)),
                "suspensions": suspensions,
                "one_to_one_hours_per_week": f64::from(self.hours) / 4.0,
                "transport_journeys_per_week": self.journeys,
                "meals": self.meals,
            }))
        }
    }

    /// The property tests' contract: two closure days in the year 2025.
    fn closing_contract() -> ContractInput {
        let mut contract = crate::contract::tests::sample();
        contract.closure_dates = vec![d("2025-12-29"), d("2026-02-16")];
        contract
    }

    proptest::proptest! {
        /// The running sums price every agreement exactly as the walk over its dates.
        #[test]
        fn running_sums_agree_with_the_walk(plan in plans(), from in 0u64..365) {
            let contract = closing_contract();
            let matrix = matrix();
            let pricer = Pricer::new(&contract, &matrix, d("2025-03-31"));
            let year = FinancialYear(2025);
            let a = plan.placement();
            let from = year.start() + Days::new(from);
            let walked = commitment(&a, &pricer, year, from);
            // Series from the window's first day (as budget monitoring builds them), from
            // the year's start, and from after it (which walks instead).
            for start in [from, year.start(), from + Days::new(1)] {
                let mut prices = PlanPrices::new(&pricer, year, start);
                proptest::prop_assert_eq!(&prices.commitment(&a, from), &walked);
            }
        }

        /// A contract's agreements priced one after another from the same prices, each
        /// plan's sums remembered for the next with the same sessions, band and range,
        /// cost what each walk does.
        #[test]
        fn remembered_plans_agree_with_the_walk(
            plans in proptest::collection::vec(plans(), 1..12),
            repeats in proptest::collection::vec(0usize..12, 0..12),
            from in 0u64..365,
        ) {
            let contract = closing_contract();
            let matrix = matrix();
            let pricer = Pricer::new(&contract, &matrix, d("2025-03-31"));
            let year = FinancialYear(2025);
            let from = year.start() + Days::new(from);
            let mut prices = PlanPrices::new(&pricer, year, from);
            // Some plans again, with other units: the same sessions, bands and ranges.
            let again = repeats.iter().map(|i| {
                let mut plan = plans[i % plans.len()].clone();
                plan.hours = (plan.hours + 3) % 12;
                plan.meals = (plan.meals + 1) % 3;
                plan
            });
            for plan in plans.iter().cloned().chain(again) {
                let a = plan.placement();
                proptest::prop_assert_eq!(&prices.commitment(&a, from), &commitment(&a, &pricer, year, from));
            }
        }

        /// Rates looked up once per version, day category, item, session type and band
        /// are the rates of each date.
        #[test]
        fn remembered_rates_are_each_dates_rates(
            days in proptest::collection::vec(0u64..400, 1..40),
            band in 0usize..4,
            item in 0usize..4,
        ) {
            const BANDS: [&str; 4] = ["low", "medium", "high", "complex"];
            let mut contract = crate::contract::tests::sample();
            contract.closure_dates = vec![d("2025-12-29")];
            // Weekends and bank holidays priced apart, in the second version only.
            let mut matrix = matrix();
            for (category, pence) in [(DayCategory::Weekend, 7000), (DayCategory::BankHoliday, 9000)] {
                for item in ITEMS {
                    let session = (item == Item::Session).then_some(SessionType::Am);
                    matrix[1].cells.push(RateCell { day_category: category, ..cell(item, "*", session, pence) });
                }
            }
            let pricer = Pricer::new(&contract, &matrix, d("2025-03-31"));
            let year = FinancialYear(2025);
            let mut prices = PlanPrices::new(&pricer, year, year.start());
            let item = ITEMS[item];
            let session_type = (item == Item::Session).then_some(SessionType::Am);
            for day in days {
                // Some dates fall after the year, outside its table of days.
                let date = year.start() + Days::new(day);
                proptest::prop_assert_eq!(
                    prices.rates(date, item, BANDS[band], session_type),
                    pricer.rates(date, item, BANDS[band], session_type)
                );
            }
        }
    }

    #[test]
    fn the_three_parts_sum_to_the_variance() {
        let inputs = MixInputs {
            funded_days: [("low".to_string(), 3650), ("high".to_string(), 1825)]
                .into_iter()
                .collect(),
            baseline_priced: [
                ("low".to_string(), 1_000_000),
                ("high".to_string(), 900_000),
            ]
            .into_iter()
            .collect(),
            baseline_people: [("low".to_string(), 12), ("high".to_string(), 3)]
                .into_iter()
                .collect(),
        };
        // 15 person-years at the baseline mix (80% low at £2.74 a day, 20% high at £4.93):
        // 5,475 days at £3.178 is £17,400 to the nearest penny.
        let split = split_variance(1_500_000, 2_000_000, &inputs);
        assert_eq!(split.volume_pence, 1_740_000 - 1_500_000);
        assert_eq!(split.mix_pence, 1_900_000 - 1_740_000);
        assert_eq!(split.price_pence, 100_000);
        assert_eq!(
            split.volume_pence + split.mix_pence + split.price_pence,
            2_000_000 - 1_500_000
        );
        // No baseline caseload: no mix.
        let fresh = MixInputs {
            baseline_people: BTreeMap::new(),
            ..inputs
        };
        let split = split_variance(1_500_000, 2_000_000, &fresh);
        assert_eq!(split.mix_pence, 0);
        assert_eq!(split.volume_pence, 400_000);
    }
}
