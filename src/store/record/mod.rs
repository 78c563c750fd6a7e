//! The versioned on-disk record of a provider, as its own DTO.
//!
//! The shapes here are what is on disk (JSON); the domain types carry no serde for storage.
//! Mapping is explicit: `From<&domain>` to write, `TryFrom<dto>` to read (a stored value the
//! domain no longer accepts is an error that names the provider, not a panic). Renaming a domain
//! field changes nothing here; changing a shape here needs a new [`SCHEMA_VERSION`] and a fixture
//! of the old one in `tests/fixtures/` that must keep loading.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Loaded;
#[cfg(test)]
use super::Op;
use crate::domain::{
    Event, EventKind, Finished, HeadRef, HeadSha, Holder, LeaseSettings, Outcome, Priority,
    ProviderKey, ProviderState, Request, Status, Time,
};

/// Bumped when the record's shape changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

/// History events kept per provider.
pub const HISTORY_CAPACITY: u64 = 500;

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record of provider {key} cannot be decoded: {reason}")]
    Undecodable { key: String, reason: String },
    #[error("record of provider {key} has schema version {found}, this build reads version {SCHEMA_VERSION}")]
    UnknownVersion { key: String, found: u32 },
    #[error("history event {seq} of provider {key} cannot be decoded: {reason}")]
    BadEvent {
        key: String,
        seq: u64,
        reason: String,
    },
    #[error("stored provider key {key:?} is not of the form owner:repo:base_ref")]
    BadKey { key: String },
}

#[cfg(test)]
mod fixture_v1;
#[cfg(test)]
mod tests;
mod v1;

use v1::{EventV1, RecordV1};

// ---- bytes ---------------------------------------------------------------------------------

/// A record as read, in domain terms.
#[derive(Debug)]
pub struct StoredProvider {
    pub version: u32,
    pub key: String,
    /// The settings the state was built under (informative: the configuration wins).
    pub settings: LeaseSettings,
    /// Sequence number the next history event gets.
    pub next_event_seq: u64,
    /// Runtime-only times are not restored: call [`ProviderState::resume`].
    pub state: ProviderState,
}

pub fn encode(
    key: &ProviderKey,
    settings: &LeaseSettings,
    next_event_seq: u64,
    state: &ProviderState,
) -> Vec<u8> {
    let record = RecordV1 {
        version: SCHEMA_VERSION,
        key: key.to_string(),
        settings: settings.into(),
        next_event_seq,
        state: state.into(),
    };
    // Serializing plain data structs to a Vec cannot fail.
    serde_json::to_vec(&record).unwrap_or_default()
}

pub fn encode_event(event: &Event) -> Vec<u8> {
    serde_json::to_vec(&EventV1::from(event)).unwrap_or_default()
}

pub fn decode(key: &str, bytes: &[u8]) -> Result<(ProviderKey, StoredProvider), RecordError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u32,
    }
    let undecodable = |reason: String| RecordError::Undecodable {
        key: key.to_owned(),
        reason,
    };
    let version: VersionOnly =
        serde_json::from_slice(bytes).map_err(|e| undecodable(e.to_string()))?;
    if version.version != SCHEMA_VERSION {
        return Err(RecordError::UnknownVersion {
            key: key.to_owned(),
            found: version.version,
        });
    }
    let record: RecordV1 = serde_json::from_slice(bytes).map_err(|e| undecodable(e.to_string()))?;
    let parsed = ProviderKey::parse(key).map_err(|_| RecordError::BadKey {
        key: key.to_owned(),
    })?;
    let stored = StoredProvider {
        version: record.version,
        key: record.key,
        settings: record.settings.into(),
        next_event_seq: record.next_event_seq,
        state: ProviderState::try_from(record.state).map_err(undecodable)?,
    };
    Ok((parsed, stored))
}

pub fn decode_event(key: &str, seq: u64, bytes: &[u8]) -> Result<Event, RecordError> {
    let bad = |reason: String| RecordError::BadEvent {
        key: key.to_owned(),
        seq,
        reason,
    };
    let event: EventV1 = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    Event::try_from(event).map_err(bad)
}

/// One provider as a backend returned it, decoded, its runtime times resumed at `now`:
/// its key, settings, state and the sequence number of its next event.
pub(super) fn load(
    l: &Loaded,
    now: Time,
) -> Result<(ProviderKey, LeaseSettings, ProviderState, u64), RecordError> {
    let (key, stored) = decode(&l.key, &l.record)?;
    let mut state = stored.state;
    state.resume(now);
    share_shas(&mut state);
    Ok((key, stored.settings, state, stored.next_event_seq))
}

/// The waiting runs, the holder and the remembered runs name the same runs: decoded, each
/// mention is its own string. Make them share one, as a running provider's do.
fn share_shas(state: &mut ProviderState) {
    let mut pool: HashSet<HeadSha> = HashSet::new();
    let mut share = |sha: &mut HeadSha| match pool.get(sha) {
        Some(same) => *sha = same.clone(),
        None => {
            pool.insert(sha.clone());
        }
    };
    for r in &mut state.requests {
        share(&mut r.head_sha);
    }
    if let Some(h) = &mut state.holder {
        share(&mut h.head_sha);
    }
    // Just decoded: the only owner, so this copies nothing.
    for f in std::sync::Arc::make_mut(&mut state.recent).iter_mut() {
        share(&mut f.request.head_sha);
    }
}

/// Whether two states have the same record: compares, without encoding, exactly the fields
/// [`StateV1`] stores (runtime-only times are ignored). Exhaustive destructuring makes a new
/// domain field a compile error here until it is decided whether it is saved.
pub fn same_record(a: &ProviderState, b: &ProviderState) -> bool {
    let ProviderState {
        requests,
        holder,
        last_updated_at,
        round_started_at,
        last_fencing_token,
        recent,
        holder_seen: _,
        holder_seen_at,
        paused,
        resumed_at: _,
    } = a;
    requests.len() == b.requests.len()
        && requests
            .iter()
            .zip(&b.requests)
            .all(|(x, y)| same_request(x, y))
        && *holder == b.holder
        && *last_updated_at == b.last_updated_at
        && *round_started_at == b.round_started_at
        && *last_fencing_token == b.last_fencing_token
        // Copies share their remembered runs until one remembers another.
        && (std::sync::Arc::ptr_eq(recent, &b.recent)
            || recent.len() == b.recent.len()
                && recent.iter().zip(b.recent.iter()).all(|(x, y)| {
                    same_request(&x.request, &y.request)
                        && x.released == y.released
                        && x.fencing_token == y.fencing_token
                }))
        && *holder_seen_at == b.holder_seen_at
        && *paused == b.paused
}

fn same_request(a: &Request, b: &Request) -> bool {
    let Request {
        head_sha,
        head_ref,
        priority,
        status,
        registered_at,
        last_seen: _,
        last_seen_at,
        times_found_winner: _,
    } = a;
    *head_sha == b.head_sha
        && *head_ref == b.head_ref
        && *priority == b.priority
        && *status == b.status
        && *registered_at == b.registered_at
        && *last_seen_at == b.last_seen_at
}

/// A state through its record and back (tests of the domain's restart behaviour).
#[cfg(test)]
pub(crate) fn round_trip(state: &ProviderState) -> ProviderState {
    let key = ProviderKey::parse("test:round:trip").unwrap();
    let bytes = encode(&key, &LeaseSettings::default(), 0, state);
    decode("test:round:trip", &bytes).unwrap().1.state
}
