#![no_main]
//! `somnet::fuzzing::arch`: see that function for what the input is.

libfuzzer_sys::fuzz_target!(|data: &[u8]| somnet::fuzzing::arch(data));
