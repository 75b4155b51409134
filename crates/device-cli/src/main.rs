//! `fieldsync`: the device command line. Records a day's work offline in a local store, one JSON record at a time.

/// `println!` that ends the program quietly when standard output is closed (`fieldsync list | head`) instead of
/// panicking as `println!` does: the reader has had what it wanted. Any other failure to write is an error.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::stdout_failed(e);
        }
    }};
}

mod commands;
mod output;
mod read_input;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "fieldsync", version, about = "Offline field records for humanitarian demining", long_about = None)]
pub struct Cli {
    /// The device's store file.
    #[arg(long, global = true, env = "FIELDSYNC_STORE", default_value = "fieldsync.db")]
    store: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Take this instant (RFC 3339, e.g. 2026-11-20T15:00:00Z) as now instead of the device's clock: for entering
    /// a paper form's records as of the day they were written, and for tests that must not age.
    #[arg(long, global = true, env = "FIELDSYNC_CLOCK", value_parser = parse_instant)]
    clock: Option<chrono::DateTime<chrono::Utc>>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new store for this device.
    Init {
        /// A name people recognise, e.g. "Team 3 tablet".
        #[arg(long)]
        device_name: String,
        /// Who uses the device; recorded as the author of every change.
        #[arg(long)]
        user: String,
    },
    /// Add records from JSON: one object, or an array of objects (stored all or none). FILE or - for stdin.
    Add { file: Option<PathBuf> },
    /// Change a record: JSON of the fields to change (null clears one). FILE or - for stdin.
    Edit { record: String, file: Option<PathBuf> },
    /// List records, oldest date of information first.
    List {
        #[arg(long = "type")]
        record_type: Option<String>,
        /// Task id or label.
        #[arg(long)]
        task: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        review: Option<String>,
        /// First date of information (YYYY-MM-DD).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last date of information (YYYY-MM-DD).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Include voided records.
        #[arg(long)]
        all: bool,
    },
    /// Show one record (id or label) with its conflicts and issues.
    Show { record: String },
    /// Show who changed a record, when, and what.
    History { record: String },
    /// List fields edited concurrently on two devices, with every value and its author.
    Conflicts,
    /// Decide conflicts: set each FIELD (or collection/key) of RECORD to its VALUE (JSON, e.g. '"cleared"' or 3), in
    /// one change. Give fields that depend on each other together: resolve F-0001 category '"uxo"' model '"VOG-17"'.
    Resolve {
        record: String,
        /// FIELD VALUE pairs.
        #[arg(required = true, num_args = 2.., value_names = ["FIELD", "VALUE"])]
        decisions: Vec<String>,
    },
    /// Check records against the rules: a stored record, a JSON file (--file), or every stored record.
    Validate {
        record: Option<String>,
        #[arg(long, conflicts_with = "record")]
        file: Option<PathBuf>,
    },
    /// Void a record entered by mistake. It stays in history and exports.
    Void {
        record: String,
        #[arg(long)]
        reason: String,
    },
    /// Submit drafts (or returned records) for a supervisor's review.
    Submit {
        #[arg(required = true)]
        records: Vec<String>,
    },
    /// Return a submitted record to its team, saying why (supervisor or HQ).
    Return {
        record: String,
        #[arg(long)]
        reason: String,
    },
    /// Approve records one step: submitted → supervisor_approved (supervisor), → hq_approved (HQ).
    Approve {
        #[arg(required = true)]
        records: Vec<String>,
        /// Accept a warning first: a rule code (every warning of that rule) or RULE:FIELD; repeat for several.
        #[arg(long = "accept-warning", value_name = "RULE")]
        accept: Vec<String>,
        /// Why the accepted warnings are acceptable; required with --accept-warning.
        #[arg(long, requires = "accept")]
        comment: Option<String>,
    },
    /// The records waiting for this device's decision: submitted ones for a supervisor, supervisor-approved for HQ.
    Review,
    /// Write this device's changes the server lacks to a bundle file (for a USB stick): by default those no
    /// earlier bundle held. The file is checksummed; a damaged copy is refused when imported.
    #[command(alias = "export-changes")]
    ExportBundle {
        file: PathBuf,
        /// Every change the server has not acknowledged, those of earlier bundles too (a bundle was lost).
        #[arg(long)]
        again: bool,
        /// Every change of every record in this store, whoever made it (for a device that has nothing).
        #[arg(long, conflicts_with = "again")]
        all: bool,
    },
    /// Merge the changes in a bundle file (from a device or a server) into this store; a damaged or cut-short
    /// file is refused whole and nothing is stored.
    #[command(alias = "import-changes")]
    ImportBundle { file: PathBuf },
    /// Replace change rows with snapshots; keeps every change not yet acknowledged by a server.
    Compact,
    /// Connect this device to a server with what `fieldsync-server device add` printed: the enrollment code,
    /// exchanged once for this install's own credential, then sync. If the exchange fails, the store stays
    /// enrolled as it was.
    Enroll {
        /// The whole enrollment code (`fieldsync:enroll?…`, the text of the QR code), or the bare code (`fse1_…`)
        /// with --server and --ca.
        #[arg(long, required_unless_present = "token")]
        code: Option<String>,
        /// The server's address, e.g. https://192.168.1.10:7878 (in the whole enrollment code already).
        #[arg(long)]
        server: Option<String>,
        /// A credential given directly instead of a code (a device enrolled before enrollment codes).
        #[arg(
            long,
            env = "FIELDSYNC_TOKEN",
            hide_env_values = true,
            conflicts_with = "code",
            requires = "server"
        )]
        token: Option<String>,
        /// The fingerprint of the camp's certificate authority (sha256:…), pinned: the device then trusts no other.
        #[arg(long)]
        ca: Option<String>,
        /// Allow plain http to a server beyond this machine: the credential and records cross the network in clear.
        #[arg(long)]
        insecure_http: bool,
    },
    /// Send this device's changes to the server and receive what is new.
    Sync,
    /// Show what the server has not acknowledged yet, and what it refused and why.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(&cli) {
        Ok(code) => code,
        Err(error) => {
            if cli.json {
                outln!("{}", serde_json::json!({ "error": format!("{error:#}") }));
            } else {
                eprintln!("error: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{text:?} is not an RFC 3339 instant such as 2026-11-20T15:00:00Z: {e}"))
}

/// Where [`outln`] goes when standard output cannot be written.
fn stdout_failed(error: std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {error}");
    std::process::exit(1)
}
