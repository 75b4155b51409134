//! HQ's statistics (shared/domain.md, "What HQ needs out"): land released, finds, disposals and team productivity,
//! over a filter. Computed by the storage backend from HQ's materialized tables, never from documents; the
//! definitions below are the contract every backend follows, and docs/statistics.md explains them to HQ.
//!
//! - Void records never count, nor do superseded ones: a record that a live (not void) correction supersedes
//!   counts through the correction alone, so a corrected worked area is not counted twice.
//! - A record's team is its daily report's team, or else its task's only team; a record of a task with several
//!   teams and no daily report is counted under "(unassigned)". Its organisation is its task's.
//! - Land released is the geodesic area (`area_m2`) of worked areas by outcome: cleared, reduced (split by whether
//!   a technical asset was used) and cancelled. Other outcomes (searched, inaccessible) release no land.
//! - Finds count items (`quantity`), by category and by model.
//! - Disposals are demolitions by method: events and items destroyed.
//! - Productivity is cleared m² per team-day, a team-day being one daily report of that team.

use chrono::NaiveDate;
use domain::vocabulary::ReviewStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which records count. Every bound is inclusive; an absent bound does not filter. The same fields are the HTTP
/// query parameters and the command-line flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
pub struct Filter {
    /// First day counted (date of information, YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last day counted.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    #[arg(long)]
    pub organisation: Option<String>,
    #[arg(long)]
    pub team: Option<String>,
    /// A task's record id.
    #[arg(long)]
    pub task: Option<Uuid>,
    /// Only records in this review status (draft, submitted, returned, supervisor_approved, hq_approved),
    /// `approved` for both approved ones (the records official totals are computed from), or `any`. Statistics and
    /// totals count approved records unless told otherwise; exports hold every record unless told otherwise.
    #[arg(long)]
    pub review: Option<ReviewFilter>,
}

impl Filter {
    /// The filter of a figure HQ reports: approved records unless another review filter was asked for.
    pub fn reported(mut self) -> Filter {
        self.review.get_or_insert(ReviewFilter::Approved);
        self
    }
}

/// The review statuses a filter counts: one, or `approved` for a supervisor's and HQ's approval alike
/// (shared/domain.md: national totals are recomputed from approved records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ReviewFilter {
    Status(ReviewStatus),
    Approved,
    /// Every record reported, drafts included.
    Any,
}

impl ReviewFilter {
    /// The statuses counted, as the JSON array the storage's queries take; None for any status.
    pub fn statuses_json(self) -> Option<String> {
        let statuses: Vec<&str> = match self {
            ReviewFilter::Status(status) => vec![status.as_str()],
            ReviewFilter::Approved => ReviewStatus::ALL
                .iter()
                .filter(|s| s.is_approved())
                .map(|s| s.as_str())
                .collect(),
            ReviewFilter::Any => return None,
        };
        Some(serde_json::Value::from(statuses).to_string())
    }
}

impl std::str::FromStr for ReviewFilter {
    type Err = String;

    fn from_str(text: &str) -> Result<ReviewFilter, String> {
        match text {
            "approved" => return Ok(ReviewFilter::Approved),
            "any" => return Ok(ReviewFilter::Any),
            _ => {}
        }
        ReviewStatus::ALL
            .iter()
            .find(|s| s.as_str() == text)
            .map(|s| ReviewFilter::Status(*s))
            .ok_or_else(|| {
                let known: Vec<&str> = ReviewStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "review={text:?} is not a review status: use approved, any or one of {}",
                    known.join(", ")
                )
            })
    }
}

impl TryFrom<String> for ReviewFilter {
    type Error = String;

    fn try_from(text: String) -> Result<ReviewFilter, String> {
        text.parse()
    }
}

impl From<ReviewFilter> for String {
    fn from(filter: ReviewFilter) -> String {
        match filter {
            ReviewFilter::Status(status) => status.as_str().to_string(),
            ReviewFilter::Approved => "approved".to_string(),
            ReviewFilter::Any => "any".to_string(),
        }
    }
}

/// Land released, in m² and hectares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LandRelease {
    pub cleared_m2: f64,
    pub reduced_with_technical_asset_m2: f64,
    pub reduced_without_technical_asset_m2: f64,
    pub cancelled_m2: f64,
    /// Cleared + reduced + cancelled.
    pub released_m2: f64,
    pub cleared_ha: f64,
    pub reduced_ha: f64,
    pub cancelled_ha: f64,
    pub released_ha: f64,
    /// Worked areas counted.
    pub worked_areas: u64,
}

impl LandRelease {
    /// Adds the contribution of `worked_areas` worked areas of one outcome, `area_m2` in all.
    pub fn add(&mut self, outcome: &str, technical_asset: Option<bool>, area_m2: f64, worked_areas: u64) {
        match (outcome, technical_asset) {
            ("cleared", _) => self.cleared_m2 += area_m2,
            ("reduced", Some(true)) => self.reduced_with_technical_asset_m2 += area_m2,
            ("reduced", _) => self.reduced_without_technical_asset_m2 += area_m2,
            ("cancelled", _) => self.cancelled_m2 += area_m2,
            _ => {}
        }
        self.worked_areas += worked_areas;
        self.finish();
    }

    /// Fills the totals and hectares from the m² figures.
    fn finish(&mut self) {
        let reduced = self.reduced_with_technical_asset_m2 + self.reduced_without_technical_asset_m2;
        self.released_m2 = self.cleared_m2 + reduced + self.cancelled_m2;
        self.cleared_ha = self.cleared_m2 / 10_000.0;
        self.reduced_ha = reduced / 10_000.0;
        self.cancelled_ha = self.cancelled_m2 / 10_000.0;
        self.released_ha = self.released_m2 / 10_000.0;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keyed<T> {
    pub key: String,
    #[serde(flatten)]
    pub value: T,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindCount {
    pub category: String,
    pub model: Option<String>,
    /// Items (the sum of `quantity`).
    pub items: i64,
    /// Find records.
    pub finds: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposals {
    pub method: String,
    pub demolitions: u64,
    pub items_destroyed: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Productivity {
    pub team: String,
    pub team_days: u64,
    pub cleared_m2: f64,
    pub m2_per_team_day: f64,
}

/// Everything HQ's statistics report for one filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    pub filter: Filter,
    /// ANAMA's headline form: hectares cleared, AP mines, AT mines and UXO.
    pub headline: Headline,
    pub land_release: LandRelease,
    pub land_release_by_team: Vec<Keyed<LandRelease>>,
    pub land_release_by_task: Vec<Keyed<LandRelease>>,
    /// By the worked area's methods (a set, `;`-joined: a box cleared manually and by dog counts once, there).
    pub land_release_by_method: Vec<Keyed<LandRelease>>,
    /// By month of the date of information (`2026-11`).
    pub land_release_by_month: Vec<Keyed<LandRelease>>,
    pub finds_by_category: Vec<FindCount>,
    pub finds_by_model: Vec<FindCount>,
    pub disposals_by_method: Vec<Disposals>,
    pub productivity: Vec<Productivity>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub hectares_cleared: f64,
    pub ap_mines: i64,
    pub at_mines: i64,
    pub uxo: i64,
}

impl Statistics {
    /// Fills the headline from the detailed figures.
    pub fn with_headline(mut self) -> Statistics {
        let items = |category: &str| {
            self.finds_by_category
                .iter()
                .filter(|f| f.category == category)
                .map(|f| f.items)
                .sum()
        };
        self.headline = Headline {
            hectares_cleared: self.land_release.cleared_ha,
            ap_mines: items("ap_mine"),
            at_mines: items("at_mine"),
            uxo: items("uxo"),
        };
        self
    }
}

/// The dashboard's totals: the headline and land released, without the breakdowns (fast on a million records).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub filter: Filter,
    pub headline: Headline,
    pub land_release: LandRelease,
    pub finds_by_category: Vec<FindCount>,
}

impl Totals {
    pub fn of(stats: Statistics) -> Totals {
        Totals {
            filter: stats.filter,
            headline: stats.headline,
            land_release: stats.land_release,
            finds_by_category: stats.finds_by_category,
        }
    }
}

/// The team a record counts under when neither its daily report nor its task names exactly one team.
pub const UNASSIGNED: &str = "(unassigned)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_filter_is_a_status_or_approved_and_names_a_mistake() {
        let approved: ReviewFilter = "approved".parse().expect("approved");
        assert_eq!(
            approved.statuses_json().as_deref(),
            Some(r#"["supervisor_approved","hq_approved"]"#)
        );
        assert_eq!("any".parse::<ReviewFilter>().map(ReviewFilter::statuses_json), Ok(None));
        let submitted: ReviewFilter = "submitted".parse().expect("a status");
        assert_eq!(submitted.statuses_json().as_deref(), Some(r#"["submitted"]"#));
        assert_eq!(String::from(submitted), "submitted");
        let message = "aproved".parse::<ReviewFilter>().expect_err("a typo");
        assert!(
            message.contains("\"aproved\"") && message.contains("hq_approved"),
            "{message}"
        );
    }

    #[test]
    fn land_release_adds_by_outcome_and_converts_to_hectares() {
        let mut land = LandRelease::default();
        land.add("cleared", None, 15_000.0, 2);
        land.add("reduced", Some(true), 2_000.0, 1);
        land.add("reduced", Some(false), 1_000.0, 1);
        land.add("reduced", None, 500.0, 1);
        land.add("cancelled", None, 10_000.0, 1);
        land.add("searched_negative", None, 99_999.0, 1);
        assert_eq!(land.cleared_ha, 1.5);
        assert_eq!(land.reduced_with_technical_asset_m2, 2_000.0);
        assert_eq!(land.reduced_without_technical_asset_m2, 1_500.0);
        assert_eq!(land.released_m2, 28_500.0);
        assert_eq!(land.released_ha, 2.85);
        assert_eq!(land.worked_areas, 7);
    }
}
