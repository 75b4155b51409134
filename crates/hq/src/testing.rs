//! HQ's read model's conformance suite, public behind the `testing` feature so that every backend runs the same
//! checks (crates/store-sqlite/tests/hq_read_model_conformance.rs; a PostgreSQL backend's beside it).
//!
//! A backend implements [`Backend`] (a fresh store keeping both contracts: the records go in through the sync
//! store's `ingest`, as ingress puts them, with their layer rows) and calls
//! [`hq_read_model_conformance!`](crate::hq_read_model_conformance), which makes one `#[tokio::test]` per check.
#![allow(clippy::unwrap_used)]

use crate::HqReadModel;
use crate::export::{ExportRequest, Format};
use crate::statistics::{Filter, ReviewFilter};
use domain::document::Authorship;
use domain::{Record, RecordType};
use serde_json::{Value, json};
use std::future::Future;
use sync_core::store::SyncStore;
use uuid::Uuid;

/// A backend under test.
pub trait Backend: Sized {
    type S: SyncStore + HqReadModel;
    /// A new, empty store.
    fn fresh() -> impl Future<Output = Self>;
    fn store(&self) -> &Self::S;
}

/// One `#[tokio::test]` per check of HQ's read model, for a [`Backend`] type.
#[macro_export]
macro_rules! hq_read_model_conformance {
    ($backend:ty) => {
        $crate::hq_read_model_conformance!(@checks $backend;
            totals_count_the_approved_records_and_statistics_agree,
            the_map_draws_features_or_counts_them,
            an_export_writes_the_layers_asked_for,
            an_empty_store_reports_zeros,
        );
    };
    (@checks $backend:ty; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let backend = <$backend as $crate::testing::Backend>::fresh().await;
                $crate::testing::$check($crate::testing::Backend::store(&backend)).await;
            }
        )+
    };
}

const TASK: u128 = 0x31;
const DAY: &str = "2026-11-20";

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_5f6e_0000_7000_8000_0000_0000_0000 | n)
}

/// A square of `side` degrees with its south-west corner at (lon, lat).
fn square(lon: f64, lat: f64, side: f64) -> Value {
    json!([[
        [lon, lat],
        [lon + side, lat],
        [lon + side, lat + side],
        [lon, lat + side],
        [lon, lat]
    ]])
}

fn task() -> Value {
    json!({
        "type": "task", "id": id(TASK), "label": "T-031", "date_of_information": DAY, "activity": "clearance",
        "status": "active", "organisation": "ANAMA", "teams": ["Team 3"], "required_depth_cm": 20,
        "review": "hq_approved"
    })
}

fn worked_area(n: u128, lon: f64, review: &str) -> Value {
    json!({
        "type": "worked_area", "id": id(n), "label": format!("B{n}"), "date_of_information": DAY, "task": id(TASK),
        "shape": {"type": "Polygon", "coordinates": square(lon, 40.5, 0.001)}, "capture_method": "handheld_gnss",
        "accuracy_m": 2.0, "methods": ["manual"], "depth_achieved_cm": 20, "outcome": "cleared", "review": review
    })
}

fn find(n: u128, lon: f64, category: &str, model: &str, review: &str) -> Value {
    json!({
        "type": "find", "id": id(n), "label": format!("F-{n}"), "date_of_information": DAY, "task": id(TASK),
        "location": {"lat": 40.5005, "lon": lon, "method": "handheld_gnss", "accuracy_m": 2.0},
        "found_at": "2026-11-20T09:15:00Z", "found_by": "A. Aliyev", "detection": "detector",
        "category": category, "model": model, "quantity": 1, "depth_cm": 10, "condition": "intact",
        "fuzed": "yes", "armed": "unknown", "booby_trapped": "no", "disposal": "pending", "review": review
    })
}

/// Stores a record as ingress does: its first change, its row and its layer row.
async fn store_record<S: SyncStore>(store: &S, value: Value) {
    let record = Record::from_json(value, Uuid::nil()).unwrap();
    let author = Authorship {
        device_id: Uuid::from_u128(1),
        device: "conformance".into(),
        user: "Conformance".into(),
        action: "create".into(),
    };
    let actor = automerge::ActorId::from(author.device_id.as_bytes());
    let ingest = sync_core::testing::ingest_of_new_record(&record, actor, &author, 1_780_000_000);
    store.ingest(ingest).await.unwrap();
}

/// A task with two worked areas (one approved) and three finds (two approved AP mines, a draft UXO).
async fn a_day_of_work<S: SyncStore>(store: &S) {
    store_record(store, task()).await;
    store_record(store, worked_area(1, 47.500, "hq_approved")).await;
    store_record(store, worked_area(2, 47.510, "draft")).await;
    store_record(store, find(11, 47.5005, "ap_mine", "PMN-2", "supervisor_approved")).await;
    store_record(store, find(12, 47.5007, "ap_mine", "PMN-2", "hq_approved")).await;
    store_record(store, find(13, 47.5105, "uxo", "VOG-17", "draft")).await;
}

fn any() -> Filter {
    Filter {
        review: Some(ReviewFilter::Any),
        ..Filter::default()
    }
}

/// Totals count approved records unless told otherwise, and say the same as the full statistics.
pub async fn totals_count_the_approved_records_and_statistics_agree<S: SyncStore + HqReadModel>(store: &S) {
    a_day_of_work(store).await;
    let reported = store.totals(&Filter::default().reported()).await.unwrap();
    assert_eq!(
        (reported.headline.ap_mines, reported.headline.uxo),
        (2, 0),
        "approved finds only"
    );
    let everything = store.totals(&any()).await.unwrap();
    assert_eq!(
        (everything.headline.ap_mines, everything.headline.uxo),
        (2, 1),
        "every find"
    );
    let one_box = reported.headline.hectares_cleared;
    // A 0.001° square at 40.5°N is about 111 m × 85 m.
    assert!(
        (0.8..1.1).contains(&one_box),
        "{one_box} ha cleared in one approved box"
    );
    assert!(
        (everything.headline.hectares_cleared - 2.0 * one_box).abs() < 0.01,
        "two boxes of the same size: {} ha",
        everything.headline.hectares_cleared
    );
    for filter in [Filter::default().reported(), any()] {
        let stats = store.statistics(&filter).await.unwrap();
        let totals = store.totals(&filter).await.unwrap();
        assert_eq!(stats.headline, totals.headline, "totals are the statistics' headline");
        assert_eq!(stats.land_release, totals.land_release);
    }
    let elsewhere = Filter {
        team: Some("Team 9".into()),
        ..any()
    };
    let none = store.totals(&elsewhere).await.unwrap();
    assert_eq!(
        (none.headline.ap_mines, none.headline.uxo),
        (0, 0),
        "another team's totals"
    );
}

/// The map draws a layer's records as features when few enough are in the box, else counts them on a grid.
pub async fn the_map_draws_features_or_counts_them<S: SyncStore + HqReadModel>(store: &S) {
    a_day_of_work(store).await;
    let view = store.map(None, 1_000).await.unwrap();
    let finds = view.layers.iter().find(|l| l.layer == "finds").expect("a finds layer");
    assert_eq!(finds.total, 3);
    let features = finds.features.as_ref().expect("features, when few");
    assert_eq!(features["features"].as_array().map(Vec::len), Some(3));
    assert!(view.bbox.is_some(), "the extent of everything mapped");

    let counted = store.map(None, 1).await.unwrap();
    let finds = counted.layers.iter().find(|l| l.layer == "finds").unwrap();
    assert!(finds.features.is_none());
    assert_eq!(
        finds.cells.iter().map(|c| c.count).sum::<u64>(),
        3,
        "every find counted once"
    );

    // West, south, east, north: the first worked area and its two finds, not the second's.
    let west: crate::map::BBox = [47.49, 40.49, 47.505, 40.51];
    let view = store.map(Some(west), 1_000).await.unwrap();
    let finds = view.layers.iter().find(|l| l.layer == "finds").unwrap();
    assert_eq!(finds.total, 2, "only the finds in the box");
}

/// An export writes the layers asked for into the file named, with every record of them.
pub async fn an_export_writes_the_layers_asked_for<S: SyncStore + HqReadModel>(store: &S) {
    a_day_of_work(store).await;
    assert!(store.scratch_dir().is_dir(), "the scratch directory exists");
    let path = store.scratch_dir().join("conformance-finds.csv");
    let request = ExportRequest {
        filter: Filter::default(),
        format: Format::Csv,
        record_types: vec![RecordType::Find],
        path: path.clone(),
    };
    let summary = store.export(request, |_, _| {}).await.unwrap();
    assert_eq!(summary.layers, vec![("finds".to_string(), 3)]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 4, "a header and three finds:\n{text}");
    std::fs::remove_file(&path).unwrap();
}

/// Nothing stored: zeros, an empty map, no error.
pub async fn an_empty_store_reports_zeros<S: SyncStore + HqReadModel>(store: &S) {
    let totals = store.totals(&any()).await.unwrap();
    assert_eq!((totals.headline.ap_mines, totals.headline.uxo), (0, 0));
    assert_eq!(totals.headline.hectares_cleared, 0.0);
    let view = store.map(None, 100).await.unwrap();
    assert!(view.layers.iter().all(|l| l.total == 0), "{view:?}");
}
