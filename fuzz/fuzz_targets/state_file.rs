//! The clock state file's parser (`groupscale::platform::state::parse`), on
//! arbitrary UTF-8: it must return a record or an error, never panic, and a
//! record it accepts must serialise and parse back to the same changes.
//! (The file is hostile input: `groupscale clocks restore` runs as root.)

#![no_main]

use groupscale::platform::state;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(record) = state::parse(text) else {
        return;
    };
    let json = serde_json::to_string(&record).expect("a record serialises");
    let again = state::parse(&json).expect("a serialised record parses");
    assert_eq!(record.changes(), again.changes(), "changes differ after a round trip");
});
