//! Ring orientation: exterior rings counter-clockwise, holes clockwise (the right-hand rule of RFC 7946 §3.1.6).
//!
//! Field polygons arrive in whatever order the perimeter was walked. Most GIS software does not care, but RFC 7946
//! asks for the right-hand rule and some consumers (d3, some web maps) draw a clockwise exterior as "the whole
//! world minus the plot". The winding test is georust's robust one, not a hand-written shoelace.

use geo::orient::{Direction, Orient};
use geo::winding_order::{Winding, WindingOrder};
use geo_types::{LineString, Polygon};

/// How a ring must be walked when written: as stored, or reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    Forward,
    Reversed,
}

/// How to walk a ring so that it comes out counter-clockwise (an exterior) or clockwise (a hole).
/// A degenerate ring, with no winding, is written as it is.
pub(crate) fn walk(ring: &LineString<f64>, exterior: bool) -> Walk {
    let wanted = if exterior {
        WindingOrder::CounterClockwise
    } else {
        WindingOrder::Clockwise
    };
    match ring.winding_order() {
        Some(order) if order != wanted => Walk::Reversed,
        _ => Walk::Forward,
    }
}

/// The polygon with its exterior counter-clockwise and its holes clockwise.
pub(crate) fn right_hand(polygon: Polygon<f64>) -> Polygon<f64> {
    polygon.orient(Direction::Default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{Coord, LineString};

    fn ring(points: &[(f64, f64)]) -> LineString<f64> {
        LineString::from(points.iter().map(|&(x, y)| Coord { x, y }).collect::<Vec<_>>())
    }

    const CCW: &[(f64, f64)] = &[(47.5, 40.5), (47.6, 40.5), (47.6, 40.6), (47.5, 40.6), (47.5, 40.5)];
    const HOLE_CCW: &[(f64, f64)] = &[
        (47.52, 40.52),
        (47.54, 40.52),
        (47.54, 40.54),
        (47.52, 40.54),
        (47.52, 40.52),
    ];

    #[test]
    fn exterior_rings_are_walked_counter_clockwise_and_holes_clockwise() {
        let ccw = ring(CCW);
        let mut cw = ccw.clone();
        cw.0.reverse();
        assert_eq!(walk(&ccw, true), Walk::Forward);
        assert_eq!(walk(&cw, true), Walk::Reversed);
        assert_eq!(walk(&ccw, false), Walk::Reversed);
        assert_eq!(walk(&cw, false), Walk::Forward);
    }

    #[test]
    fn a_degenerate_ring_is_left_as_it_is() {
        let flat = ring(&[(47.5, 40.5), (47.6, 40.5), (47.5, 40.5)]);
        assert_eq!(walk(&flat, true), Walk::Forward);
    }

    #[test]
    fn right_hand_reorients_a_clockwise_polygon_with_a_counter_clockwise_hole() {
        let mut exterior = ring(CCW);
        exterior.0.reverse();
        let polygon = right_hand(Polygon::new(exterior, vec![ring(HOLE_CCW)]));
        assert_eq!(polygon.exterior().winding_order(), Some(WindingOrder::CounterClockwise));
        assert_eq!(polygon.interiors()[0].winding_order(), Some(WindingOrder::Clockwise));
        assert_eq!(
            polygon.exterior().0.first(),
            polygon.exterior().0.last(),
            "ring stays closed"
        );
    }
}
