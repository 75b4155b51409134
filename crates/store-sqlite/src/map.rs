//! The dashboard's map on SQLite (crate::map): each mapped layer's R*Tree (sqlite_layers) finds the rows whose
//! box meets the map's box, counts them, and either reads them as features or groups their centres on a grid.
//! The trees hold only rows with a geometry that are not void, so counting and gridding never touch the wide
//! layer rows; only the features drawn are read. The trees keep boxes in single precision rounded outward, so a
//! record within a metre of the map's edge may count as inside.

use crate::Error;
use crate::layer_tables::{feature_columns, read_feature, rtree, table};
use domain::RecordType;
use hq::map::{BBox, GRID, MapCell, MapLayer, MapView};
use rusqlite::{Transaction, named_params};
use sync_core::store::StorageError;

/// The layers on the map, drawn in this order (areas under the finds).
pub const MAPPED: [RecordType; 3] = [RecordType::HazardArea, RecordType::WorkedArea, RecordType::Find];

/// The R*Tree condition "the row's box meets the map's box".
const MEETS: &str = "r.max_lon >= :west AND r.min_lon <= :east AND r.max_lat >= :south AND r.min_lat <= :north";

pub(super) fn map(tx: &Transaction<'_>, bbox: Option<BBox>, limit: u32) -> Result<MapView, Error> {
    let bbox = match bbox {
        Some(bbox) => Some(bbox),
        None => extent(tx)?,
    };
    let mut layers = Vec::new();
    for record_type in MAPPED {
        let layer = layers::layer(record_type);
        let Some(bbox) = bbox else {
            layers.push(MapLayer {
                layer: layer.name.clone(),
                total: 0,
                features: Some(feature_collection(tx, record_type, None)?),
                cells: Vec::new(),
            });
            continue;
        };
        let total: i64 = tx
            .prepare_cached(&format!(
                "SELECT count(*) FROM {} AS r WHERE {MEETS}",
                rtree(record_type)
            ))?
            .query_row(box_params(&bbox).as_slice(), |r| r.get(0))?;
        let total = total.unsigned_abs();
        let (features, cells) = if total <= u64::from(limit) {
            (Some(feature_collection(tx, record_type, Some(&bbox))?), Vec::new())
        } else {
            (None, cells(tx, record_type, &bbox)?)
        };
        layers.push(MapLayer {
            layer: layer.name.clone(),
            total,
            features,
            cells,
        });
    }
    Ok(MapView { bbox, layers })
}

fn box_params(bbox: &BBox) -> [(&'static str, &dyn rusqlite::ToSql); 4] {
    [
        (":west", &bbox[0]),
        (":south", &bbox[1]),
        (":east", &bbox[2]),
        (":north", &bbox[3]),
    ]
}

/// The box around every mapped record, None when there is none.
fn extent(tx: &Transaction<'_>) -> Result<Option<BBox>, Error> {
    let mut extent: Option<BBox> = None;
    for record_type in MAPPED {
        let sql = format!(
            "SELECT min(min_lon), min(min_lat), max(max_lon), max(max_lat) FROM {}",
            rtree(record_type)
        );
        let found: [Option<f64>; 4] = tx.query_row(&sql, [], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]))?;
        if let [Some(w), Some(s), Some(e), Some(n)] = found {
            extent = Some(match extent {
                None => [w, s, e, n],
                Some([w0, s0, e0, n0]) => [w0.min(w), s0.min(s), e0.max(e), n0.max(n)],
            });
        }
    }
    Ok(extent)
}

/// The layer's records in the box as an RFC 7946 FeatureCollection, written by the GeoJSON export's own writer.
fn feature_collection(
    tx: &Transaction<'_>,
    record_type: RecordType,
    bbox: Option<&BBox>,
) -> Result<serde_json::Value, Error> {
    let layer = layers::layer(record_type);
    let failed = |e: layers::LayerError| StorageError::Database(format!("map: {e}"));
    let mut writer = layers::GeoJsonWriter::new(Vec::new(), layer).map_err(failed)?;
    if let Some(bbox) = bbox {
        let sql = format!(
            "SELECT {} FROM {} AS r JOIN {} AS x ON x.rowid = r.id WHERE {MEETS} ORDER BY x.record_id",
            feature_columns(layer, "x"),
            rtree(record_type),
            table(record_type)
        );
        let mut stmt = tx.prepare_cached(&sql)?;
        let mut rows = stmt.query(box_params(bbox).as_slice())?;
        while let Some(row) = rows.next()? {
            writer.write(&read_feature(row, layer)?).map_err(failed)?;
        }
    }
    let bytes = writer.finish().map_err(failed)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::from(StorageError::Database(format!("map: {e}"))))
}

/// The records in the box counted on a GRID × GRID grid by the centres of their boxes (a centre outside the box,
/// of a record that reaches into it, counts in the nearest cell).
fn cells(tx: &Transaction<'_>, record_type: RecordType, bbox: &BBox) -> Result<Vec<MapCell>, Error> {
    let [west, south, east, north] = *bbox;
    // A box of no width (one point mapped) still has cells to divide by.
    let (width, height) = (
        (east - west).max(1e-9) / f64::from(GRID),
        (north - south).max(1e-9) / f64::from(GRID),
    );
    let sql = format!(
        "SELECT max(0, min(:last, CAST(((r.min_lon + r.max_lon) / 2 - :west) / :width AS INTEGER))) AS i, \
                max(0, min(:last, CAST(((r.min_lat + r.max_lat) / 2 - :south) / :height AS INTEGER))) AS j, \
                count(*), avg((r.min_lon + r.max_lon) / 2), avg((r.min_lat + r.max_lat) / 2) \
         FROM {} AS r WHERE {MEETS} GROUP BY i, j ORDER BY j, i",
        rtree(record_type)
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        named_params! {
            ":west": west, ":south": south, ":east": east, ":north": north,
            ":width": width, ":height": height, ":last": GRID - 1,
        },
        |r| {
            let (i, j): (u32, u32) = (r.get(0)?, r.get(1)?);
            Ok(MapCell {
                bbox: [
                    west + f64::from(i) * width,
                    south + f64::from(j) * height,
                    west + f64::from(i + 1) * width,
                    south + f64::from(j + 1) * height,
                ],
                count: r.get::<_, i64>(2)?.unsigned_abs(),
                lon: r.get(3)?,
                lat: r.get(4)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}
