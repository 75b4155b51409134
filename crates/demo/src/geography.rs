//! Where the demo's hazard areas lie: along the former line of contact in Azerbaijan (1994–2020), from the Araz river
//! near Horadiz north through Fuzuli, Aghdam and Tartar to the Murovdag ridge, where most of the country's
//! minefields are. Positions are laid out in local metres and turned into WGS84 degrees by an affine map, so a box
//! inside a rectangle in metres is inside it in degrees too (georust's containment is planar in degrees).

use domain::geometry::Position;

/// The former line of contact, south to north, `[lon, lat]` (approximate: a demo, not a survey).
const FRONT_LINE: [Position; 11] = [
    [47.02, 39.47],
    [47.10, 39.58],
    [47.12, 39.66],
    [47.02, 39.78],
    [46.98, 39.90],
    [46.96, 39.99],
    [46.90, 40.10],
    [46.75, 40.20],
    [46.60, 40.27],
    [46.45, 40.30],
    [46.30, 40.28],
];

/// District codes along the line (used in hazard area labels such as `CHA-FZ-0142`), with where each ends as a
/// fraction of the line's length, and the district's name for handover recipients.
const DISTRICTS: [(f64, &str, &str); 5] = [
    (0.30, "FZ", "Fuzuli"),
    (0.45, "KH", "Khojavend"),
    (0.70, "AG", "Aghdam"),
    (0.88, "TR", "Tartar"),
    (1.01, "KB", "Kalbajar"),
];

/// Centres of neighbouring hazard areas are at least this far apart; a hazard area's perimeter stays within
/// [`MAX_HAZARD_RADIUS_M`] of its centre, so hazard areas never overlap.
pub const SLOT_SPACING_M: f64 = 1_300.0;
/// The largest distance from a hazard area's centre to its perimeter, with room for the outward jitter.
pub const MAX_HAZARD_RADIUS_M: f64 = 520.0;

/// Metres per degree of longitude and of latitude at a latitude (WGS84, series expansion; well under 0.1 % off
/// at the scale of a minefield, and the areas the rules compare are computed on the ellipsoid by domain anyway).
pub fn metres_per_degree(lat: f64) -> (f64, f64) {
    let phi = lat.to_radians();
    let lon = 111_412.84 * phi.cos() - 93.5 * (3.0 * phi).cos();
    let lat = 111_132.954 - 559.822 * (2.0 * phi).cos() + 1.175 * (4.0 * phi).cos();
    (lon, lat)
}

/// A local frame: metres east/north of an origin, rotated by an angle. Its map to degrees is affine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    origin: Position,
    per_lon: f64,
    per_lat: f64,
    cos: f64,
    sin: f64,
}

impl Frame {
    /// A frame centred on `origin`, its x axis turned `angle_deg` anticlockwise from east.
    pub fn new(origin: Position, angle_deg: f64) -> Frame {
        let (per_lon, per_lat) = metres_per_degree(origin[1]);
        let angle = angle_deg.to_radians();
        Frame {
            origin,
            per_lon,
            per_lat,
            cos: angle.cos(),
            sin: angle.sin(),
        }
    }

    /// The position `x` metres along the frame's x axis and `y` along its y axis, rounded to 7 decimals (1 cm),
    /// which is what a GNSS receiver's export keeps.
    pub fn at(&self, x: f64, y: f64) -> Position {
        let east = x * self.cos - y * self.sin;
        let north = x * self.sin + y * self.cos;
        [
            round7(self.origin[0] + east / self.per_lon),
            round7(self.origin[1] + north / self.per_lat),
        ]
    }
}

fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

/// Length of the front line in metres (planar, per segment at its own latitude).
pub fn front_line_length_m() -> f64 {
    FRONT_LINE.windows(2).map(|s| segment_m(s[0], s[1])).sum()
}

fn segment_m(a: Position, b: Position) -> f64 {
    let (per_lon, per_lat) = metres_per_degree((a[1] + b[1]) / 2.0);
    ((b[0] - a[0]) * per_lon).hypot((b[1] - a[1]) * per_lat)
}

/// The point `fraction` of the way along the front line (0 = south end), moved `offset_m` to its east side
/// (negative: west side), at right angles to the line.
pub fn front_line_point(fraction: f64, offset_m: f64) -> Position {
    let target = fraction.clamp(0.0, 1.0) * front_line_length_m();
    let mut walked = 0.0;
    let last = FRONT_LINE.len() - 2;
    for (i, s) in FRONT_LINE.windows(2).enumerate() {
        let (a, b) = (s[0], s[1]);
        let length = segment_m(a, b);
        if walked + length >= target || i == last {
            let t = if length > 0.0 {
                ((target - walked) / length).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (per_lon, per_lat) = metres_per_degree((a[1] + b[1]) / 2.0);
            let (dx, dy) = ((b[0] - a[0]) * per_lon, (b[1] - a[1]) * per_lat);
            let norm = dx.hypot(dy).max(1e-9);
            // The line runs roughly north: its right-hand normal points east.
            let (nx, ny) = (dy / norm, -dx / norm);
            let lon = a[0] + t * (b[0] - a[0]) + offset_m * nx / per_lon;
            let lat = a[1] + t * (b[1] - a[1]) + offset_m * ny / per_lat;
            return [round7(lon), round7(lat)];
        }
        walked += length;
    }
    FRONT_LINE[0]
}

/// The district code and name at a fraction of the way along the line.
pub fn district(fraction: f64) -> (&'static str, &'static str) {
    DISTRICTS
        .iter()
        .find(|(end, _, _)| fraction < *end)
        .map_or(("KB", "Kalbajar"), |(_, code, name)| (*code, *name))
}

/// Where hazard areas go: each operator has a sector of the line, and in it a lattice of slots
/// [`SLOT_SPACING_M`] apart, rows filling outward from the line (on it, east, west, further east...), spread along
/// the sector by a stride. A slot closer than that to a site already taken (rows bend with the line) is skipped.
#[derive(Debug, Clone)]
pub struct Layout {
    sectors: Vec<Sector>,
    taken: Vec<Position>,
}

#[derive(Debug, Clone)]
struct Sector {
    start: f64,
    end: f64,
    along: usize,
    stride: usize,
    next: usize,
}

/// One site: where a hazard area's centre goes, and how far along the line it is (for its district).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Site {
    pub centre: Position,
    pub fraction: f64,
}

impl Layout {
    /// `count` equal sectors of the line.
    pub fn new(count: usize) -> Layout {
        let count = count.max(1);
        let sectors = (0..count)
            .map(|index| {
                let (start, end) = (index as f64 / count as f64, (index + 1) as f64 / count as f64);
                let along = (((end - start) * front_line_length_m() / SLOT_SPACING_M).floor() as usize).max(1);
                // A stride coprime with the number of positions visits each once, spread over the sector.
                let stride = (1..along)
                    .rev()
                    .find(|s| *s * 3 <= along * 2 && gcd(*s, along) == 1)
                    .unwrap_or(1);
                Sector {
                    start,
                    end,
                    along,
                    stride,
                    next: 0,
                }
            })
            .collect();
        Layout {
            sectors,
            taken: Vec::new(),
        }
    }

    /// The next free site of a sector; there is always one (rows grow outward without end).
    pub fn take(&mut self, sector: usize) -> Site {
        let index = sector % self.sectors.len().max(1);
        loop {
            let Some(s) = self.sectors.get_mut(index) else {
                return Site {
                    centre: FRONT_LINE[0],
                    fraction: 0.0,
                };
            };
            let k = s.next;
            s.next += 1;
            let position = (k % s.along * s.stride) % s.along;
            let row = k / s.along;
            // Rows 0, 1, 2, 3, 4... sit at 0, +1, -1, +2, -2... spacings from the line.
            let offset = if row % 2 == 1 {
                row.div_ceil(2) as f64
            } else {
                -((row / 2) as f64)
            } * SLOT_SPACING_M;
            // Positions keep half a spacing from the sector's ends, away from the next sector's.
            let fraction = s.start + (s.end - s.start) * (position as f64 + 0.5) / s.along as f64;
            let centre = front_line_point(fraction, offset);
            let clear = self
                .taken
                .iter()
                .all(|t| domain::geometry::distance_m(*t, centre) >= SLOT_SPACING_M * 0.999);
            if clear {
                self.taken.push(centre);
                return Site { centre, fraction };
            }
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_keeps_metres_within_a_few_centimetres_of_geodesic_distances() {
        let frame = Frame::new([46.95, 40.0], 30.0);
        let (a, b) = (frame.at(0.0, 0.0), frame.at(300.0, 400.0));
        let d = domain::geometry::distance_m(a, b);
        assert!((d - 500.0).abs() < 0.5, "distance was {d}");
    }

    #[test]
    fn slots_of_all_sectors_are_far_enough_apart_and_inside_the_programme() {
        let programme = domain::Programme::default();
        let [min_lon, min_lat, max_lon, max_lat] = programme.bounding_box;
        let mut layout = Layout::new(8);
        let centres: Vec<Position> = (0..8 * 70).map(|k| layout.take(k % 8).centre).collect();
        for (i, a) in centres.iter().enumerate() {
            assert!(
                (min_lon..=max_lon).contains(&a[0]) && (min_lat..=max_lat).contains(&a[1]),
                "{a:?}"
            );
            for b in &centres[i + 1..] {
                let d = domain::geometry::distance_m(*a, *b);
                assert!(d > 2.0 * MAX_HAZARD_RADIUS_M, "{a:?} and {b:?} are {d} m apart");
            }
        }
    }
}
