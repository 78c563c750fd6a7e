//! Per-provider lease settings (docs/rules.md §3, §6). Plain data: the config layer fills it in.

use std::time::Duration;

/// The knobs of one provider's state machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseSettings {
    /// How long the set of known requests must stay unchanged before the highest
    /// priority may win without `expected_build_count` being reached.
    pub stabilisation_window: Duration,
    /// A `pending` request not seen for this long is evicted.
    pub ttl: Duration,
    /// Once this many requests are known, the election need not wait for stability.
    pub expected_build_count: u32,
    /// The winner must be found the winner this many extra times before it is granted.
    pub delay_assignment_count: u32,
    /// A holder that has shown a sign of life since its grant (an acquire call after it)
    /// and is then silent this long loses the lease as if it released `failure`.
    /// `Duration::ZERO` turns the timeout off.
    pub lease_timeout: Duration,
    /// A holder silent *since its grant* loses the lease after this long (docs/rules.md §13): it
    /// may be a client that cannot learn its lease ran out, so this is an operator's
    /// explicit opt-in. `Duration::ZERO` (the default): such a holder keeps the lease
    /// until it releases or an admin revokes it.
    pub silent_holder_timeout: Duration,
}

impl LeaseSettings {
    /// How long a holder may stay silent before it loses the lease: `lease_timeout` once
    /// it has shown a sign of life since its grant, `silent_holder_timeout` until then.
    /// `None`: it never loses the lease for being silent.
    pub fn holder_timeout(&self, heard_since_grant: bool) -> Option<Duration> {
        let timeout = if heard_since_grant {
            self.lease_timeout
        } else {
            self.silent_holder_timeout
        };
        (!timeout.is_zero()).then_some(timeout)
    }
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            stabilisation_window: Duration::from_secs(300),
            ttl: Duration::from_secs(30),
            expected_build_count: 4,
            delay_assignment_count: 0,
            lease_timeout: Duration::from_secs(600),
            silent_holder_timeout: Duration::ZERO,
        }
    }
}
