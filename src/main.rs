//! The `gatehouse` binary: parses the command line and hands over to the library.

use clap::Parser as _;

/// jemalloc: the service allocates many small, short-lived objects per request (GraphQL
/// values, rows, futures), freed on other worker threads. glibc malloc was about 30% of CPU
/// under the benchmark's feed load; against mimalloc 3, jemalloc ran the feed in 3% fewer
/// instructions, used less CPU in alternating load runs and held a fifth less memory.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
