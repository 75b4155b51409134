//! Showing an enrollment token to a person: as text, and as a QR code a tablet's camera can read.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

pub fn qr(token: &str) -> anyhow::Result<String> {
    let code = QrCode::new(token.as_bytes())?;
    Ok(code.render::<Dense1x2>().quiet_zone(true).build())
}
