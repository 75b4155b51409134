//! The layers HQ exports: one per record type, with its geometry and typed columns.
//!
//! The schema is written for a GIS analyst and for the reports HQ builds from the layers (shared/domain.md,
//! "What HQ needs out"): every column a report needs is here, flat, typed, with units in its name.
//! It is the single source of every writer's columns, so a column means the same in GeoPackage, GeoJSON and CSV.
//!
//! Conventions every layer keeps:
//! - `record_id` is the record's UUID, the stable id to join on across exports; links to other records end in
//!   `_id` (`task_id`, `worked_area_id`...) and hold that record's `record_id`, lists of them end in `_ids`;
//! - `date_of_information` (the day the facts refer to) is an ISO 8601 date, instants are UTC ISO 8601 with `Z`;
//! - units are in column names: `_m2`, `_m`, `_cm`, `_minutes`, `_hours`; positions are WGS84 degrees;
//! - a set of codes (methods, teams...) is one text of the codes joined by `;`, sorted, so it reads and splits alike;
//! - a small breakdown (stoppage minutes by reason, people present by group) is `key:count` pairs joined by `;`;
//! - void records are exported (reports must be able to show and exclude them), flagged by `void` and `void_reason`;
//! - polygons get `area_m2`, the geodesic area the domain computes and totals use, not a planar figure.

use crate::error::LayerError;
use domain::RecordType;
use std::collections::HashSet;
use std::sync::LazyLock;

/// The type of a column, mapped to each format's types (GeoPackage TEXT, INTEGER, REAL, DATE, DATETIME, BOOLEAN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Text,
    Integer,
    Real,
    /// An ISO 8601 date, `2026-11-20`.
    Date,
    /// An ISO 8601 instant in UTC, `2026-11-20T09:15:00Z`.
    DateTime,
    Boolean,
}

impl ColumnType {
    /// The GeoPackage (SQLite) column type name, from the GeoPackage data types table.
    pub fn gpkg_name(self) -> &'static str {
        match self {
            ColumnType::Text => "TEXT",
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Date => "DATE",
            ColumnType::DateTime => "DATETIME",
            ColumnType::Boolean => "BOOLEAN",
        }
    }
}

/// The geometry a layer holds. Every feature of a layer has this geometry or none (a record without a perimeter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeometryKind {
    /// An attribute-only layer (a task, a daily report): GeoPackage `attributes`, GeoJSON null geometry.
    None,
    Point,
    Polygon,
    MultiPolygon,
}

impl GeometryKind {
    /// The geometry type name of gpkg_geometry_columns, or None for an attribute-only layer.
    pub fn gpkg_name(self) -> Option<&'static str> {
        match self {
            GeometryKind::None => None,
            GeometryKind::Point => Some("POINT"),
            GeometryKind::Polygon => Some("POLYGON"),
            GeometryKind::MultiPolygon => Some("MULTIPOLYGON"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub column_type: ColumnType,
}

impl Column {
    pub fn new(name: &str, column_type: ColumnType) -> Column {
        Column {
            name: name.to_string(),
            column_type,
        }
    }
}

/// A layer: its name (the GeoPackage table, the GeoJSON collection's `name`, the CSV file's stem), a line saying
/// what one row is, its geometry and its columns in order. Feature values come in this column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub description: String,
    pub geometry: GeometryKind,
    pub columns: Vec<Column>,
}

impl Layer {
    /// The position of a column, by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Checks the names a writer puts into SQL, JSON keys and file names: lower-case ascii identifiers, no
    /// column twice, none named like the GeoPackage's own `fid` and `geom` or the CSV's geometry columns.
    pub fn validate(&self) -> Result<(), LayerError> {
        check_name(&self.name)?;
        let mut seen: HashSet<&str> = ["fid", "geom", "longitude", "latitude", "geometry_wkt"].into();
        for column in &self.columns {
            check_name(&column.name)?;
            if !seen.insert(&column.name) {
                return Err(LayerError::DuplicateColumn {
                    layer: self.name.clone(),
                    column: column.name.clone(),
                });
            }
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), LayerError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if first_ok && name.len() <= 63 && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        Ok(())
    } else {
        Err(LayerError::InvalidName { name: name.to_string() })
    }
}

/// The layer of a record type.
pub fn layer(record_type: RecordType) -> &'static Layer {
    let index = RecordType::ALL.iter().position(|t| *t == record_type).unwrap_or(0);
    &LAYERS[index]
}

/// Every layer, in the order of [`RecordType::ALL`].
pub fn layers() -> &'static [Layer] {
    LAYERS.as_slice()
}

static LAYERS: LazyLock<Vec<Layer>> = LazyLock::new(|| RecordType::ALL.into_iter().map(build).collect());

use ColumnType::{Boolean as B, Date as D, DateTime as DT, Integer as I, Real as R, Text as T};

/// The columns every layer starts with.
const HEAD: &[(&str, ColumnType)] = &[("record_id", T), ("label", T), ("date_of_information", D)];

/// The columns every layer ends with: where the record stands in review, what it corrects, and whether it is void.
const TAIL: &[(&str, ColumnType)] = &[("review", T), ("supersedes_id", T), ("void", B), ("void_reason", T)];

fn build(record_type: RecordType) -> Layer {
    let (name, geometry, description, body): (&str, GeometryKind, &str, &[(&str, ColumnType)]) = match record_type {
        RecordType::HazardArea => (
            "hazard_areas",
            GeometryKind::Polygon,
            "Suspected and confirmed hazard areas (IMSMA Land): one row per hazard area record; geometry is the \
             perimeter, null when none was surveyed.",
            &[
                ("classification", T),
                ("status", T),
                ("contamination", T),
                ("evidence", T),
                ("area_m2", R),
                ("estimated_area_m2", R),
                ("perimeter_accuracy_m", R),
                ("reference_point_lon", R),
                ("reference_point_lat", R),
                ("reference_point_accuracy_m", R),
                ("benchmark_lon", R),
                ("benchmark_lat", R),
                ("benchmark_accuracy_m", R),
            ],
        ),
        RecordType::Task => (
            "tasks",
            GeometryKind::None,
            "Tasking orders: one row per task; hazard_area_ids links to hazard_areas.record_id.",
            &[
                ("activity", T),
                ("status", T),
                ("organisation", T),
                ("teams", T),
                ("hazard_area_ids", T),
                ("planned_start", D),
                ("planned_end", D),
                ("required_depth_cm", I),
                ("authorised_methods", T),
                ("reopen_reason", T),
            ],
        ),
        RecordType::DailyReport => (
            "daily_reports",
            GeometryKind::None,
            "One team's day on one task; its worked areas, finds, demolitions and QA link to it by daily_report_id.",
            &[
                ("task_id", T),
                ("team", T),
                ("team_leader", T),
                ("personnel_count", I),
                ("person_hours", R),
                ("start_time", DT),
                ("end_time", DT),
                ("stoppage_minutes", I),
                ("stoppage_minutes_by_reason", T),
                ("assets", T),
                ("ground_conditions", T),
                ("weather", T),
                ("signed_off_by", T),
                ("signed_off_at", DT),
                ("signoff_comment", T),
            ],
        ),
        RecordType::WorkedArea => (
            "worked_areas",
            GeometryKind::Polygon,
            "Worked areas (cleared plots): one row per box, lane set or sector worked on a day; area_m2 is the \
             geodesic area totals use; a lane is the band of lane_width_m around its centreline.",
            &[
                ("task_id", T),
                ("daily_report_id", T),
                ("shape_kind", T),
                ("lane_width_m", R),
                ("area_m2", R),
                ("reported_area_m2", R),
                ("capture_method", T),
                ("accuracy_m", R),
                ("methods", T),
                ("depth_achieved_cm", I),
                ("outcome", T),
                ("inaccessible_reason", T),
                ("technical_asset", B),
            ],
        ),
        RecordType::Find => (
            "finds",
            GeometryKind::Point,
            "Explosive ordnance found: one row per item or batch of identical items, at the place it was found.",
            &[
                ("task_id", T),
                ("worked_area_id", T),
                ("daily_report_id", T),
                ("found_at", DT),
                ("found_by", T),
                ("detection", T),
                ("category", T),
                ("model", T),
                ("quantity", I),
                ("depth_cm", I),
                ("condition", T),
                ("fuzed", T),
                ("armed", T),
                ("booby_trapped", T),
                ("disposal", T),
                ("capture_method", T),
                ("accuracy_m", R),
                ("photo_count", I),
            ],
        ),
        RecordType::Demolition => (
            "demolitions",
            GeometryKind::Point,
            "Disposal events at the demolition site; finds_destroyed lists find_id:quantity pairs.",
            &[
                ("task_id", T),
                ("method", T),
                ("demolished_at", DT),
                ("operator", T),
                ("charge", T),
                ("result", T),
                ("find_count", I),
                ("items_destroyed", I),
                ("finds_destroyed", T),
                ("capture_method", T),
                ("accuracy_m", R),
            ],
        ),
        RecordType::QaInspection => (
            "qa_inspections",
            GeometryKind::None,
            "QA and QC inspections of a deminer, a team or a worked area.",
            &[
                ("task_id", T),
                ("kind", T),
                ("inspector", T),
                ("worked_area_id", T),
                ("subject_team", T),
                ("subject_deminer", T),
                ("area_checked_m2", R),
                ("result", T),
                ("item_found", B),
                ("corrective_action", T),
                ("rework_area_m2", R),
            ],
        ),
        RecordType::CompletionReport => (
            "completion_reports",
            GeometryKind::Polygon,
            "Completion and handover of a task; geometry is the final perimeter, null when none was given.",
            &[
                ("task_id", T),
                ("area_m2", R),
                ("depth_cm", I),
                ("methods", T),
                ("qa_inspection_ids", T),
                ("handover_date", D),
                ("recipient", T),
                ("turning_point_count", I),
                ("turning_points_unmarked", I),
                ("benchmark_lon", R),
                ("benchmark_lat", R),
                ("benchmark_accuracy_m", R),
                ("reference_point_lon", R),
                ("reference_point_lat", R),
                ("reference_point_accuracy_m", R),
                ("people_present_total", I),
                ("people_present", T),
            ],
        ),
        RecordType::Incident => (
            "incidents",
            GeometryKind::Point,
            "Demining accidents, incidents without injury and civilian accidents; victims lists sex/age_band/injury.",
            &[
                ("task_id", T),
                ("kind", T),
                ("occurred_at", DT),
                ("device", T),
                ("activity", T),
                ("victims_killed", I),
                ("victims_injured", I),
                ("victims", T),
                ("investigation_reference", T),
                ("capture_method", T),
                ("accuracy_m", R),
            ],
        ),
    };
    let columns = HEAD
        .iter()
        .chain(body)
        .chain(TAIL)
        .map(|(name, column_type)| Column::new(name, *column_type))
        .collect();
    Layer {
        name: name.to_string(),
        description: description.to_string(),
        geometry,
        columns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_type_has_a_valid_layer_with_the_common_columns() {
        for record_type in RecordType::ALL {
            let layer = layer(record_type);
            layer.validate().unwrap_or_else(|e| panic!("{record_type}: {e}"));
            for (name, column_type) in HEAD.iter().chain(TAIL) {
                let index = layer
                    .column_index(name)
                    .unwrap_or_else(|| panic!("{}: no {name}", layer.name));
                assert_eq!(layer.columns[index].column_type, *column_type, "{}.{name}", layer.name);
            }
            let has_task = !matches!(record_type, RecordType::HazardArea | RecordType::Task);
            assert_eq!(layer.column_index("task_id").is_some(), has_task, "{}", layer.name);
        }
    }

    #[test]
    fn layer_names_are_the_plural_of_the_record_types() {
        let names: Vec<&str> = layers().iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "hazard_areas",
                "tasks",
                "daily_reports",
                "worked_areas",
                "finds",
                "demolitions",
                "qa_inspections",
                "completion_reports",
                "incidents"
            ]
        );
        assert_eq!(layer(RecordType::Incident).name, "incidents");
    }

    #[test]
    fn names_that_could_break_sql_or_json_are_refused() {
        let mut bad = layer(RecordType::Find).clone();
        bad.name = "finds\"; DROP TABLE x".into();
        assert!(matches!(bad.validate(), Err(LayerError::InvalidName { .. })));
        let mut twice = layer(RecordType::Find).clone();
        twice.columns.push(Column::new("label", ColumnType::Text));
        assert!(matches!(twice.validate(), Err(LayerError::DuplicateColumn { .. })));
        let mut reserved = layer(RecordType::Find).clone();
        reserved.columns.push(Column::new("geom", ColumnType::Text));
        assert!(matches!(reserved.validate(), Err(LayerError::DuplicateColumn { .. })));
    }
}
