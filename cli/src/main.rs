//! hubctl: command-line tool for flists and the hub.
//!
//! `main` only parses the command line, runs the command and turns the outcome into an exit
//! code: 0 on success, 1 on failure (the error and its causes on stderr), 2 on usage errors
//! (clap exits with 2 itself).

mod commands;
mod files;
mod output;
mod progress;
mod units;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hubctl: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        // `hubctl flist ls big.fl | head` closes our stdout early: that is not a failure.
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hubctl: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
