use std::process::ExitCode;

fn main() -> ExitCode {
    regcache::main(std::env::args_os().collect(), regcache::Env::from_process())
}
