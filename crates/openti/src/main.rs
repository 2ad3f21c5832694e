//! `openti`: the one binary. Each subcommand parses its flags and calls the libraries; no
//! business logic lives here.

mod cli;
mod ingest;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("openti: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(cli::run(cli)) {
        // One line, as scripts and people read it.
        eprintln!("openti: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}
