//! The `jingtu` binary: everything lives in the library; see `jingtu::cli`.

fn main() -> std::process::ExitCode {
    jingtu::cli::main()
}
