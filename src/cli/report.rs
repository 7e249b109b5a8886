//! What a checking subcommand prints, and whether everything was fine (its exit status).

/// The report and whether everything was fine.
pub struct Report {
    pub text: String,
    pub ok: bool,
}
