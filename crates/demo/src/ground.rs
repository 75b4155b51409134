//! The ground of a hazard area: a rectangle of cells (the boxes, blocks or sectors teams work) in a local frame,
//! and the walked perimeter around it.

use super::geography::Frame;
use domain::geometry::Position;
use domain::vocabulary::PointKind;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;

/// The geometry of a hazard area: a rectangle of cells (boxes, blocks or sectors) in a local frame, inside a
/// perimeter that runs a few metres outside the rectangle, as a walked perimeter does.
#[derive(Debug, Clone)]
pub(super) struct Ground {
    pub(super) frame: Frame,
    pub(super) width: f64,
    pub(super) height: f64,
    pub(super) cell: (f64, f64),
    pub(super) cols: usize,
    pub(super) rows: usize,
    /// The perimeter in local metres, anticlockwise, not closed, with each point's kind.
    pub(super) perimeter: Vec<(f64, f64, PointKind)>,
}

impl Ground {
    pub(super) fn cells(&self) -> usize {
        self.cols * self.rows
    }

    /// The south-west corner of cell `k` in local metres; cells are worked row by row, back and forth.
    pub(super) fn cell_corner(&self, k: usize) -> (f64, f64) {
        let row = k / self.cols.max(1);
        let col = if row.is_multiple_of(2) {
            k % self.cols.max(1)
        } else {
            self.cols - 1 - k % self.cols.max(1)
        };
        (
            -self.width / 2.0 + col as f64 * self.cell.0,
            -self.height / 2.0 + row as f64 * self.cell.1,
        )
    }

    pub(super) fn box_ring(&self, x0: f64, y0: f64, w: f64, h: f64) -> Vec<Position> {
        let f = &self.frame;
        vec![
            f.at(x0, y0),
            f.at(x0 + w, y0),
            f.at(x0 + w, y0 + h),
            f.at(x0, y0 + h),
            f.at(x0, y0),
        ]
    }

    pub(super) fn perimeter_ring(&self) -> Vec<Position> {
        let mut ring: Vec<Position> = self.perimeter.iter().map(|(x, y, _)| self.frame.at(*x, *y)).collect();
        if let Some(first) = ring.first().copied() {
            ring.push(first);
        }
        ring
    }
}

/// Lays out a perimeter around a `width` × `height` rectangle: corners pushed out diagonally and a point at most
/// every 40 m along each side pushed out a few metres, so the rectangle lies inside, no two consecutive points are
/// more than 50 m apart, and the ring never crosses itself.
pub(super) fn perimeter(rng: &mut ChaCha8Rng, width: f64, height: f64) -> Vec<(f64, f64, PointKind)> {
    let (hw, hh) = (width / 2.0, height / 2.0);
    let mut out = Vec::new();
    let push = |rng: &mut ChaCha8Rng, out: &mut Vec<(f64, f64, PointKind)>, corner: (f64, f64), along: (f64, f64)| {
        let (sx, sy) = (corner.0.signum(), corner.1.signum());
        let (a, b) = (rng.random_range(2.0..8.0), rng.random_range(2.0..8.0));
        out.push((corner.0 + sx * a, corner.1 + sy * b, PointKind::Turning));
        // Intermediate points along the side from this corner, pushed out at right angles to it.
        let length = along.0.hypot(along.1);
        let n = (length / 40.0).ceil().max(1.0) as usize;
        let (ux, uy) = (along.0 / length, along.1 / length);
        let (nx, ny) = (uy, -ux); // outward for an anticlockwise walk
        for i in 1..n {
            let t = length * i as f64 / n as f64;
            let push_out = rng.random_range(1.0..8.0);
            out.push((
                corner.0 + ux * t + nx * push_out,
                corner.1 + uy * t + ny * push_out,
                PointKind::Intermediate,
            ));
        }
    };
    push(rng, &mut out, (-hw, -hh), (width, 0.0));
    push(rng, &mut out, (hw, -hh), (0.0, height));
    push(rng, &mut out, (hw, hh), (-width, 0.0));
    push(rng, &mut out, (-hw, hh), (0.0, -height));
    if let Some(first) = out.first_mut() {
        first.2 = PointKind::Start;
    }
    if let Some(last) = out.last_mut() {
        last.2 = PointKind::End;
    }
    out
}
