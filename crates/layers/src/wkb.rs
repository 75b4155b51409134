//! Binary geometry: ISO/OGC well-known binary (2D, little-endian) and the GeoPackage binary header in front of it
//! (GeoPackage 1.3 §2.1.3, "GeoPackageBinary").
//!
//! Written here rather than through a crate because the format is small and fixed, it is the writer's hot path
//! (one geometry per row, a million rows), and writing it while measuring the envelope costs one pass over the
//! coordinates into a reused buffer.

use crate::error::LayerError;
use geo_types::{Coord, Geometry, LineString, Polygon};

/// A bounding box, in GeoPackage envelope order when written: min x, max x, min y, max y.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Envelope {
    pub min_x: f64,
    pub max_x: f64,
    pub min_y: f64,
    pub max_y: f64,
}

impl Envelope {
    fn of(c: Coord<f64>) -> Envelope {
        Envelope {
            min_x: c.x,
            max_x: c.x,
            min_y: c.y,
            max_y: c.y,
        }
    }

    pub fn extend(&mut self, other: &Envelope) {
        self.min_x = self.min_x.min(other.min_x);
        self.max_x = self.max_x.max(other.max_x);
        self.min_y = self.min_y.min(other.min_y);
        self.max_y = self.max_y.max(other.max_y);
    }
}

/// The SRS id our layers declare: WGS84 geographic, EPSG:4326.
pub(crate) const SRS_WGS84: i32 = 4326;

/// Appends the GeoPackageBinary form of a geometry to `out` and returns its envelope (None when it is empty).
///
/// Polygons and every other non-point geometry carry their envelope ([minx, maxx, miny, maxy]) in the header,
/// which readers use to filter without parsing the WKB. A point carries none: its envelope is itself, the
/// specification makes the envelope optional, and GDAL writes points the same way.
pub(crate) fn geopackage_binary(out: &mut Vec<u8>, geometry: &Geometry<f64>, srs_id: i32) -> Option<Envelope> {
    let header_start = out.len();
    out.extend_from_slice(b"GP");
    out.push(0); // version 1 of the binary format
    out.push(0); // flags, set below once the envelope is known
    out.extend_from_slice(&srs_id.to_le_bytes());
    let with_envelope = !matches!(geometry, Geometry::Point(_));
    let envelope_at = out.len();
    if with_envelope {
        out.extend_from_slice(&[0; 32]);
    }
    let envelope = wkb(out, geometry);
    // Flags: bit 0 little-endian, bits 1-3 envelope kind (1 = xy), bit 4 empty geometry.
    let mut flags = 0b0000_0001;
    match (&envelope, with_envelope) {
        (Some(e), true) => {
            flags |= 1 << 1;
            for (i, v) in [e.min_x, e.max_x, e.min_y, e.max_y].into_iter().enumerate() {
                out[envelope_at + 8 * i..envelope_at + 8 * (i + 1)].copy_from_slice(&v.to_le_bytes());
            }
        }
        (None, true) => {
            // An empty geometry has no envelope: drop the placeholder and flag it empty.
            out.drain(envelope_at..envelope_at + 32);
            flags |= 1 << 4;
        }
        (_, false) => {}
    }
    out[header_start + 3] = flags;
    envelope
}

/// A geometry as GeoPackageBinary (EPSG:4326) with its bounding box `[min lon, min lat, max lon, max lat]` (None
/// when it is empty): what the server's materialized tables keep, so that an export can copy it as it is.
pub fn geopackage_geometry(geometry: &Geometry<f64>) -> (Vec<u8>, Option<[f64; 4]>) {
    let mut out = Vec::new();
    let envelope = geopackage_binary(&mut out, geometry, SRS_WGS84);
    (out, envelope.map(|e| [e.min_x, e.min_y, e.max_x, e.max_y]))
}

/// The geometry of a GeoPackageBinary blob (GeoPackage 1.3 §2.1.3), as [`geopackage_geometry`] or GDAL writes it:
/// the header is stepped over by its flags, and the WKB after it read with the georust `wkb` crate. An empty
/// point has no geo-types form: it reads as an error, like any blob that is not a geometry.
pub fn geometry_from_geopackage(blob: &[u8]) -> Result<Geometry<f64>, LayerError> {
    use geo_traits::to_geo::ToGeoGeometry;
    let unreadable = |problem: String| LayerError::UnreadableGeometry { problem };
    let (Some(b"GP"), Some(&flags)) = (blob.get(..2), blob.get(3)) else {
        return Err(unreadable("no GeoPackage header (GP)".into()));
    };
    // Bits 1-3 give the envelope's kind: none, xy, xyz, xym, xyzm.
    let envelope = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        kind => return Err(unreadable(format!("envelope kind {kind} does not exist"))),
    };
    let wkb = blob
        .get(8 + envelope..)
        .ok_or_else(|| unreadable("shorter than its header".into()))?;
    let read = wkb::reader::read_wkb(wkb).map_err(|e| unreadable(e.to_string()))?;
    read.try_to_geometry()
        .ok_or_else(|| unreadable("an empty point, which has no coordinates".into()))
}

/// Appends the little-endian WKB of a geometry and returns its envelope.
pub(crate) fn wkb(out: &mut Vec<u8>, geometry: &Geometry<f64>) -> Option<Envelope> {
    let mut envelope = None;
    write_geometry(out, geometry, &mut envelope);
    envelope
}

const POINT: u32 = 1;
const LINE_STRING: u32 = 2;
const POLYGON: u32 = 3;
const MULTI_POINT: u32 = 4;
const MULTI_LINE_STRING: u32 = 5;
const MULTI_POLYGON: u32 = 6;
const GEOMETRY_COLLECTION: u32 = 7;

fn header(out: &mut Vec<u8>, kind: u32) {
    out.push(1); // little-endian
    out.extend_from_slice(&kind.to_le_bytes());
}

fn count(out: &mut Vec<u8>, n: usize) {
    // WKB counts are u32; no field geometry comes near 4 billion positions.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn coord(out: &mut Vec<u8>, c: Coord<f64>, envelope: &mut Option<Envelope>) {
    out.extend_from_slice(&c.x.to_le_bytes());
    out.extend_from_slice(&c.y.to_le_bytes());
    match envelope {
        Some(e) => e.extend(&Envelope::of(c)),
        None => *envelope = Some(Envelope::of(c)),
    }
}

fn coords(out: &mut Vec<u8>, line: &LineString<f64>, envelope: &mut Option<Envelope>) {
    count(out, line.0.len());
    for c in &line.0 {
        coord(out, *c, envelope);
    }
}

fn polygon_body(out: &mut Vec<u8>, polygon: &Polygon<f64>, envelope: &mut Option<Envelope>) {
    if polygon.exterior().0.is_empty() {
        count(out, 0);
        return;
    }
    count(out, 1 + polygon.interiors().len());
    coords(out, polygon.exterior(), envelope);
    for ring in polygon.interiors() {
        coords(out, ring, envelope);
    }
}

fn write_geometry(out: &mut Vec<u8>, geometry: &Geometry<f64>, envelope: &mut Option<Envelope>) {
    match geometry {
        Geometry::Point(p) => {
            header(out, POINT);
            coord(out, p.0, envelope);
        }
        Geometry::Line(l) => {
            header(out, LINE_STRING);
            coords(out, &LineString::new(vec![l.start, l.end]), envelope);
        }
        Geometry::LineString(l) => {
            header(out, LINE_STRING);
            coords(out, l, envelope);
        }
        Geometry::Polygon(p) => {
            header(out, POLYGON);
            polygon_body(out, p, envelope);
        }
        Geometry::Rect(r) => write_geometry(out, &Geometry::Polygon(r.to_polygon()), envelope),
        Geometry::Triangle(t) => write_geometry(out, &Geometry::Polygon(t.to_polygon()), envelope),
        Geometry::MultiPoint(m) => {
            header(out, MULTI_POINT);
            count(out, m.0.len());
            for p in &m.0 {
                write_geometry(out, &Geometry::Point(*p), envelope);
            }
        }
        Geometry::MultiLineString(m) => {
            header(out, MULTI_LINE_STRING);
            count(out, m.0.len());
            for l in &m.0 {
                header(out, LINE_STRING);
                coords(out, l, envelope);
            }
        }
        Geometry::MultiPolygon(m) => {
            header(out, MULTI_POLYGON);
            count(out, m.0.len());
            for p in &m.0 {
                header(out, POLYGON);
                polygon_body(out, p, envelope);
            }
        }
        Geometry::GeometryCollection(c) => {
            header(out, GEOMETRY_COLLECTION);
            count(out, c.0.len());
            for g in &c.0 {
                write_geometry(out, g, envelope);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{MultiPolygon, Point, polygon};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn point_wkb_is_the_iso_little_endian_encoding() {
        let mut out = Vec::new();
        wkb(&mut out, &Geometry::Point(Point::new(1.0, 2.0)));
        // 01 = little-endian, 01000000 = Point, then x = 1.0 and y = 2.0 as IEEE 754 doubles.
        assert_eq!(hex(&out), "0101000000000000000000f03f0000000000000040");
    }

    #[test]
    fn polygon_wkb_has_ring_and_point_counts() {
        let square = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)];
        let mut out = Vec::new();
        let envelope = wkb(&mut out, &Geometry::Polygon(square)).expect("an envelope");
        assert_eq!(&out[..5], &[1, 3, 0, 0, 0], "little-endian Polygon");
        assert_eq!(&out[5..9], &1u32.to_le_bytes(), "one ring");
        assert_eq!(&out[9..13], &4u32.to_le_bytes(), "four positions, closed");
        assert_eq!(out.len(), 13 + 4 * 16);
        assert_eq!(
            f64::from_le_bytes(out[13 + 16..13 + 24].try_into().expect("8 bytes")),
            1.0
        );
        assert_eq!(
            envelope,
            Envelope {
                min_x: 0.0,
                max_x: 1.0,
                min_y: 0.0,
                max_y: 1.0
            }
        );
    }

    #[test]
    fn multipolygon_wkb_nests_full_polygon_headers() {
        let a = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)];
        let b = polygon![(x: 5.0, y: 5.0), (x: 6.0, y: 5.0), (x: 6.0, y: 7.0)];
        let mut out = Vec::new();
        let e = wkb(&mut out, &Geometry::MultiPolygon(MultiPolygon(vec![a, b]))).expect("an envelope");
        assert_eq!(&out[..9], &[1, 6, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(&out[9..14], &[1, 3, 0, 0, 0], "each member is a full Polygon");
        assert_eq!((e.min_x, e.max_x, e.min_y, e.max_y), (0.0, 6.0, 0.0, 7.0));
    }

    #[test]
    fn geopackage_header_for_a_polygon_carries_srs_and_envelope() {
        let p = polygon![(x: 47.5, y: 40.5), (x: 47.6, y: 40.5), (x: 47.6, y: 40.7)];
        let mut out = vec![0xaa]; // something already in the buffer stays untouched
        geopackage_binary(&mut out, &Geometry::Polygon(p.clone()), SRS_WGS84);
        let gpb = &out[1..];
        assert_eq!(&gpb[..2], b"GP");
        assert_eq!(gpb[2], 0, "version");
        assert_eq!(gpb[3], 0b0000_0011, "little-endian, xy envelope, not empty");
        assert_eq!(&gpb[4..8], &4326i32.to_le_bytes());
        let env: Vec<f64> = gpb[8..40]
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        assert_eq!(env, [47.5, 47.6, 40.5, 40.7], "minx, maxx, miny, maxy");
        let mut plain = Vec::new();
        wkb(&mut plain, &Geometry::Polygon(p));
        assert_eq!(&gpb[40..], plain.as_slice(), "the WKB follows the header");
        assert_eq!(out[0], 0xaa);
    }

    #[test]
    fn geopackage_header_for_a_point_has_no_envelope() {
        let mut out = Vec::new();
        let e = geopackage_binary(&mut out, &Geometry::Point(Point::new(47.5, 40.5)), SRS_WGS84);
        assert_eq!(out[3], 0b0000_0001);
        assert_eq!(out.len(), 8 + 21);
        assert_eq!(e.map(|e| (e.min_x, e.min_y)), Some((47.5, 40.5)));
    }

    #[test]
    fn an_empty_geometry_is_flagged_empty_without_envelope() {
        let mut out = Vec::new();
        let e = geopackage_binary(&mut out, &Geometry::MultiPolygon(MultiPolygon(vec![])), SRS_WGS84);
        assert!(e.is_none());
        assert_eq!(out[3], 0b0001_0001);
        assert_eq!(&out[8..], &[1, 6, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn every_geometry_written_reads_back_the_same() {
        let square = polygon![(x: 47.5, y: 40.5), (x: 47.6, y: 40.5), (x: 47.6, y: 40.6), (x: 47.5, y: 40.5)];
        let holed = Polygon::new(
            square.exterior().clone(),
            vec![LineString::from(vec![
                (47.52, 40.52),
                (47.53, 40.52),
                (47.53, 40.53),
                (47.52, 40.52),
            ])],
        );
        let geometries = [
            Geometry::Point(Point::new(47.512345678901, 40.498765432109)),
            Geometry::LineString(LineString::from(vec![(47.5, 40.5), (47.7, 40.1)])),
            Geometry::Polygon(holed.clone()),
            Geometry::MultiPolygon(MultiPolygon(vec![square.clone(), holed])),
            Geometry::MultiPolygon(MultiPolygon(vec![])),
            Geometry::GeometryCollection(geo_types::GeometryCollection(vec![
                Geometry::Point(Point::new(1.0, 2.0)),
                Geometry::Polygon(square),
            ])),
        ];
        for geometry in geometries {
            let (blob, _) = geopackage_geometry(&geometry);
            assert_eq!(geometry_from_geopackage(&blob).expect("reads"), geometry);
        }
    }

    #[test]
    fn a_blob_that_is_not_a_geometry_is_an_error_naming_why() {
        let (point, _) = geopackage_geometry(&Geometry::Point(Point::new(47.5, 40.5)));
        let problem = |blob: &[u8]| match geometry_from_geopackage(blob) {
            Err(LayerError::UnreadableGeometry { problem }) => problem,
            other => panic!("expected an error, got {other:?}"),
        };
        assert!(problem(b"").contains("no GeoPackage header"));
        assert!(problem(&point[1..]).contains("no GeoPackage header"));
        let mut bad_envelope = point.clone();
        bad_envelope[3] = 0b0000_1011;
        assert!(problem(&bad_envelope).contains("envelope kind 5"));
        assert!(problem(&point[..6]).contains("shorter than its header"));
        problem(&point[..point.len() - 4]);
    }
}
