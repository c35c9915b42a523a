//! The `gatehouse` binary: parses the command line and hands over to the library.

use clap::Parser as _;

/// mimalloc: the service allocates many small, short-lived objects per request (GraphQL
/// values, rows); glibc malloc was about 30% of CPU under the benchmark's feed load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = gatehouse::cli::Cli::parse();
    match gatehouse::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gatehouse: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
