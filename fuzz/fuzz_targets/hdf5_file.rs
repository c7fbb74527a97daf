#![no_main]
//! `somnet::fuzzing::hdf5_file`: see that function for what the input is.

libfuzzer_sys::fuzz_target!(|data: &[u8]| somnet::fuzzing::hdf5_file(data));
