//! Showing an enrollment code (protocol::enrollment::Invitation's text) as a QR code a tablet's camera can read.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

pub fn qr(text: &str) -> anyhow::Result<String> {
    let code = QrCode::new(text.as_bytes())?;
    Ok(code.render::<Dense1x2>().quiet_zone(true).build())
}
