//! The programme's settings and reference data: everything a national authority sets rather than the code.

use crate::vocabulary::{Code, FindCategory};
use chrono::FixedOffset;
use std::collections::{BTreeMap, BTreeSet};

/// Settings of one national programme. The default is Azerbaijan's (ANAMA).
#[derive(Debug, Clone)]
pub struct Programme {
    /// `[min_lon, min_lat, max_lon, max_lat]`: points outside get the `programme_area` warning.
    pub bounding_box: [f64; 4],
    /// Offset of the programme's time zone, for day boundaries. Asia/Baku has kept UTC+4 without DST since 2016.
    pub utc_offset: FixedOffset,
    /// An entry typed more than this many days after its date of information gets the `late_entry` warning.
    pub late_entry_days: i64,
    /// A recorded time more than this many minutes ahead of the device clock gets the `future_time` warning.
    pub clock_tolerance_minutes: i64,
    pub reference: ReferenceData,
}

impl Default for Programme {
    fn default() -> Self {
        Programme {
            bounding_box: [44.7, 38.3, 50.9, 41.95],
            utc_offset: FixedOffset::east_opt(4 * 3600).unwrap_or_else(|| unreachable!("+04:00 is a valid offset")),
            late_entry_days: 7,
            clock_tolerance_minutes: 10,
            reference: ReferenceData::default(),
        }
    }
}

/// The extensible vocabularies and the ordnance catalogue. HQ can add codes; fieldsync ships IMAS-style defaults.
#[derive(Debug, Clone)]
pub struct ReferenceData {
    /// Vocabulary name → accepted codes.
    pub vocabularies: BTreeMap<&'static str, BTreeSet<String>>,
    /// Ordnance model code → its category.
    pub ordnance_models: BTreeMap<String, FindCategory>,
}

impl ReferenceData {
    pub fn accepts(&self, vocabulary: &str, code: &Code) -> bool {
        self.vocabularies
            .get(vocabulary)
            .is_some_and(|codes| codes.contains(code.as_str()))
    }

    pub fn codes(&self, vocabulary: &str) -> String {
        self.vocabularies
            .get(vocabulary)
            .map(|c| c.iter().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    }
}

impl Default for ReferenceData {
    fn default() -> Self {
        let list = |codes: &[&str]| codes.iter().map(|c| c.to_string()).collect::<BTreeSet<_>>();
        let vocabularies = BTreeMap::from([
            (
                "capture_method",
                list(&[
                    "handheld_gnss",
                    "rtk_gnss",
                    "bearing_distance",
                    "laser_offset",
                    "digitised",
                ]),
            ),
            (
                "contamination",
                list(&[
                    "ap_mines",
                    "at_mines",
                    "uxo",
                    "abandoned_ordnance",
                    "cluster_munition_remnants",
                    "ied",
                ]),
            ),
            (
                "evidence",
                list(&[
                    "direct_mine_seen",
                    "direct_accident",
                    "direct_find",
                    "indirect_informant",
                    "indirect_historic_record",
                    "indirect_military_position",
                    "indirect_land_unused",
                ]),
            ),
            ("clearance_method", list(&["manual", "mechanical", "mdd", "bac", "eod"])),
            (
                "detection",
                list(&[
                    "detector",
                    "dog_indication",
                    "machine",
                    "visual",
                    "excavation",
                    "informant",
                ]),
            ),
            (
                "condition",
                list(&[
                    "intact",
                    "damaged",
                    "corroded",
                    "partially_functioned",
                    "fragments",
                    "unknown",
                ]),
            ),
            (
                "demolition_method",
                list(&[
                    "destroyed_in_situ",
                    "moved_and_destroyed_on_site",
                    "transported_to_central_site",
                    "render_safe_then_removed",
                    "handed_over_to_authority",
                ]),
            ),
            ("qa_kind", list(&["internal_qa", "external_qa", "qc_sampling"])),
            (
                "stoppage_reason",
                list(&["weather", "medical", "equipment", "security", "administrative", "other"]),
            ),
            (
                "ground_conditions",
                list(&["dry", "wet", "frozen", "rocky", "vegetated", "flooded"]),
            ),
            (
                "weather",
                list(&["clear", "cloudy", "rain", "snow", "fog", "wind", "heat"]),
            ),
            ("age_band", list(&["child", "adult", "elderly", "unknown"])),
        ]);
        use FindCategory::*;
        let models: [(&str, FindCategory); 32] = [
            ("PMN", ApMine),
            ("PMN-2", ApMine),
            ("PMN-4", ApMine),
            ("PMN-E", ApMine),
            ("PFM-1", ApMine),
            ("POMZ-2M", ApMine),
            ("OZM-72", ApMine),
            ("MON-50", ApMine),
            ("E-001M", ApMine),
            ("TM-46", AtMine),
            ("TM-57", AtMine),
            ("TM-62M", AtMine),
            ("TM-72", AtMine),
            ("PTM-1", AtMine),
            ("MORTAR-82MM", Uxo),
            ("MORTAR-120MM", Uxo),
            ("PROJECTILE-122MM", Uxo),
            ("PROJECTILE-152MM", Uxo),
            ("9M22", Uxo),
            ("PG-7", Uxo),
            ("VOG-17", Uxo),
            ("VOG-25", Uxo),
            ("F-1", Uxo),
            ("RGD-5", Uxo),
            ("9N210", Submunition),
            ("9N235", Submunition),
            ("PTAB-1M", Submunition),
            ("M77", Submunition),
            ("7.62MM", SmallArmsAmmunition),
            ("12.7MM", SmallArmsAmmunition),
            ("UZRGM", FuzeComponent),
            ("MUV", FuzeComponent),
        ];
        ReferenceData {
            vocabularies,
            ordnance_models: models.into_iter().map(|(m, c)| (m.to_string(), c)).collect(),
        }
    }
}
