pub mod fake_boards;

use std::process::Command;

/// The `groupscale` binary as a command, run through `GROUPSCALE_TEST_RUNNER`
/// when set: the ARM suites run under qemu-user, and without binfmt_misc a
/// cross-built binary cannot be started directly.
#[allow(dead_code)]
pub fn groupscale_command() -> Command {
    let binary = env!("CARGO_BIN_EXE_groupscale");
    match std::env::var("GROUPSCALE_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut cmd = Command::new(words.next().expect("non-empty"));
            cmd.args(words).arg(binary);
            cmd
        }
        _ => Command::new(binary),
    }
}
