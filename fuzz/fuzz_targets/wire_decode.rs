#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sensor_shared::fuzzing::wire_decode(data));
