//! A lane's ground as a polygon.
//!
//! A worked area may be a lane or a road: a centreline and a width (`AreaShape::Lane`). The domain crate measures
//! it (geodesic centreline length × width) but draws no polygon for it, while a GIS layer needs one to show the
//! ground that was worked. We draw the band of half the width on either side of the centreline, with square ends
//! exactly at the first and last points (butt caps: a lane is worked from its start line to its end line, not
//! beyond) and mitred bends (so the band's area stays length × width, the figure totals use).
//!
//! The buffer is georust's (`geo::Buffer`), computed in metres on a local plane tangent at the lane's first
//! point, whose scale comes from the WGS84 geodesic (georust's `Geodesic`) in both directions. Lanes are at most
//! a few kilometres long; over that span the plane's scale error is far below a centimetre per metre of width.

use domain::geometry::Position;
use geo::algorithm::buffer::{Buffer, BufferStyle, LineCap, LineJoin};
use geo::{Distance, Geodesic, MapCoords, Point, RemoveRepeatedPoints};
use geo_types::{Coord, LineString, Polygon};

/// Bends sharper than this (the angle between the two segments, in radians) are bevelled rather than mitred, so a
/// hairpin does not throw a spike far out of the lane.
const MITRE_MIN_ANGLE: f64 = std::f64::consts::PI / 8.0;

/// The band a lane covers, or None when it covers no ground: fewer than two distinct centreline points, a width
/// that is not a positive finite number, non-finite positions, or a centreline folded so that its band falls apart.
pub(crate) fn lane_polygon(centreline: &[Position], width_m: f64) -> Option<Polygon<f64>> {
    if !(width_m.is_finite() && width_m > 0.0) || centreline.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let [lon0, lat0] = *centreline.first()?;
    // Metres per degree along each axis at the lane's first point, measured on the ellipsoid.
    let step = 1e-3;
    let origin = Point::new(lon0, lat0);
    let metres_per_lon = Geodesic.distance(origin, Point::new(lon0 + step, lat0)) / step;
    let metres_per_lat = Geodesic.distance(origin, Point::new(lon0, lat0 + step)) / step;
    if !(metres_per_lon > 0.0 && metres_per_lat > 0.0) {
        return None; // at a pole: no lane is surveyed there
    }
    let line: LineString<f64> = centreline
        .iter()
        .map(|p| Coord {
            x: (p[0] - lon0) * metres_per_lon,
            y: (p[1] - lat0) * metres_per_lat,
        })
        .collect::<LineString<f64>>()
        .remove_repeated_points();
    if line.0.len() < 2 {
        return None;
    }
    let style = BufferStyle::new(width_m / 2.0)
        .line_cap(LineCap::Butt)
        .line_join(LineJoin::Miter(MITRE_MIN_ANGLE));
    let band = line.buffer_with_style(style);
    let [polygon] = <[Polygon<f64>; 1]>::try_from(band.0).ok()?;
    Some(polygon.map_coords(|c| Coord {
        x: lon0 + c.x / metres_per_lon,
        y: lat0 + c.y / metres_per_lat,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::geometry::{AreaShape, line_length_m};
    use geo::{Destination, GeodesicArea};

    fn walk(from: Position, bearing: f64, metres: f64) -> Position {
        let p = Geodesic.destination(Point::new(from[0], from[1]), bearing, metres);
        [p.x(), p.y()]
    }

    #[test]
    fn a_straight_lane_is_a_band_of_its_width_and_length() {
        let start = [47.5, 40.5];
        let centreline = vec![start, walk(start, 45.0, 250.0)];
        let polygon = lane_polygon(&centreline, 1.2).expect("a polygon");
        let area = polygon.geodesic_area_unsigned();
        let domain_area = AreaShape::Lane {
            centreline: centreline.clone(),
            width_m: 1.2,
        }
        .area_m2();
        assert!((area - 300.0).abs() < 0.3, "band area {area} m²");
        assert!(
            (area - domain_area).abs() < 0.3,
            "band {area} m², domain {domain_area} m²"
        );
    }

    #[test]
    fn a_bent_lane_keeps_length_times_width() {
        let start = [47.5, 40.5];
        let corner = walk(start, 90.0, 100.0);
        let centreline = vec![start, corner, walk(corner, 0.0, 100.0)];
        let polygon = lane_polygon(&centreline, 2.0).expect("a polygon");
        let expected = line_length_m(&centreline) * 2.0;
        let area = polygon.geodesic_area_unsigned();
        assert!(
            (area - expected).abs() < 0.5,
            "band area {area} m², expected {expected} m²"
        );
        assert!(polygon.interiors().is_empty());
    }

    #[test]
    fn a_lane_without_ground_has_no_polygon() {
        assert!(lane_polygon(&[], 1.0).is_none());
        assert!(lane_polygon(&[[47.5, 40.5]], 1.0).is_none());
        assert!(lane_polygon(&[[47.5, 40.5], [47.5, 40.5]], 1.0).is_none());
        assert!(lane_polygon(&[[47.5, 40.5], [47.6, 40.5]], 0.0).is_none());
        assert!(lane_polygon(&[[47.5, 40.5], [47.6, 40.5]], f64::NAN).is_none());
        assert!(lane_polygon(&[[47.5, 40.5], [f64::INFINITY, 40.5]], 1.0).is_none());
    }
}
