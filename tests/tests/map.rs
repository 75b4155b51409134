//! The dashboard's map API (`GET /v1/hq/map`) against the demo programme pushed through the sync protocol: what it
//! returns for a box is checked against the generated records' own geometry, features when they are few, counts
//! on a grid when they are many, and a record voided on an HQ tablet leaves the map.
#![allow(clippy::unwrap_used)]

use demo::Author;
use domain::{Record, RecordType};
use geo::BoundingRect;
use serde_json::Value;
use std::collections::BTreeSet;
use tests::TestServer;
use uuid::Uuid;

/// `[west, south, east, north]` of a record's exported geometry, None without one.
fn bbox_of(record: &Record) -> Option<[f64; 4]> {
    let rect = layers::feature(record).geometry?.bounding_rect()?;
    Some([rect.min().x, rect.min().y, rect.max().x, rect.max().y])
}

fn meets(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[2] >= b[0] && a[0] <= b[2] && a[3] >= b[1] && a[1] <= b[3]
}

fn layer<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == name)
        .unwrap()
}

/// The record ids of a layer given as features.
fn feature_ids(layer: &Value) -> BTreeSet<Uuid> {
    layer["features"]["features"]
        .as_array()
        .unwrap_or_else(|| panic!("features expected: {layer}"))
        .iter()
        .map(|f| f["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn the_map_answers_a_box_with_features_or_counts_drawn_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let (dataset, enrolment) = server.push_demo(13);
    let hq = enrolment.hq_token();
    let map = |query: &str| {
        let (status, body) = tests::hq_get(&format!("{}/v1/hq/map{query}", server.url()), Some(hq));
        assert_eq!(status, 200, "{body}");
        body
    };

    // An HQ tablet voids one worked area still in review (an approved one is corrected, never voided): it stays in
    // the dataset and the exports, and leaves the map.
    let records: Vec<Record> = dataset.records_by_team().into_values().flatten().collect();
    let voided = records
        .iter()
        .find(|r| r.record_type() == RecordType::WorkedArea && bbox_of(r).is_some() && !r.meta.review.is_approved())
        .unwrap()
        .id();
    let mut tablet = tests::store(&dir.path().join("hq-tablet.db"), "HQ tablet", "Analyst");
    let (_, tablet_token) = server.enrol("HQ tablet", &[], tests::DeviceRole::Hq);
    tests::enrolled(&mut tablet, &server, &tablet_token);
    tablet.sync(|_| {}).unwrap();
    tablet.void(voided, "entered twice").unwrap();
    let report = tablet.sync(|_| {}).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);

    let mapped = |t: RecordType| -> Vec<(Uuid, [f64; 4])> {
        records
            .iter()
            .filter(|r| r.record_type() == t && r.id() != voided)
            .filter_map(|r| Some((r.id(), bbox_of(r)?)))
            .collect()
    };
    let names = [
        (RecordType::HazardArea, "hazard_areas"),
        (RecordType::WorkedArea, "worked_areas"),
        (RecordType::Find, "finds"),
    ];

    // Everything: the box is the extent of every mapped record, and each layer comes whole as features.
    let everything = map("");
    let mut extent = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for (t, _) in names {
        for (_, b) in mapped(t) {
            extent = [
                extent[0].min(b[0]),
                extent[1].min(b[1]),
                extent[2].max(b[2]),
                extent[3].max(b[3]),
            ];
        }
    }
    for (i, expected) in extent.into_iter().enumerate() {
        let got = everything["bbox"][i].as_f64().unwrap();
        assert!((got - expected).abs() < 1e-4, "bbox[{i}]: {got} against {expected}");
    }
    for (t, name) in names {
        let expected: BTreeSet<Uuid> = mapped(t).into_iter().map(|(id, _)| id).collect();
        let layer = layer(&everything, name);
        assert_eq!(feature_ids(layer), expected, "{name}");
        assert_eq!(layer["total"], expected.len(), "{name}");
        assert!(!expected.is_empty(), "the demo maps some {name}");
    }
    assert!(!feature_ids(layer(&everything, "worked_areas")).contains(&voided));

    // A box around one team's first worked areas: exactly the records whose boxes meet it.
    let first: Vec<[f64; 4]> = mapped(RecordType::WorkedArea)
        .into_iter()
        .take(5)
        .map(|(_, b)| b)
        .collect();
    let pad = 0.001;
    let bbox = [
        first.iter().map(|b| b[0]).fold(f64::MAX, f64::min) - pad,
        first.iter().map(|b| b[1]).fold(f64::MAX, f64::min) - pad,
        first.iter().map(|b| b[2]).fold(f64::MIN, f64::max) + pad,
        first.iter().map(|b| b[3]).fold(f64::MIN, f64::max) + pad,
    ];
    let query = format!("?bbox={},{},{},{}", bbox[0], bbox[1], bbox[2], bbox[3]);
    let view = map(&query);
    for (t, name) in names {
        let expected: BTreeSet<Uuid> = mapped(t)
            .into_iter()
            .filter(|(_, b)| meets(b, &bbox))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(feature_ids(layer(&view, name)), expected, "{name} in {bbox:?}");
    }
    assert!(feature_ids(layer(&view, "worked_areas")).len() >= 5);

    // Few features allowed: the many layers come as counts on the grid, which add up to the layer's total.
    let view = map("?limit=10");
    let finds = layer(&view, "finds");
    assert!(finds["features"].is_null());
    let cells = finds["cells"].as_array().unwrap();
    let counted: u64 = cells.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, mapped(RecordType::Find).len() as u64);
    assert_eq!(finds["total"], counted);
    for cell in cells {
        let (lon, lat) = (cell["lon"].as_f64().unwrap(), cell["lat"].as_f64().unwrap());
        let b: Vec<f64> = cell["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            lon >= b[0] - 1e-9 && lon <= b[2] + 1e-9 && lat >= b[1] - 1e-9 && lat <= b[3] + 1e-9,
            "{cell}"
        );
    }

    // Refusals: a box that is not one, too many features, a team's token.
    for (query, names) in [
        ("?bbox=47,40,46,41", "bbox="),
        ("?bbox=47,40,48", "bbox="),
        ("?limit=1000000", "limit="),
    ] {
        let (status, body) = tests::hq_get(&format!("{}/v1/hq/map{query}", server.url()), Some(hq));
        assert_eq!(status, 400, "{query}");
        assert!(body["message"].as_str().unwrap().contains(names), "{body}");
    }
    let team = enrolment.token(Author::Team(0)).unwrap();
    let (status, _) = tests::hq_get(&format!("{}/v1/hq/map", server.url()), Some(team));
    assert_eq!(status, 403);
}
