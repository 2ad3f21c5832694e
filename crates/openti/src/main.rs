//! `openti`: the one binary. Each subcommand parses its flags and calls the libraries; no
//! business logic lives here.

mod cli;
mod ingest;

use clap::Parser;

/// Parses the command line; a usage error is one line on stderr, like every other error.
fn parse_args() -> cli::Cli {
    use clap::error::ErrorKind;
    match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // --help, --version, and the help shown for a missing subcommand, as clap prints them.
        Err(e) if !e.use_stderr() || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) => {
            let text = e.render().to_string();
            // The first paragraph, e.g. "the following required arguments were not provided: <NAME>".
            let message = text.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
            // `Usage: openti tenant create [OPTIONS] <NAME>` names the command to ask for help on.
            let command = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("Usage: "))
                .map(|usage| usage.split_whitespace().take_while(|w| !w.starts_with(['[', '<', '-'])).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| "openti".into());
            eprintln!("openti: {} (see '{command} --help')", message.trim_start_matches("error: "));
            std::process::exit(2);
        }
    }
}

fn main() {
    let cli = parse_args();
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
