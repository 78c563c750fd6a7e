//! The leader row, which says which replica owns the state: [`PgStore::claim`] and
//! [`PgStore::resign`] (one statement each, judged by the database clock) and their SQL, the row
//! as a claim left it ([`Leadership`]), and the proof of ownership a fenced handle's commits carry
//! ([`Fence`], with its local deadline [`ValidUntil`]; the writer checks it, `writer.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::PgStore;
use crate::store::StoreError;

/// The proof of ownership a fenced handle's commits carry.
#[derive(Clone, Debug)]
pub struct Fence {
    /// The epoch of the leader row when this replica claimed it.
    pub epoch: i64,
    /// This process's owner id (the one given to [`PgStore::claim`]).
    pub owner_id: String,
    /// The local deadline past which commits are refused without asking the database.
    pub valid_until: Arc<ValidUntil>,
}

/// A monotonic deadline that the ownership loop moves forward on each successful renewal.
///
/// Starts invalid. [`ValidUntil::extend_to`] never moves it back; [`ValidUntil::revoke`] ends it
/// for good (make a new one for a new epoch).
#[derive(Debug)]
pub struct ValidUntil {
    base: Instant,
    /// Nanoseconds after `base` at which validity ends, plus one; 0 = not valid.
    until: AtomicU64,
    revoked: AtomicBool,
}

impl ValidUntil {
    /// Not valid until extended.
    pub fn new() -> Self {
        ValidUntil {
            base: Instant::now(),
            until: AtomicU64::new(0),
            revoked: AtomicBool::new(false),
        }
    }

    /// Valid until `deadline`.
    pub fn until(deadline: Instant) -> Self {
        let v = ValidUntil::new();
        v.extend_to(deadline);
        v
    }

    /// Moves the deadline to `deadline` if that is later than the current one.
    pub fn extend_to(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.base).as_nanos();
        let nanos = u64::try_from(nanos)
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1);
        self.until.fetch_max(nanos, Ordering::SeqCst);
    }

    /// Ends validity now and for good.
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::SeqCst);
    }

    /// Whether the deadline is still ahead (by the monotonic clock) and it was not revoked.
    pub fn is_valid(&self) -> bool {
        if self.revoked.load(Ordering::SeqCst) {
            return false;
        }
        let until = self.until.load(Ordering::SeqCst);
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        until > 0 && now < until - 1
    }

    /// The deadline, if one was ever set.
    pub fn deadline(&self) -> Option<Instant> {
        match self.until.load(Ordering::SeqCst) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n - 1)),
        }
    }
}

impl Default for ValidUntil {
    fn default() -> Self {
        ValidUntil::new()
    }
}

/// The leader row as a claim left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leadership {
    pub epoch: i64,
    pub owner_id: String,
    pub owner_url: String,
    /// The claim took or renewed the row: the caller owns the state until the row expires.
    /// A renewal that comes back with a different epoch than the caller had means its row had
    /// expired in between: it is a NEW ownership (reload the state, fence with the new epoch).
    pub mine: bool,
}

impl PgStore {
    /// Takes or renews the leader row for `lease` (by the database clock), in one statement:
    /// - no row yet: inserted with epoch 1;
    /// - the row is `owner_id`'s and not expired: renewed, same epoch;
    /// - the row expired or was resigned (whoever had it, `owner_id` included): taken with epoch + 1;
    /// - otherwise: left alone, and the current row is returned with `mine == false`.
    pub async fn claim(
        &self,
        owner_id: &str,
        owner_url: &str,
        lease: Duration,
    ) -> Result<Leadership, StoreError> {
        let owner_id = owner_id.to_owned();
        let owner_url = owner_url.to_owned();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        self.run(|shared| async move {
            shared
                .control("claiming the leader row", |client| async move {
                    claim(&client, &owner_id, &owner_url, lease_ms).await
                })
                .await?
                .ok_or_else(|| StoreError::Postgres("the leader row is missing".into()))
        })
        .await
    }

    /// Gives up the leader row if it is still `owner_id`'s at `epoch` (sets `expires_at = now()`),
    /// so another replica can claim it at once. Not being the owner any more is not an error.
    pub async fn resign(&self, owner_id: &str, epoch: i64) -> Result<(), StoreError> {
        let owner_id = owner_id.to_owned();
        self.run(|shared| async move {
            shared
                .control("resigning the leader row", |client| async move {
                    client
                        .execute(
                            "UPDATE mq_lease_leader SET expires_at = now() \
                             WHERE id = 1 AND epoch = $1 AND owner_id = $2 AND expires_at > now()",
                            &[&epoch, &owner_id],
                        )
                        .await
                        .map(|_| ())
                })
                .await
        })
        .await
    }
}

const CLAIM_SQL: &str =
    "INSERT INTO mq_lease_leader AS l (id, epoch, owner_id, owner_url, expires_at) \
     VALUES (1, 1, $1, $2, now() + $3::bigint * interval '1 millisecond') \
     ON CONFLICT (id) DO UPDATE SET \
       epoch = CASE WHEN l.owner_id = EXCLUDED.owner_id AND l.expires_at > now() \
                    THEN l.epoch ELSE l.epoch + 1 END, \
       owner_id = EXCLUDED.owner_id, \
       owner_url = EXCLUDED.owner_url, \
       expires_at = EXCLUDED.expires_at \
     WHERE l.owner_id = EXCLUDED.owner_id OR l.expires_at <= now() \
     RETURNING epoch, owner_id, owner_url";

/// Takes or renews the leader row; see [`super::PgStore::claim`]. `None`: no row at all (only if
/// someone deleted it between the two statements).
async fn claim(
    client: &Client,
    owner_id: &str,
    owner_url: &str,
    lease_ms: i64,
) -> Result<Option<Leadership>, tokio_postgres::Error> {
    let row =
        |row: &tokio_postgres::Row, mine: bool| -> Result<Leadership, tokio_postgres::Error> {
            Ok(Leadership {
                epoch: row.try_get(0)?,
                owner_id: row.try_get(1)?,
                owner_url: row.try_get(2)?,
                mine,
            })
        };
    if let Some(taken) = client
        .query_opt(CLAIM_SQL, &[&owner_id, &owner_url, &lease_ms])
        .await?
    {
        return row(&taken, true).map(Some);
    }
    match client
        .query_opt(
            "SELECT epoch, owner_id, owner_url FROM mq_lease_leader WHERE id = 1",
            &[],
        )
        .await?
    {
        Some(current) => row(&current, false).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_valid_until_is_not_valid_and_a_future_deadline_is() {
        let never = ValidUntil::new();
        let soon = ValidUntil::until(Instant::now() + Duration::from_secs(60));
        let past = ValidUntil::until(Instant::now() - Duration::from_millis(1));

        assert!(!never.is_valid());
        assert_eq!(never.deadline(), None);
        assert!(soon.is_valid());
        assert!(!past.is_valid());
    }

    #[test]
    fn extend_to_never_moves_the_deadline_back_and_revoke_is_for_good() {
        let far = Instant::now() + Duration::from_secs(60);
        let v = ValidUntil::until(far);

        v.extend_to(Instant::now() - Duration::from_secs(1));
        let kept = v.is_valid();
        v.revoke();
        v.extend_to(far + Duration::from_secs(60));

        assert!(kept, "an earlier deadline does not shorten validity");
        assert!(!v.is_valid(), "a revoked deadline stays revoked");
    }
}
