//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) and every crash the fuzzer saved
//! (`fuzz/artifacts/<target>/`) through the same checks the fuzz targets run, so that a fixed
//! crash stays fixed; no cargo-fuzz needed.

use std::path::PathBuf;

use sensor_shared::fuzzing;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() {
                let data = std::fs::read(&path).unwrap();
                out.push((path, data));
            }
        }
    }
    out
}

fn replay(target: &str, check: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(
        inputs.len() >= 10,
        "fuzz/corpus/{target} holds the saved corpus ({} inputs)",
        inputs.len()
    );
    for (path, data) in inputs {
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its check", path.display());
    }
}

#[test]
fn wire_decode_corpus() {
    replay("wire_decode", fuzzing::wire_decode);
}

#[test]
fn schema_parse_corpus() {
    replay("schema_parse", fuzzing::schema_parse);
}

#[test]
fn codec_decode_corpus() {
    replay("codec_decode", fuzzing::codec_decode);
}

#[test]
fn item_writer_corpus() {
    replay("item_writer", fuzzing::item_writer);
}
