//! Why a `pending` run waits (docs/rules.md §8), and who holds the lease (for answers and 409s).

use super::{HeadSha, Priority, Status, Time};

/// The run at the centre of a round: the holder, in whatever status it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderInfo {
    pub head_sha: HeadSha,
    pub priority: Priority,
    pub status: Status,
    /// When it was granted the lease.
    pub since: Time,
    /// It has not called acquire since its grant (docs/rules.md §13): it may be a client that
    /// cannot learn that its lease ran out, so it keeps the lease unless the operator
    /// set `silent_holder_timeout`.
    pub silent_since_grant: bool,
}

/// The one reason a `pending` run is not granted the lease now. When several apply, the
/// first in this order is given (the order of the variants): the one that must go away
/// first before the run can win.
///
/// * `Paused` — an admin paused the provider: nothing else matters until it is resumed.
/// * `LeaseHeld` — another run holds a live lease: no election runs until it ends.
/// * `Stabilising` — the picture is not stable yet: no winner is picked.
/// * `HigherPriority` — a winner would be picked, and it is another run.
/// * `Confirming` — this run is the winner, but `delay_assignment_count` holds it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    Paused,
    LeaseHeld {
        holder: HolderInfo,
    },
    Stabilising {
        known: usize,
        expected: u32,
        window_ends_at: Time,
    },
    HigherPriority {
        highest_priority: Priority,
    },
    Confirming {
        /// Further acquire calls this run must make before it is granted (≥ 1).
        confirmations_left: u32,
    },
}

impl Waiting {
    pub fn reason(&self) -> &'static str {
        match self {
            Waiting::Paused => "paused",
            Waiting::LeaseHeld { .. } => "lease_held",
            Waiting::Stabilising { .. } => "stabilising",
            Waiting::HigherPriority { .. } => "higher_priority",
            Waiting::Confirming { .. } => "confirming",
        }
    }
}
