#![no_main]
//! `somnet::fuzzing::nir_file`: see that function for what the input is.

libfuzzer_sys::fuzz_target!(|data: &[u8]| somnet::fuzzing::nir_file(data));
