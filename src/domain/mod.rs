//! The lease rules: pure data and transitions, no actix, no I/O, time passed in.

mod error;
mod event;
mod key;
mod settings;
mod state;
mod text;
mod types;
mod waiting;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod waiting_tests;

pub use error::{Busy, LeaseError};
pub use event::{Event, EventKind};
pub use key::{InvalidKey, ProviderKey};
pub use settings::LeaseSettings;
pub use state::{
    AcquireRequest, Answer, Finished, Holder, ProviderState, Request, RECENT_CAPACITY,
};
pub use types::{HeadRef, HeadSha, InvalidValue, Outcome, Priority, Status, Time};
pub use waiting::{HolderInfo, Waiting};
