//! A GeoJSON writer (RFC 7946): one FeatureCollection per layer, written feature by feature as they arrive.
//!
//! Nothing of the collection is buffered: the writer emits the collection's opening, then each feature, then the
//! closing, so a million-feature layer streams through a `BufWriter`. What RFC 7946 asks, it does here once:
//! - positions `[longitude, latitude]` in WGS84 (RFC 7946 has no `crs` member: WGS84 is implied);
//! - rings closed (features close them, and an open ring is refused), exterior rings counter-clockwise and holes
//!   clockwise, reversed on the way out when the input runs the other way (§3.1.6);
//! - coordinates rounded to 7 decimals (about 1 cm, §11.2 advises against false precision; GPS is metres off);
//! - the feature's `id` is its record id; properties are the layer's columns, null where a value is absent;
//!   attribute-only layers have `"geometry": null`.
//!
//! Strings go through serde_json for escaping. The collection carries the layer's name as a foreign member
//! (`"name"`), which GDAL and QGIS take as the layer name.

use crate::error::LayerError;
use crate::feature::Feature;
use crate::orientation::{Walk, walk};
use crate::schema::Layer;
use crate::value::{Value, iso_datetime};
use geo_types::{Coord, Geometry, LineString, Polygon};
use std::io::{BufWriter, Write};

#[derive(Debug)]
pub struct GeoJsonWriter<W: Write> {
    out: BufWriter<W>,
    layer: Layer,
    /// Each column's property key, JSON-encoded once with its colon: `"label":`.
    keys: Vec<String>,
    features: u64,
}

impl<W: Write> GeoJsonWriter<W> {
    /// Starts the layer's FeatureCollection on `out`.
    pub fn new(out: W, layer: &Layer) -> Result<GeoJsonWriter<W>, LayerError> {
        layer.validate()?;
        let mut out = BufWriter::with_capacity(256 * 1024, out);
        out.write_all(b"{\"type\":\"FeatureCollection\",\"name\":")?;
        json_string(&mut out, &layer.name)?;
        out.write_all(b",\"features\":[")?;
        let keys = layer
            .columns
            .iter()
            .map(|c| format!("{}:", serde_json::Value::String(c.name.clone())))
            .collect();
        Ok(GeoJsonWriter {
            out,
            layer: layer.clone(),
            keys,
            features: 0,
        })
    }

    /// Writes one feature. A feature that does not fit the layer is refused before anything of it is written.
    pub fn write(&mut self, feature: &Feature) -> Result<(), LayerError> {
        feature.check(&self.layer)?;
        let out = &mut self.out;
        out.write_all(if self.features == 0 { b"\n" } else { b",\n" })?;
        out.write_all(b"{\"type\":\"Feature\",\"id\":\"")?;
        write!(out, "{}", feature.record_id)?;
        out.write_all(b"\",\"geometry\":")?;
        match &feature.geometry {
            Some(geometry) => write_geometry(out, geometry)?,
            None => out.write_all(b"null")?,
        }
        out.write_all(b",\"properties\":{")?;
        for (i, (key, value)) in self.keys.iter().zip(&feature.values).enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(key.as_bytes())?;
            write_value(out, value)?;
        }
        out.write_all(b"}}")?;
        self.features += 1;
        Ok(())
    }

    /// Closes the FeatureCollection, flushes, and hands back the output.
    pub fn finish(mut self) -> Result<W, LayerError> {
        self.out.write_all(b"\n]}\n")?;
        self.out.into_inner().map_err(|e| LayerError::Write(e.into_error()))
    }
}

fn json_string(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    serde_json::to_writer(out, s).map_err(std::io::Error::from)
}

fn write_value(out: &mut impl Write, value: &Value) -> std::io::Result<()> {
    match value {
        Value::Null => out.write_all(b"null"),
        Value::Text(s) => json_string(out, s),
        Value::Integer(i) => write!(out, "{i}"),
        Value::Real(r) if r.is_finite() => serde_json::to_writer(out, r).map_err(std::io::Error::from),
        Value::Real(_) => out.write_all(b"null"),
        Value::Date(d) => write!(out, "\"{}\"", d.format("%Y-%m-%d")),
        Value::DateTime(t) => write!(out, "\"{}\"", iso_datetime(*t)),
        Value::Boolean(b) => out.write_all(if *b { b"true" } else { b"false" }),
    }
}

/// Writes a geometry. Layers hold points, polygons and multipolygons only ([`Feature::check`] refuses the rest),
/// so any other kind is written as null rather than guessed at.
fn write_geometry(out: &mut impl Write, geometry: &Geometry<f64>) -> std::io::Result<()> {
    match geometry {
        Geometry::Point(p) => {
            out.write_all(b"{\"type\":\"Point\",\"coordinates\":")?;
            position(out, p.0)?;
        }
        Geometry::Polygon(p) => {
            out.write_all(b"{\"type\":\"Polygon\",\"coordinates\":")?;
            polygon(out, p)?;
        }
        Geometry::MultiPolygon(m) => {
            out.write_all(b"{\"type\":\"MultiPolygon\",\"coordinates\":[")?;
            for (i, p) in m.0.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                polygon(out, p)?;
            }
            out.write_all(b"]")?;
        }
        _ => return out.write_all(b"null"),
    }
    out.write_all(b"}")
}

fn polygon(out: &mut impl Write, p: &Polygon<f64>) -> std::io::Result<()> {
    out.write_all(b"[")?;
    ring(out, p.exterior(), true)?;
    for hole in p.interiors() {
        out.write_all(b",")?;
        ring(out, hole, false)?;
    }
    out.write_all(b"]")
}

/// A ring in right-hand order. Rings are closed: features close them and [`Feature::check`] refuses open ones.
fn ring(out: &mut impl Write, line: &LineString<f64>, exterior: bool) -> std::io::Result<()> {
    out.write_all(b"[")?;
    let mut write = |i: usize, c: &Coord<f64>| -> std::io::Result<()> {
        if i > 0 {
            out.write_all(b",")?;
        }
        position(out, *c)
    };
    match walk(line, exterior) {
        Walk::Forward => line.0.iter().enumerate().try_for_each(|(i, c)| write(i, c))?,
        Walk::Reversed => line.0.iter().rev().enumerate().try_for_each(|(i, c)| write(i, c))?,
    }
    out.write_all(b"]")
}

fn position(out: &mut impl Write, c: Coord<f64>) -> std::io::Result<()> {
    out.write_all(b"[")?;
    degrees(out, c.x)?;
    out.write_all(b",")?;
    degrees(out, c.y)?;
    out.write_all(b"]")
}

/// Decimal places kept in GeoJSON coordinates: 1e-7° is about 1.1 cm at the equator.
const DECIMALS: u32 = 7;
const SCALE: f64 = 1e7;

/// A coordinate in degrees, rounded to 7 decimals and written exactly (no binary-to-decimal noise such as
/// `47.500000000000004`), without trailing zeros: `47.5`, `-0.1234567`, `40`.
fn degrees(out: &mut impl Write, value: f64) -> std::io::Result<()> {
    // Coordinates are checked finite and within ±180° before writing, so the scaled value fits an i64 easily.
    let scaled = (value * SCALE).round() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let scaled = scaled.unsigned_abs();
    let whole = scaled / SCALE as u64;
    let mut fraction = scaled % SCALE as u64;
    if fraction == 0 {
        return write!(out, "{sign}{whole}");
    }
    let mut width = DECIMALS as usize;
    while fraction.is_multiple_of(10) {
        fraction /= 10;
        width -= 1;
    }
    write!(out, "{sign}{whole}.{fraction:0width$}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn deg(value: f64) -> String {
        let mut out = Vec::new();
        degrees(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn coordinates_are_rounded_to_seven_decimals_and_written_exactly() {
        assert_eq!(deg(47.5), "47.5");
        assert_eq!(deg(40.0), "40");
        assert_eq!(deg(47.123456789), "47.1234568");
        assert_eq!(deg(-0.00000004), "0");
        assert_eq!(deg(-0.1234567), "-0.1234567");
        assert_eq!(deg(-179.99999999), "-180");
        assert_eq!(deg(0.1 + 0.2), "0.3");
        assert_eq!(deg(47.0000001), "47.0000001");
    }

    #[test]
    fn a_clockwise_exterior_and_a_counter_clockwise_hole_are_reversed() {
        let clockwise = LineString::from(vec![(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0)]);
        let mut out = Vec::new();
        ring(&mut out, &clockwise, true).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[[0,0],[1,0],[1,1],[0,1],[0,0]]");
        let mut out = Vec::new();
        ring(&mut out, &clockwise, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[[0,0],[0,1],[1,1],[1,0],[0,0]]",
            "a hole stays clockwise"
        );
        let counter_clockwise = LineString::from(vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]);
        let mut out = Vec::new();
        ring(&mut out, &counter_clockwise, false).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[[0,0],[1,1],[1,0],[0,0]]");
    }
}
