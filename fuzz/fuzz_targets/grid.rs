#![no_main]
//! `somnet::fuzzing::grid`: see that function for what the input is.

libfuzzer_sys::fuzz_target!(|data: &[u8]| somnet::fuzzing::grid(data));
