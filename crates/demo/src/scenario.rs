//! What the demo generates: how many operators, teams, tasks and weeks, from which seed, up to which day.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// A preset size of the demo programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scale {
    /// 3 operators, 2–3 teams each, 6 weeks: a few thousand records, pushed in seconds.
    #[default]
    Small,
    /// 4 operators, 3–4 teams each, 16 weeks: some 10,000 records.
    Medium,
    /// 8 operators, 5–7 teams each, a year: about 100,000 records, for benchmarks.
    Large,
}

impl Scale {
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Small => "small",
            Scale::Medium => "medium",
            Scale::Large => "large",
        }
    }
}

/// Days between the last working day of the demo and `today`: the data looks like last week's reports.
pub const DAYS_BEFORE_TODAY: i64 = 3;

/// Everything the generator needs; the same scenario always gives the same records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Operators (ANAMA, ministries, commercial companies), each working its own sector of the former front line.
    pub operators: usize,
    /// Each operator fields between this many teams (inclusive), drawn from the seed.
    pub teams_per_operator: (usize, usize),
    /// Tasks each team works through over the period, on average; the last is still under way at the end, and
    /// each team has one more planned.
    pub tasks_per_team: usize,
    /// Weeks of field work, five working days each.
    pub weeks: usize,
    pub seed: u64,
    /// The day the demo is made; the last working day lies [`DAYS_BEFORE_TODAY`] or more days before it.
    pub today: NaiveDate,
}

impl Scenario {
    pub fn new(scale: Scale, seed: u64, today: NaiveDate) -> Scenario {
        let (operators, teams_per_operator, tasks_per_team, weeks) = match scale {
            Scale::Small => (3, (2, 3), 3, 6),
            Scale::Medium => (4, (3, 4), 5, 16),
            Scale::Large => (8, (5, 7), 12, 52),
        };
        Scenario {
            operators,
            teams_per_operator,
            tasks_per_team,
            weeks,
            seed,
            today,
        }
    }

    /// The working days (Monday to Friday), oldest first, the last one [`DAYS_BEFORE_TODAY`] or more days before
    /// `today`.
    pub fn working_days(&self) -> Vec<NaiveDate> {
        let mut day = self.today - Duration::days(DAYS_BEFORE_TODAY);
        let mut days = Vec::with_capacity(self.weeks * 5);
        while days.len() < self.weeks * 5 {
            if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                days.push(day);
            }
            day -= Duration::days(1);
        }
        days.reverse();
        days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_are_weekdays_ending_a_few_days_before_today() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"); // a Monday
        let days = Scenario::new(Scale::Small, 1, today).working_days();
        assert_eq!(days.len(), 30);
        assert_eq!(
            days.last(),
            NaiveDate::from_ymd_opt(2026, 11, 20).as_ref(),
            "Friday, 3 days before"
        );
        assert!(days.windows(2).all(|w| w[0] < w[1]));
        assert!(days.iter().all(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)));
    }
}
