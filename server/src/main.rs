//! `fieldsync-server`: the sync server. A placeholder until the sync issue builds it: it says so and exits.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "fieldsync-server is not built yet: the sync server arrives with the sync issue. Use `fieldsync` on a device meanwhile."
    );
    ExitCode::from(2)
}
