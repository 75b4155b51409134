//! The dashboard's map at any scale: what lies in a bounding box, as features when there are few enough to draw,
//! else as counts on a grid, so that a national dataset of a million worked areas and finds is never sent whole.
//!
//! `GET /v1/hq/map?bbox=<west>,<south>,<east>,<north>&limit=<n>` answers per layer (hazard areas, worked areas,
//! finds; void records left out). A layer with at most `limit` records in the box comes as an RFC 7946
//! FeatureCollection with its full attributes (the same features as the GeoJSON export); a layer with more comes
//! as [`GRID`] × [`GRID`] cells of the box, each with how many records' centres fall in it and where they are on
//! average. Without `bbox`, the box is the extent of everything mapped.

use serde::{Deserialize, Serialize};

/// Features per layer drawn when the query names no limit; above it, the layer is counted on the grid.
pub const DEFAULT_LIMIT: u32 = 2_000;
/// The most features per layer a query may ask for.
pub const MAX_LIMIT: u32 = 20_000;
/// Cells along each side of the box when a layer is counted on the grid.
pub const GRID: u32 = 48;

/// A box in degrees: `[west, south, east, north]`, west ≤ east and south ≤ north (a box across the
/// antimeridian is not needed in one country).
pub type BBox = [f64; 4];

#[derive(Debug, Clone, Deserialize)]
pub struct MapQuery {
    /// `west,south,east,north` in degrees.
    pub bbox: Option<String>,
    pub limit: Option<u32>,
}

impl MapQuery {
    /// The box and limit asked for, or what is wrong with them.
    pub fn parse(&self) -> Result<(Option<BBox>, u32), String> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit > MAX_LIMIT {
            return Err(format!("limit={limit} is more than {MAX_LIMIT} features per layer"));
        }
        let Some(text) = &self.bbox else {
            return Ok((None, limit));
        };
        let numbers: Vec<f64> = text
            .split(',')
            .map(|n| n.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("bbox={text:?} is not four numbers: west,south,east,north in degrees"))?;
        let [west, south, east, north] = numbers[..] else {
            return Err(format!(
                "bbox={text:?} is not four numbers: west,south,east,north in degrees"
            ));
        };
        let within = (-180.0..=180.0).contains(&west)
            && (-180.0..=180.0).contains(&east)
            && (-90.0..=90.0).contains(&south)
            && (-90.0..=90.0).contains(&north);
        if !within || west > east || south > north {
            return Err(format!(
                "bbox={text:?} is not a box: west ≤ east within ±180°, south ≤ north within ±90°"
            ));
        }
        Ok((Some([west, south, east, north]), limit))
    }
}

/// The map of a box.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapView {
    /// The box asked for, or the extent of everything mapped; None when nothing is mapped and none was asked for.
    pub bbox: Option<BBox>,
    pub layers: Vec<MapLayer>,
}

/// One layer in the box: `features` or `cells`, never both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapLayer {
    pub layer: String,
    /// Records of the layer whose box meets the map's box.
    pub total: u64,
    /// The records as a GeoJSON FeatureCollection, when `total` is at most the limit.
    pub features: Option<serde_json::Value>,
    /// The records counted on the grid, when there are more than the limit; cells without records are left out.
    pub cells: Vec<MapCell>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapCell {
    /// The cell's box.
    pub bbox: BBox,
    /// Records whose box's centre is in the cell.
    pub count: u64,
    /// The mean of their centres: where to draw the cell's mark.
    pub lon: f64,
    pub lat: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(bbox: Option<&str>, limit: Option<u32>) -> MapQuery {
        MapQuery {
            bbox: bbox.map(String::from),
            limit,
        }
    }

    #[test]
    fn a_box_and_limit_parse_and_bad_ones_are_named() {
        assert_eq!(query(None, None).parse(), Ok((None, DEFAULT_LIMIT)));
        assert_eq!(
            query(Some("46.5, 39.5,47.25,40"), Some(10)).parse(),
            Ok((Some([46.5, 39.5, 47.25, 40.0]), 10))
        );
        for bad in [
            "46,39,47",
            "46,39,47,40,1",
            "a,b,c,d",
            "47,39,46,40",
            "46,40,47,39",
            "46,39,47,91",
            "",
        ] {
            let message = query(Some(bad), None).parse().expect_err(bad);
            assert!(message.contains("bbox="), "{message}");
        }
        let message = query(None, Some(MAX_LIMIT + 1)).parse().expect_err("too many");
        assert!(message.contains("limit="), "{message}");
    }
}
