//! Points and shapes in WGS84 (EPSG:4326), and the measurements the rules need.
//!
//! Positions use GeoJSON order, `[lon, lat]`, in decimal degrees. Points a person enters carry their capture method
//! and horizontal accuracy, because every spatial check is only as good as the GPS that fed it.
//! Areas and distances are computed on the WGS84 ellipsoid by georust (Karney's geodesic algorithms), never by hand.

use crate::vocabulary::{Code, PointKind};
use geo::orient::{Direction, Orient};
use geo::{
    Contains, Coord, Distance, Geodesic, GeodesicArea, Haversine, HaversineClosestPoint, Length, LineString, Point,
    Polygon,
};
use serde::{Deserialize, Serialize};

/// A position `[lon, lat]` in decimal degrees (GeoJSON order).
pub type Position = [f64; 2];

/// A point taken in the field, with how it was taken and how far off it may be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapturedPoint {
    pub lat: f64,
    pub lon: f64,
    /// Capture method code: handheld_gnss, rtk_gnss, bearing_distance, laser_offset, digitised.
    pub method: Code,
    /// Horizontal accuracy in metres.
    pub accuracy_m: f64,
    /// For bearing_distance: the bearing in degrees from north, in [0, 360).
    #[serde(default)]
    pub bearing_deg: Option<f64>,
    /// For bearing_distance and laser_offset: the distance in metres from the origin point.
    #[serde(default)]
    pub distance_m: Option<f64>,
    /// For bearing_distance and laser_offset: the label of the point measured from.
    #[serde(default)]
    pub from: Option<String>,
}

impl CapturedPoint {
    pub fn position(&self) -> Position {
        [self.lon, self.lat]
    }
}

/// A point of a surveyed perimeter (turning points, benchmark...), in walking order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyPoint {
    pub label: String,
    pub kind: PointKind,
    pub point: CapturedPoint,
    /// Permanently marked on the ground (turning points must be before handover).
    #[serde(default)]
    pub marked: bool,
}

/// A GeoJSON Polygon: an exterior ring and optional holes, each ring closed (first position = last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolygonShape {
    /// Always `"Polygon"`: kept as a field (not a serde tag, which `deny_unknown_fields` would reject on read).
    #[serde(rename = "type")]
    pub kind: PolygonKind,
    pub coordinates: Vec<Vec<Position>>,
}

/// The GeoJSON geometry type of a [`PolygonShape`]; the only accepted value is `"Polygon"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolygonKind {
    Polygon,
}

/// The ground a worked area covers: a polygon, or a centreline with a width for roads and lanes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum AreaShape {
    Polygon { coordinates: Vec<Vec<Position>> },
    Lane { centreline: Vec<Position>, width_m: f64 },
}

impl PolygonShape {
    pub fn new(coordinates: Vec<Vec<Position>>) -> PolygonShape {
        PolygonShape {
            kind: PolygonKind::Polygon,
            coordinates,
        }
    }

    /// The shape as a georust polygon. Only meaningful once [`crate::validation`] found it valid.
    pub fn to_geo(&self) -> Polygon<f64> {
        let ring =
            |r: &Vec<Position>| LineString::from(r.iter().map(|p| Coord { x: p[0], y: p[1] }).collect::<Vec<_>>());
        let mut rings = self.coordinates.iter();
        let exterior = rings.next().map(ring).unwrap_or_else(|| LineString::new(vec![]));
        Polygon::new(exterior, rings.map(ring).collect())
    }

    /// Area on the ellipsoid in m², whatever the ring winding.
    pub fn area_m2(&self) -> f64 {
        // On the sphere a clockwise exterior ring encloses the rest of the Earth: orient it first.
        self.to_geo().orient(Direction::Default).geodesic_area_unsigned()
    }

    /// Every position, exterior ring first.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.coordinates.iter().flatten()
    }
}

impl AreaShape {
    /// The polygon the shape covers, or None for a lane (its ground is a band, checked by its centreline).
    pub fn polygon(&self) -> Option<PolygonShape> {
        match self {
            AreaShape::Polygon { coordinates } => Some(PolygonShape::new(coordinates.clone())),
            AreaShape::Lane { .. } => None,
        }
    }

    /// Area in m²: geodesic polygon area, or geodesic centreline length × width for a lane.
    pub fn area_m2(&self) -> f64 {
        match self {
            AreaShape::Polygon { coordinates } => PolygonShape::new(coordinates.clone()).area_m2(),
            AreaShape::Lane { centreline, width_m } => line_length_m(centreline) * width_m,
        }
    }

    pub fn positions(&self) -> Box<dyn Iterator<Item = &Position> + '_> {
        match self {
            AreaShape::Polygon { coordinates } => Box::new(coordinates.iter().flatten()),
            AreaShape::Lane { centreline, .. } => Box::new(centreline.iter()),
        }
    }
}

/// Geodesic distance in metres between two positions.
pub fn distance_m(a: Position, b: Position) -> f64 {
    Geodesic.distance(Point::new(a[0], a[1]), Point::new(b[0], b[1]))
}

/// Geodesic length in metres of a line through the positions.
pub fn line_length_m(line: &[Position]) -> f64 {
    let line = LineString::from(line.iter().map(|p| Coord { x: p[0], y: p[1] }).collect::<Vec<_>>());
    Geodesic.length(&line)
}

/// How far a position lies outside a polygon, in metres: 0 inside, otherwise the distance to its boundary.
///
/// The boundary distance is great-circle (haversine); at the scale of a minefield that is within
/// centimetres of the ellipsoidal figure, far below any GPS accuracy it is compared with.
pub fn distance_outside_m(polygon: &Polygon<f64>, position: Position) -> f64 {
    let point = Point::new(position[0], position[1]);
    if polygon.contains(&point) {
        return 0.0;
    }
    match polygon.exterior().haversine_closest_point(&point) {
        geo::Closest::Intersection(_) => 0.0,
        geo::Closest::SinglePoint(p) => Haversine.distance(point, p),
        geo::Closest::Indeterminate => f64::INFINITY,
    }
}

/// A latitude/longitude bounding box `[min_lon, min_lat, max_lon, max_lat]` of some positions.
pub fn bounding_box<'a>(positions: impl Iterator<Item = &'a Position>) -> Option<[f64; 4]> {
    positions.fold(None, |acc, p| {
        Some(match acc {
            None => [p[0], p[1], p[0], p[1]],
            Some([a, b, c, d]) => [a.min(p[0]), b.min(p[1]), c.max(p[0]), d.max(p[1])],
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Destination;

    /// A square of the given side, north-east of a corner, laid out with geodesic destinations.
    fn square(corner: Position, side_m: f64) -> PolygonShape {
        let sw = Point::new(corner[0], corner[1]);
        let se = Geodesic.destination(sw, 90.0, side_m);
        let ne = Geodesic.destination(se, 0.0, side_m);
        let nw = Geodesic.destination(sw, 0.0, side_m);
        let p = |q: Point<f64>| [q.x(), q.y()];
        PolygonShape::new(vec![vec![p(sw), p(se), p(ne), p(nw), p(sw)]])
    }

    #[test]
    fn hectare_square_near_baku_is_ten_thousand_square_metres() {
        let area = square([47.5, 40.5], 100.0).area_m2();
        assert!((area - 10_000.0).abs() / 10_000.0 < 0.005, "area was {area} m²");
    }

    #[test]
    fn area_ignores_ring_winding() {
        let mut clockwise = square([47.5, 40.5], 100.0);
        clockwise.coordinates[0].reverse();
        let area = clockwise.area_m2();
        assert!((area - 10_000.0).abs() < 50.0, "area was {area} m²");
    }

    #[test]
    fn lane_area_is_length_times_width() {
        let start = Point::new(47.5, 40.5);
        let end = Geodesic.destination(start, 45.0, 250.0);
        let lane = AreaShape::Lane {
            centreline: vec![[47.5, 40.5], [end.x(), end.y()]],
            width_m: 1.2,
        };
        assert!((lane.area_m2() - 300.0).abs() < 0.5, "lane area was {}", lane.area_m2());
    }

    #[test]
    fn distance_outside_is_zero_inside_and_grows_outside() {
        let sq = square([47.5, 40.5], 100.0).to_geo();
        let inside = Geodesic.destination(Point::new(47.5, 40.5), 45.0, 50.0);
        assert_eq!(distance_outside_m(&sq, [inside.x(), inside.y()]), 0.0);
        let outside = Geodesic.destination(Point::new(47.5, 40.5), 270.0, 30.0);
        let d = distance_outside_m(&sq, [outside.x(), outside.y()]);
        assert!((d - 30.0).abs() < 0.5, "distance was {d}");
    }
}
