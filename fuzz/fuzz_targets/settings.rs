#![no_main]
//! `somnet::fuzzing::settings`: see that function for what the input is.

libfuzzer_sys::fuzz_target!(|data: &[u8]| somnet::fuzzing::settings(data));
