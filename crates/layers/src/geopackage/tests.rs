//! GeoPackage files as written, read back with SQLite: tables, R*Tree, metadata, and refusals.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::feature::feature;
use crate::schema::layer;
use domain::{Record, RecordType};
use rusqlite::OptionalExtension;
use serde_json::json;
use uuid::Uuid;

fn find(n: u32, lon: f64, lat: f64) -> Record {
    Record::from_json(
        json!({"type": "find", "id": Uuid::from_u128(u128::from(n) + 1), "label": format!("F-{n}"),
            "date_of_information": "2026-11-20", "task": Uuid::from_u128(999),
            "location": {"lat": lat, "lon": lon, "method": "handheld_gnss", "accuracy_m": 2.0},
            "found_at": "2026-11-20T09:15:00.250Z", "found_by": "A", "detection": "detector",
            "category": "uxo", "quantity": 1, "depth_cm": 5, "condition": "intact", "fuzed": "no",
            "armed": "no", "booby_trapped": "no", "disposal": "pending"}),
        Uuid::nil(),
    )
    .unwrap()
}

#[test]
fn a_finished_geopackage_has_its_metadata_extent_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.gpkg");
    let mut w = GeoPackageWriter::create(&path).unwrap();
    w.begin_layer(layer(RecordType::Find)).unwrap();
    w.write(&feature(&find(1, 47.5, 40.5))).unwrap();
    w.write(&feature(&find(2, 48.25, 41.0))).unwrap();
    let summary = w.finish_layer().unwrap();
    assert_eq!(summary.features, 2);
    assert!(!path.exists(), "nothing at the target before finish");
    let written = w.finish().unwrap();
    assert_eq!(written, vec![summary]);
    assert!(path.exists());

    let db = Connection::open(&path).unwrap();
    let pragma = |name: &str| {
        db.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    assert_eq!(pragma("application_id"), 0x4750_4B47);
    assert_eq!(pragma("user_version"), 10300);
    let srs: Vec<i64> = db
        .prepare("SELECT srs_id FROM gpkg_spatial_ref_sys ORDER BY srs_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(srs, [-1, 0, 4326]);
    let extent: (String, f64, f64, f64, f64, i64) = db
        .query_row(
            "SELECT data_type, min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents WHERE table_name = 'finds'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .unwrap();
    assert_eq!(extent, ("features".into(), 47.5, 40.5, 48.25, 41.0, 4326));
    let in_box: i64 = db
        .query_row(
            "SELECT count(*) FROM rtree_finds_geom WHERE minx >= 48 AND maxy <= 41.5",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_box, 1, "the R*Tree holds each point's envelope");
    let found_at: String = db
        .query_row("SELECT found_at FROM finds WHERE label = 'F-1'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(found_at, "2026-11-20T09:15:00.250Z");
    let triggers: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rtree_finds_geom_%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(triggers, 6);
}

#[test]
fn an_attribute_layer_is_registered_as_attributes_without_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.gpkg");
    let mut w = GeoPackageWriter::create(&path).unwrap();
    let tasks = layer(RecordType::Task);
    w.begin_layer(tasks).unwrap();
    let task = Record::from_json(
        json!({"type": "task", "label": "T-1", "date_of_information": "2026-11-20", "activity": "clearance",
            "status": "active", "organisation": "ANAMA"}),
        Uuid::from_u128(7),
    )
    .unwrap();
    w.write(&feature(&task)).unwrap();
    w.finish().unwrap();
    let db = Connection::open(&path).unwrap();
    let data_type: String = db
        .query_row(
            "SELECT data_type FROM gpkg_contents WHERE table_name = 'tasks'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(data_type, "attributes");
    let geometry_column: Option<String> = db
        .query_row("SELECT column_name FROM gpkg_geometry_columns", [], |r| r.get(0))
        .optional()
        .unwrap();
    assert_eq!(geometry_column, None);
}

#[test]
fn misuse_is_refused_and_a_dropped_writer_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.gpkg");
    let mut w = GeoPackageWriter::create(&path).unwrap();
    let finds = layer(RecordType::Find);
    assert!(matches!(
        w.write(&feature(&find(1, 47.5, 40.5))),
        Err(LayerError::NoLayerOpen)
    ));
    w.begin_layer(finds).unwrap();
    assert!(matches!(w.begin_layer(finds), Err(LayerError::LayerStillOpen { .. })));
    let mut bad = feature(&find(1, 47.5, 40.5));
    bad.values.pop();
    assert!(matches!(w.write(&bad), Err(LayerError::ColumnCount { .. })));
    w.write(&feature(&find(1, 47.5, 40.5))).unwrap();
    w.finish_layer().unwrap();
    assert!(matches!(w.begin_layer(finds), Err(LayerError::DuplicateLayer { .. })));
    let partial = dir.path().join("out.gpkg.partial");
    assert!(partial.exists());
    drop(w);
    assert!(!partial.exists() && !path.exists());
}

#[test]
fn a_duplicate_record_id_fails_the_layer_and_poisons_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = GeoPackageWriter::create(dir.path().join("out.gpkg")).unwrap();
    w.begin_layer(layer(RecordType::Find)).unwrap();
    w.write(&feature(&find(1, 47.5, 40.5))).unwrap();
    w.write(&feature(&find(1, 47.5, 40.5))).unwrap();
    let err = w.finish_layer().unwrap_err();
    assert!(err.to_string().contains("finish layer"), "{err}");
    assert!(w.begin_layer(layer(RecordType::Task)).is_err());
    assert!(w.finish().is_err());
}
