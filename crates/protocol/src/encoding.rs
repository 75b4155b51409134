//! The wire encoding: a message is CBOR (RFC 8949), then compressed with zstd (RFC 8878) as one frame, so a batch
//! of changes compresses together (1,000 tiny changes: 103 KB raw, 2.2 KB bundled, per shared/design.md).

use crate::limits::MAX_MESSAGE_BYTES;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Read;

/// zstd level 3: zstd's default, a good ratio at a speed far above any link a field camp has.
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("the body is not zstd-compressed data: {0}")]
    Compression(String),
    #[error("the message is larger than {MAX_MESSAGE_BYTES} bytes once decompressed")]
    TooLarge,
    #[error("the body is not a valid message: {0}")]
    Message(String),
}

/// Encodes a message for the wire.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, ProtocolError> {
    let mut cbor = Vec::new();
    ciborium::into_writer(message, &mut cbor).map_err(|e| ProtocolError::Message(e.to_string()))?;
    zstd::stream::encode_all(cbor.as_slice(), ZSTD_LEVEL).map_err(|e| ProtocolError::Compression(e.to_string()))
}

/// Decodes a message from the wire. Untrusted input: any malformed body is an error, never a panic, and
/// decompression stops at [`MAX_MESSAGE_BYTES`]. The body is held to the protocol's text: one zstd frame holding
/// one CBOR item, and nothing after either (a second frame or trailing bytes would be a message no one checked).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProtocolError> {
    let compression = |e: std::io::Error| ProtocolError::Compression(e.to_string());
    let mut decoder = zstd::stream::read::Decoder::new(body)
        .map_err(compression)?
        .single_frame();
    let mut cbor = Vec::new();
    (&mut decoder)
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut cbor)
        .map_err(compression)?;
    if cbor.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge);
    }
    let mut rest = decoder.finish();
    let mut after = [0u8; 1];
    if rest.read(&mut after).map_err(compression)? > 0 {
        return Err(ProtocolError::Compression(
            "bytes follow the message's zstd frame: a body is one frame".into(),
        ));
    }
    let mut unread = cbor.as_slice();
    let message = ciborium::from_reader(&mut unread).map_err(|e| ProtocolError::Message(e.to_string()))?;
    if !unread.is_empty() {
        return Err(ProtocolError::Message(format!(
            "{} bytes follow the message: a body is one CBOR item",
            unread.len()
        )));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SyncRequest;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            decode::<SyncRequest>(b"definitely not zstd"),
            Err(ProtocolError::Compression(_))
        ));
        let not_a_message = zstd::stream::encode_all(&b"\xff\xff\xff"[..], 3).expect("compress");
        assert!(matches!(
            decode::<SyncRequest>(&not_a_message),
            Err(ProtocolError::Message(_))
        ));
        let wrong_shape = encode(&vec![1u8, 2, 3]).expect("encode");
        assert!(matches!(
            decode::<SyncRequest>(&wrong_shape),
            Err(ProtocolError::Message(_))
        ));
    }

    #[test]
    fn a_body_is_one_frame_of_one_message_and_nothing_after() {
        let request = SyncRequest::new(7, None);
        let body = encode(&request).expect("encode");
        assert_eq!(decode::<SyncRequest>(&body).expect("decode"), request);
        let mut two_frames = body.clone();
        two_frames.extend_from_slice(&body);
        let error = decode::<SyncRequest>(&two_frames).expect_err("a second frame");
        assert!(error.to_string().contains("one frame"), "{error}");
        let mut trailing = body.clone();
        trailing.push(0);
        assert!(decode::<SyncRequest>(&trailing).is_err());
        let mut cbor = Vec::new();
        ciborium::into_writer(&request, &mut cbor).expect("cbor");
        cbor.extend_from_slice(b"\x00\x01");
        let padded = zstd::stream::encode_all(cbor.as_slice(), 3).expect("compress");
        let error = decode::<SyncRequest>(&padded).expect_err("bytes after the item");
        assert!(error.to_string().contains("2 bytes follow"), "{error}");
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; MAX_MESSAGE_BYTES + 1024];
        let bomb = zstd::stream::encode_all(zeros.as_slice(), 3).expect("compress");
        assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire: {}", bomb.len());
        assert!(matches!(decode::<SyncRequest>(&bomb), Err(ProtocolError::TooLarge)));
    }
}
