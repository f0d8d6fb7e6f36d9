//! The whole environment: `NAME=value` lines become the variable map `Settings::from_env`
//! validates. Any value is accepted or refused with a message naming the variable.
#![no_main]
use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use wampd::config::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut env = HashMap::new();
    for line in text.lines() {
        if let Some((name, value)) = line.split_once('=') {
            // Files named by variables are read; keep the fuzzer off the file system.
            if name.ends_with("_FILE") || name.contains("CERT") || name.contains("KEY") {
                continue;
            }
            env.insert(name.to_owned(), value.to_owned());
        }
    }
    match Settings::from_env(&env) {
        Ok(settings) => {
            let _ = settings.describe();
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
        }
    }
});
