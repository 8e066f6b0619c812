pub mod fake_boards;
pub mod serving;
pub mod tiny;

use std::process::Command;

/// The `groupscale` binary as a command, run through `GROUPSCALE_TEST_RUNNER`
/// when set: the ARM suites run under qemu-user, and without binfmt_misc a
/// cross-built binary cannot be started directly.
#[allow(dead_code)]
pub fn groupscale_command() -> Command {
    command_for(std::path::Path::new(env!("CARGO_BIN_EXE_groupscale")))
}

/// A copy of the `groupscale` binary at `path`, as a command (through the
/// runner, as above).
#[allow(dead_code)]
pub fn command_for(binary: &std::path::Path) -> Command {
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
