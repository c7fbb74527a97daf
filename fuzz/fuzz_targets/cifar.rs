#![no_main]
//! `somnet::fuzzing::cifar`: see that function for what the input is.

libfuzzer_sys::fuzz_target!(|data: &[u8]| somnet::fuzzing::cifar(data));
