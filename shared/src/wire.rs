//! The AWS Glue Schema Registry wire format, as written by AWS's reference SerDe.
//!
//! ```text
//! byte 0      header version, always 0x03
//! byte 1      compression: 0x00 none, 0x05 zlib (RFC 1950)
//! bytes 2..18 schema version id (UUID, RFC 4122 byte order)
//! bytes 18..  Avro binary body (no container, no single-object header), zlib-deflated if byte 1 = 0x05
//! ```
//!
//! Everything here is a pure function over byte slices.

use std::borrow::Cow;
use std::cell::RefCell;

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use thiserror::Error;
use uuid::Uuid;

/// Byte 0 of every framed message.
pub const HEADER_VERSION: u8 = 0x03;
/// Byte 1 for an uncompressed body.
pub const COMPRESSION_NONE: u8 = 0x00;
/// Byte 1 for a zlib-compressed body.
pub const COMPRESSION_ZLIB: u8 = 0x05;
/// Length of the header: version, compression and the 16-byte schema version id.
pub const HEADER_LEN: usize = 18;
/// Default cap on the size of an inflated body (protects consumers from zip bombs).
pub const DEFAULT_MAX_INFLATED: usize = 8 * 1024 * 1024;

/// How the body of a framed message is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Body stored as is.
    #[default]
    None,
    /// Body deflated with zlib (RFC 1950).
    Zlib,
}

impl Compression {
    fn byte(self) -> u8 {
        match self {
            Compression::None => COMPRESSION_NONE,
            Compression::Zlib => COMPRESSION_ZLIB,
        }
    }
}

/// Why a message could not be read as a Glue-framed message. Every variant is permanent for the
/// bytes at hand: retrying the same bytes gives the same error.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message is {len} bytes, shorter than the {HEADER_LEN}-byte Glue header")]
    TooShort { len: usize },
    #[error("unknown Glue header version byte 0x{0:02x} (expected 0x03)")]
    UnknownHeaderVersion(u8),
    #[error("unknown Glue compression byte 0x{0:02x} (expected 0x00 or 0x05)")]
    UnknownCompression(u8),
    #[error("broken zlib stream: {0}")]
    Zlib(String),
    #[error("inflated body exceeds the {limit}-byte cap")]
    InflatedTooLarge { limit: usize },
}

/// A decoded frame: the schema version id and the (inflated) Avro body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    pub schema_version_id: Uuid,
    pub compression: Compression,
    pub body: Cow<'a, [u8]>,
}

/// Appends the framed message for `body` to `out`.
pub fn encode_into(
    schema_version_id: &Uuid,
    compression: Compression,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    out.reserve(HEADER_LEN + body.len());
    out.push(HEADER_VERSION);
    out.push(compression.byte());
    out.extend_from_slice(schema_version_id.as_bytes());
    match compression {
        Compression::None => out.extend_from_slice(body),
        Compression::Zlib => DEFLATE.with(|c| {
            let mut c = c.borrow_mut();
            c.reset();
            deflate(&mut c, body, out);
        }),
    }
}

thread_local! {
    // One zlib compressor and decompressor per thread, reset for every message: setting one up
    // allocates and clears a few hundred KiB, far more work than a reading's body. (Resetting
    // the decompressor clears its window, so no message sees another's bytes.)
    static DEFLATE: RefCell<Compress> =
        RefCell::new(Compress::new(flate2::Compression::default(), true));
    static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(true));
}

fn deflate(c: &mut Compress, body: &[u8], out: &mut Vec<u8>) {
    // Room for an incompressible body plus the zlib wrapper; grown if that is not enough.
    out.reserve(body.len() + body.len() / 1000 + 64);
    loop {
        let consumed = c.total_in() as usize;
        // Deflating into a Vec cannot fail.
        let status = c
            .compress_vec(&body[consumed..], out, FlushCompress::Finish)
            .expect("zlib into Vec");
        if status == Status::StreamEnd {
            return;
        }
        out.reserve(out.capacity().max(64));
    }
}

/// Returns the framed message for `body`.
pub fn encode(schema_version_id: &Uuid, compression: Compression, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(schema_version_id, compression, body, &mut out);
    out
}

/// Reads the header only: the schema version id and compression, without touching the body.
pub fn peek(message: &[u8]) -> Result<(Uuid, Compression), WireError> {
    if message.len() < HEADER_LEN {
        return Err(WireError::TooShort { len: message.len() });
    }
    if message[0] != HEADER_VERSION {
        return Err(WireError::UnknownHeaderVersion(message[0]));
    }
    let compression = match message[1] {
        COMPRESSION_NONE => Compression::None,
        COMPRESSION_ZLIB => Compression::Zlib,
        other => return Err(WireError::UnknownCompression(other)),
    };
    let mut id = [0u8; 16];
    id.copy_from_slice(&message[2..HEADER_LEN]);
    Ok((Uuid::from_bytes(id), compression))
}

/// Decodes a framed message; a zlib body is inflated up to `max_inflated` bytes.
pub fn decode(message: &[u8], max_inflated: usize) -> Result<Frame<'_>, WireError> {
    let (schema_version_id, compression) = peek(message)?;
    let raw = &message[HEADER_LEN..];
    let body = match compression {
        Compression::None => Cow::Borrowed(raw),
        Compression::Zlib => Cow::Owned(inflate(raw, max_inflated)?),
    };
    Ok(Frame {
        schema_version_id,
        compression,
        body,
    })
}

fn inflate(raw: &[u8], max_inflated: usize) -> Result<Vec<u8>, WireError> {
    INFLATE.with(|d| {
        let mut d = d.borrow_mut();
        d.reset(true);
        inflate_with(&mut d, raw, max_inflated)
    })
}

fn inflate_with(d: &mut Decompress, raw: &[u8], max_inflated: usize) -> Result<Vec<u8>, WireError> {
    // The output never gets room for more than one byte past the cap: that byte tells a body
    // that is too large, without inflating the rest of a bomb.
    let limit = max_inflated.saturating_add(1);
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).max(64).min(limit));
    loop {
        let before = (d.total_in(), out.len());
        let consumed = d.total_in() as usize;
        let status = d
            .decompress_vec(&raw[consumed..], &mut out, FlushDecompress::None)
            .map_err(|e| WireError::Zlib(e.to_string()))?;
        if out.len() > max_inflated {
            return Err(WireError::InflatedTooLarge {
                limit: max_inflated,
            });
        }
        if status == Status::StreamEnd {
            break;
        }
        if out.len() == out.capacity() {
            out.reserve_exact(out.capacity().max(64).min(limit - out.len()));
        } else if (d.total_in(), out.len()) == before {
            // Room to write, nothing more read or written: the stream stops early.
            return Err(WireError::Zlib("zlib stream ends early".into()));
        }
    }
    // The stream must end where the message ends: trailing garbage means a broken message.
    let consumed = d.total_in();
    if consumed != raw.len() as u64 {
        return Err(WireError::Zlib(format!(
            "{} trailing bytes after the zlib stream",
            raw.len() as u64 - consumed
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "636cb0bb-7243-43f0-b309-7a25a8f19df2";
    const BODY: [u8; 5] = [0x06, 0x61, 0x62, 0x63, 0x54];
    const PLAIN: [u8; 23] = [
        0x03, 0x00, 0x63, 0x6c, 0xb0, 0xbb, 0x72, 0x43, 0x43, 0xf0, 0xb3, 0x09, 0x7a, 0x25, 0xa8,
        0xf1, 0x9d, 0xf2, 0x06, 0x61, 0x62, 0x63, 0x54,
    ];
    const ZLIB: [u8; 31] = [
        0x03, 0x05, 0x63, 0x6c, 0xb0, 0xbb, 0x72, 0x43, 0x43, 0xf0, 0xb3, 0x09, 0x7a, 0x25, 0xa8,
        0xf1, 0x9d, 0xf2, 0x78, 0x9c, 0x63, 0x4b, 0x4c, 0x4a, 0x0e, 0x01, 0x00, 0x03, 0xe7, 0x01,
        0x81,
    ];

    fn id() -> Uuid {
        Uuid::parse_str(ID).unwrap()
    }

    #[test]
    fn encodes_reference_bytes() {
        assert_eq!(encode(&id(), Compression::None, &BODY), PLAIN);
        assert_eq!(encode(&id(), Compression::Zlib, &BODY), ZLIB);
    }

    #[test]
    fn decodes_reference_bytes() {
        let f = decode(&PLAIN, DEFAULT_MAX_INFLATED).unwrap();
        assert_eq!(f.schema_version_id, id());
        assert_eq!(f.compression, Compression::None);
        assert_eq!(&*f.body, &BODY);
        let f = decode(&ZLIB, DEFAULT_MAX_INFLATED).unwrap();
        assert_eq!(f.schema_version_id, id());
        assert_eq!(f.compression, Compression::Zlib);
        assert_eq!(&*f.body, &BODY);
    }

    #[test]
    fn rejects_short_messages() {
        assert_eq!(
            decode(&PLAIN[..17], 10),
            Err(WireError::TooShort { len: 17 })
        );
        assert_eq!(decode(&[], 10), Err(WireError::TooShort { len: 0 }));
    }

    #[test]
    fn header_only_message_has_empty_body() {
        let f = decode(&PLAIN[..18], 10).unwrap();
        assert!(f.body.is_empty());
    }

    #[test]
    fn rejects_other_versions_and_compressions() {
        let mut m = PLAIN;
        m[0] = 0x00; // Confluent's magic byte
        assert_eq!(decode(&m, 10), Err(WireError::UnknownHeaderVersion(0)));
        let mut m = PLAIN;
        m[1] = 0x01;
        assert_eq!(decode(&m, 10), Err(WireError::UnknownCompression(1)));
    }

    #[test]
    fn rejects_broken_zlib() {
        let mut m = ZLIB.to_vec();
        let n = m.len();
        m[n - 1] ^= 0xff; // break the Adler-32 checksum
        assert!(matches!(decode(&m, 100), Err(WireError::Zlib(_))));
        let truncated = &ZLIB[..ZLIB.len() - 3];
        assert!(matches!(decode(truncated, 100), Err(WireError::Zlib(_))));
        let mut trailing = ZLIB.to_vec();
        trailing.push(0);
        assert!(matches!(decode(&trailing, 100), Err(WireError::Zlib(_))));
    }

    #[test]
    fn caps_inflated_size() {
        let bomb = encode(&id(), Compression::Zlib, &vec![0u8; 1_000_000]);
        assert!(bomb.len() < 2_000);
        assert_eq!(
            decode(&bomb, 4096),
            Err(WireError::InflatedTooLarge { limit: 4096 })
        );
        assert_eq!(decode(&bomb, 1_000_000).unwrap().body.len(), 1_000_000);
    }

    #[test]
    fn peek_reads_header_only() {
        assert_eq!(peek(&ZLIB).unwrap(), (id(), Compression::Zlib));
    }
}
