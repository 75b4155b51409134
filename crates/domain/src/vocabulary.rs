//! Controlled vocabularies.
//!
//! Core vocabularies (marked **core** in shared/domain.md, or carrying a validation rule's meaning, such as a
//! task being Completed) are Rust enums: a misspelt value is a parse error that lists the accepted ones.
//! Every other vocabulary is reference data that HQ can extend, so it is a [`Code`] checked against
//! [`crate::ReferenceData`] by the `unknown_code` rule.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value from an extensible reference list (a clearance method, an ordnance model, a stoppage reason...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Code(pub String);

impl Code {
    pub fn new(code: impl Into<String>) -> Self {
        Code(code.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a core vocabulary: a snake_case serde enum with its wire names available as strings.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// How certain it is that a hazard area is contaminated (core).
    HazardClass { Sha => "sha", Cha => "cha", EodSpot => "eod_spot" }
);

vocabulary!(
    /// Life cycle of a hazard area. `closed` is guarded by the `hazard_closure` rule.
    HazardStatus { Open => "open", WorkedOn => "worked_on", Suspended => "suspended", Closed => "closed" }
);

vocabulary!(
    /// What a task orders the teams to do (core).
    Activity {
        NonTechnicalSurvey => "non_technical_survey",
        TechnicalSurvey => "technical_survey",
        Clearance => "clearance",
        BattleAreaClearance => "battle_area_clearance",
        EodSpotTask => "eod_spot_task",
    }
);

vocabulary!(
    /// Life cycle of a task. A completed task takes no new daily report until it is reopened.
    TaskStatus {
        Planned => "planned",
        Active => "active",
        Suspended => "suspended",
        Completed => "completed",
        Cancelled => "cancelled",
    }
);

vocabulary!(
    /// What a worked area's search concluded (core).
    Outcome {
        Cleared => "cleared",
        Reduced => "reduced",
        Cancelled => "cancelled",
        SearchedPositive => "searched_positive",
        SearchedNegative => "searched_negative",
        Inaccessible => "inaccessible",
    }
);

vocabulary!(
    /// The kind of explosive ordnance found (core).
    FindCategory {
        ApMine => "ap_mine",
        AtMine => "at_mine",
        Uxo => "uxo",
        AbandonedOrdnance => "abandoned_ordnance",
        Submunition => "submunition",
        Ied => "ied",
        SmallArmsAmmunition => "small_arms_ammunition",
        FuzeComponent => "fuze_component",
        Unknown => "unknown",
    }
);

vocabulary!(
    /// Yes, no or not known: fuzed, armed, booby-trapped.
    TriState { Yes => "yes", No => "no", Unknown => "unknown" }
);

vocabulary!(
    /// Whether a find has been dealt with.
    DisposalStatus { Pending => "pending", Disposed => "disposed", HandedOver => "handed_over" }
);

vocabulary!(
    /// How a demolition went; a misfire needs follow-up.
    DemolitionResult { Complete => "complete", Partial => "partial", Misfire => "misfire" }
);

vocabulary!(
    /// The verdict of a QA or QC inspection (core).
    QaResult {
        Pass => "pass",
        MinorNonConformity => "minor_non_conformity",
        MajorNonConformity => "major_non_conformity",
        CriticalNonConformity => "critical_non_conformity",
        Fail => "fail",
    }
);

vocabulary!(
    /// The kind of incident reported.
    IncidentKind {
        DeminingAccident => "demining_accident",
        IncidentWithoutInjury => "incident_without_injury",
        CivilianAccident => "civilian_accident",
    }
);

vocabulary!(
    /// What happened to a victim.
    Injury { Killed => "killed", Injured => "injured" }
);

vocabulary!(
    /// Sex as recorded for victims and handover attendance.
    Sex { Female => "female", Male => "male", Unknown => "unknown" }
);

vocabulary!(
    /// The role of a point in a surveyed perimeter.
    PointKind {
        Reference => "reference",
        Benchmark => "benchmark",
        Start => "start",
        Turning => "turning",
        Intermediate => "intermediate",
        End => "end",
        Evidence => "evidence",
        Demolition => "demolition",
    }
);

vocabulary!(
    /// Where a record stands in review (core): Draft → Submitted → (Returned → Draft) →
    /// SupervisorApproved → HqApproved.
    ReviewStatus {
        Draft => "draft",
        Submitted => "submitted",
        Returned => "returned",
        SupervisorApproved => "supervisor_approved",
        HqApproved => "hq_approved",
    }
);

impl ReviewStatus {
    /// Approved records are never edited in place: a correction is a new record that supersedes them.
    pub fn is_approved(self) -> bool {
        matches!(self, ReviewStatus::SupervisorApproved | ReviewStatus::HqApproved)
    }
}

// The vocabulary! macro declares the enum, so no single variant can carry `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for ReviewStatus {
    fn default() -> Self {
        ReviewStatus::Draft
    }
}
