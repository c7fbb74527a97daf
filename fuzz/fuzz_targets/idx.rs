#![no_main]
//! `somnet::fuzzing::idx`: see that function for what the input is.

libfuzzer_sys::fuzz_target!(|data: &[u8]| somnet::fuzzing::idx(data));
