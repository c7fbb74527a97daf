#![no_main]
//! `somnet::fuzzing::somnet_h5`: see that function for what the input is.

libfuzzer_sys::fuzz_target!(|data: &[u8]| somnet::fuzzing::somnet_h5(data));
