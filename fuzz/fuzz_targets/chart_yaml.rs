#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fluxrs_fuzz::chart_yaml(data));
