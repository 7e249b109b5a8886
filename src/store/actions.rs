//! Everything about an action after its creation, as the executor and the CLI
//! see it: one module of action SQL over the files that own each part — rows and
//! reads in [`super::action_rows`], creation in [`super::outbox`], attempts in
//! [`super::attempts`], paused accounts in [`super::accounts`], and which status
//! follows which, with every statement that changes one, in [`super::lifecycle`].
//! Every transition is one transaction, and a transition that needs a worker
//! pushes its apalis job in that same transaction. No store module imports this
//! one; they import the owners.

pub use super::accounts::{is_paused, paused_accounts, resume_account};
pub use super::action_rows::*;
pub use super::attempts::{
    Finish, Finished, NotStarted, OpenAttempt, RecordedRequest, close_stale_attempt, finish,
    last_attempt, start_attempt, start_call,
};
pub use super::lifecycle::{Claim, GiveBack, claim, give_back, renew};
pub use super::outbox::{FastClaim, NewAction, OutboxMode, Pause};
