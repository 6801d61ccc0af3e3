//! The Avro fixtures under `tests/fixtures/avro/` (schemas and hex-encoded frames written by
//! other implementations), read the same way by every test that uses them, and the one Avro
//! primitive tests write by hand.

#![allow(dead_code)] // each test binary uses a different part of this module

/// The text of `tests/fixtures/avro/<name>`.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/avro/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Bytes from their hex digits (as the fixtures store frames).
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// A long as Avro writes it (zigzag varint).
pub fn varint(v: i64) -> Vec<u8> {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut out = Vec::new();
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
    out
}
