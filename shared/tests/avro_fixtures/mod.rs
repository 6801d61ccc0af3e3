//! The Avro fixtures under `tests/fixtures/avro/` (schemas and hex-encoded frames written by
//! other implementations), read the same way by every test that uses them.

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
