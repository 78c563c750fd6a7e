//! The answer's bytes, for every shape it takes: exactly what the service has always sent.

use super::*;
use crate::domain::{HeadSha, HolderInfo, Priority, Request, Time, Waiting};
use crate::routes::dto::parts::WAITING_REASONS;

fn answer(status: Status, head_ref: Option<&str>) -> Answer {
    let request = Request {
        head_sha: HeadSha::parse(&"a".repeat(40)).unwrap(),
        head_ref: head_ref.and_then(|r| HeadRef::parse(r).unwrap()),
        priority: Priority::parse(4).unwrap(),
        status,
        registered_at: Time(1_700_000_000_000),
        last_seen: Time(1_700_000_090_000),
        last_seen_at: Time(1_700_000_060_000),
        times_found_winner: 0,
    };
    Answer::of(request, Some(7))
}

/// Every shape an acquire or release answer takes: held (with and without an expiry,
/// with stacked pull requests), pending for each reason, finished.
fn answers() -> Vec<Answer> {
    let held = Answer {
        stacked_pull_requests: Some(vec![3, 12]),
        acquired_at: Some(Time(1_700_000_030_000)),
        lease_expires_at: Some(Time(1_700_000_630_000)),
        ..answer(
            Status::Acquired,
            Some("gh-readonly-queue/main/pr-12-\"quoted\"\\x"),
        )
    };
    let held_forever = Answer {
        stacked_pull_requests: Some(vec![]),
        acquired_at: Some(Time(1_700_000_030_000)),
        lease_expires_at: None,
        ..answer(Status::Acquired, None)
    };
    let holder = HolderInfo {
        head_sha: HeadSha::parse("b1").unwrap(),
        priority: Priority::parse(9).unwrap(),
        status: Status::Acquired,
        since: Time(1_700_000_010_000),
        silent_since_grant: true,
    };
    let waiting = [
        Waiting::Paused,
        Waiting::LeaseHeld { holder },
        Waiting::Stabilising {
            known: 2,
            expected: 4,
            window_ends_at: Time(1_700_000_100_000),
        },
        Waiting::HigherPriority {
            highest_priority: Priority::parse(5).unwrap(),
        },
        Waiting::Confirming {
            confirmations_left: 1,
        },
    ];
    let pending = waiting.into_iter().map(|w| Answer {
        waiting: Some(w),
        // Not a holder: neither the token nor the lease's times are shown.
        acquired_at: Some(Time(1_700_000_030_000)),
        stacked_pull_requests: Some(vec![1]),
        ..answer(Status::Pending, Some("refs/heads/main"))
    });
    let finished = [Status::Success, Status::Failure, Status::Completed].map(|s| Answer {
        // Only a pending answer says why it waits.
        waiting: Some(Waiting::Paused),
        ..answer(s, None)
    });
    let mut all = vec![held, held_forever];
    all.extend(pending);
    all.extend(finished);
    all
}

/// The bodies of [`answers`], in order, as the service wrote them before the request
/// context was serialised by serde (by a hand-written writer checked against an owned
/// `RequestContext`): clients may compare them, so they stay byte for byte.
const EXPECTED: [&str; 10] = [
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","head_ref":"gh-readonly-queue/main/pr-12-\"quoted\"\\x","priority":4,"status":"acquired","fencing_token":7,"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z","acquired_at":"2023-11-14T22:13:50Z","lease_expires_at":"2023-11-14T22:23:50Z"},"stacked_pull_requests":[{"number":3},{"number":12}],"fencing_token":7,"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z","acquired_at":"2023-11-14T22:13:50Z","lease_expires_at":"2023-11-14T22:23:50Z"}"##,
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","priority":4,"status":"acquired","fencing_token":7,"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z","acquired_at":"2023-11-14T22:13:50Z","lease_expires_at":null},"stacked_pull_requests":[],"fencing_token":7,"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z","acquired_at":"2023-11-14T22:13:50Z","lease_expires_at":null}"##,
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","head_ref":"refs/heads/main","priority":4,"status":"pending","first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"},"waiting":{"reason":"paused"},"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"}"##,
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","head_ref":"refs/heads/main","priority":4,"status":"pending","first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"},"waiting":{"holder":{"head_sha":"b1","priority":9,"silent_since_grant":true,"since":"2023-11-14T22:13:30Z","status":"acquired"},"reason":"lease_held"},"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"}"##,
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","head_ref":"refs/heads/main","priority":4,"status":"pending","first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"},"waiting":{"expected":4,"known":2,"reason":"stabilising","window_ends_at":"2023-11-14T22:15:00Z"},"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"}"##,
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","head_ref":"refs/heads/main","priority":4,"status":"pending","first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"},"waiting":{"highest_priority":5,"reason":"higher_priority"},"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"}"##,
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","head_ref":"refs/heads/main","priority":4,"status":"pending","first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"},"waiting":{"confirmations_left":1,"reason":"confirming"},"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"}"##,
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","priority":4,"status":"success","first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"},"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"}"##,
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","priority":4,"status":"failure","first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"},"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"}"##,
    r##"{"request":{"head_sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","priority":4,"status":"completed","first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"},"first_seen_at":"2023-11-14T22:13:20Z","last_seen_at":"2023-11-14T22:14:20Z"}"##,
];

#[test]
fn the_answer_body_is_the_request_context_byte_for_byte() {
    let answers = answers();
    assert_eq!(answers.len(), EXPECTED.len());
    for (a, expected) in answers.iter().zip(EXPECTED) {
        let written = String::from_utf8(answer_body(a).unwrap()).unwrap();
        assert_eq!(written, expected, "for {a:?}");
    }
}

#[test]
fn the_document_lists_every_waiting_reason() {
    // `answers` has a pending answer for every reason there is.
    let mut given: Vec<&str> = answers()
        .iter()
        .filter_map(|a| a.waiting.as_ref().map(Waiting::reason))
        .collect();
    given.sort_unstable();
    given.dedup();
    let mut listed = WAITING_REASONS.to_vec();
    listed.sort_unstable();
    assert_eq!(given, listed);
}

/// A time in an answer reads exactly as `Time::rfc3339` (humantime) writes it, from 1970
/// to the last second of 9999: every day's start and a second before it, every leap day,
/// and times in between; past 9999 it is empty rather than a panic.
#[test]
fn a_stamp_is_the_time_as_rfc3339_writes_it() {
    let last = 253_402_300_799_999u64; // 9999-12-31T23:59:59.999Z
    let mut checked = 0;
    let mut check = |ms: u64| {
        assert_eq!(Stamp::of(Time(ms)).as_str(), Time(ms).rfc3339(), "{ms} ms");
        checked += 1;
    };
    for day in (0..=last / 86_400_000).step_by(7) {
        let start = day * 86_400_000;
        check(start);
        check(start.saturating_sub(1));
        check(start + 45_296_789); // 12:34:56.789
    }
    for year in [1972u64, 2000, 2024, 2400, 9996] {
        // 29 February and 1 March of a leap year.
        let days =
            (year - 1970) * 365 + (year - 1969) / 4 - (year - 1901) / 100 + (year - 1601) / 400;
        check((days + 59) * 86_400_000);
        check((days + 60) * 86_400_000 - 1);
    }
    check(last);
    assert!(checked > 1_000_000, "{checked}");
    assert_eq!(Stamp::of(Time(last + 1)).as_str(), "");
}
