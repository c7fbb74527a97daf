#![no_main]
//! `somnet::fuzzing::keras_config`: see that function for what the input is.

libfuzzer_sys::fuzz_target!(|data: &[u8]| somnet::fuzzing::keras_config(data));
