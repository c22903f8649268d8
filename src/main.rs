use std::process::ExitCode;

fn main() -> ExitCode {
    regcache::main(
        std::env::args_os().collect(),
        regcache::platform::Env::from_process(),
    )
}
