//! Tests of the status page model (kept apart so model.rs stays readable).

use super::*;

fn snapshot_with_a_holder_and_a_waiting_run(now: Time) -> ProviderSnapshot {
    use crate::domain::{AcquireRequest, HeadRef, HeadSha, LeaseSettings, Priority};
    let settings = LeaseSettings {
        expected_build_count: 2,
        ..LeaseSettings::default()
    };
    let mut state = crate::domain::ProviderState::new(now);
    let mut events = Vec::new();
    for (sha, priority) in [("low", 1), ("high", 2), ("high", 2)] {
        let call = AcquireRequest {
            head_sha: HeadSha::parse(sha).unwrap(),
            head_ref: HeadRef::parse(&format!("gh-readonly-queue/main/pr-{priority}-ab")).unwrap(),
            priority: Priority::parse(priority).unwrap(),
        };
        state.acquire(&settings, &call, now, &mut events).unwrap();
    }
    ProviderSnapshot {
        key: ProviderKey::new("acme", "shop", "main").unwrap(),
        settings,
        state,
        waiting: 0,
    }
}

#[test]
fn the_queue_shows_its_holder_waiting_runs_and_the_fields_the_view_adds() {
    let now = Time(1_767_261_600_000);
    let snap = snapshot_with_a_holder_and_a_waiting_run(now);
    let mut view = crate::routes::dto::provider_view(&snap);
    let later = now.plus(Duration::from_secs(75));

    let plain = queue_detail(&snap, &view, later);
    assert_eq!(plain.state, "held");
    assert_eq!(plain.paused, Some(false), "the view says it is not paused");
    let holder = plain.holder.expect("a holder");
    assert_eq!(holder.run.head_sha, "high");
    assert_eq!(holder.since.ago, "1m 15s");
    assert_eq!(holder.expires_in.as_deref(), Some("8m 45s"));
    assert_eq!(
        holder.run.pr,
        Some((2, "https://github.com/acme/shop/pull/2".to_owned()))
    );
    assert_eq!(plain.others.len(), 1);
    assert_eq!(
        plain.others[0].waiting_reason.as_deref(),
        Some("lease_held"),
        "the view says why it waits"
    );

    view["paused"] = serde_json::json!(true);
    view["known"][0]["waiting"] = serde_json::json!({ "reason": "paused" });
    let extended = queue_detail(&snap, &view, later);
    assert_eq!(extended.paused, Some(true));
    assert_eq!(extended.others[0].waiting_reason.as_deref(), Some("paused"));
    let row = queue_row(&snap, &view, later);
    assert_eq!(
        (row.state, row.waiting, row.paused),
        ("held", 1, Some(true))
    );
}

#[test]
fn a_round_without_holder_counts_down_its_window() {
    use crate::domain::{AcquireRequest, HeadSha, Priority};
    let now = Time(1_767_261_600_000);
    let mut snap = snapshot_with_a_holder_and_a_waiting_run(now);
    snap.state = crate::domain::ProviderState::new(now);
    let call = AcquireRequest {
        head_sha: HeadSha::parse("solo").unwrap(),
        head_ref: None,
        priority: Priority::parse(1).unwrap(),
    };
    snap.state
        .acquire(&snap.settings, &call, now, &mut Vec::new())
        .unwrap();
    let view = crate::routes::dto::provider_view(&snap);
    let q = queue_detail(&snap, &view, now.plus(Duration::from_secs(60)));
    assert_eq!(q.state, "stabilising");
    assert_eq!(
        q.window,
        Some(Window::Open {
            left: "4m 00s".into(),
            ends_at: "2026-01-01T10:05:00Z".into()
        })
    );
    let q = queue_detail(&snap, &view, now.plus(Duration::from_secs(301)));
    assert_eq!(q.window, Some(Window::Over));
}

#[test]
fn durations_read_as_the_two_largest_units() {
    assert_eq!(human(Duration::from_secs(45)), "45s");
    assert_eq!(human(Duration::from_secs(185)), "3m 05s");
    assert_eq!(human(Duration::from_secs(2 * 3600 + 4 * 60 + 9)), "2h 04m");
    assert_eq!(human(Duration::from_secs(3 * 86_400 + 7300)), "3d 02h");
}

#[test]
fn links_keep_the_slashes_of_base_ref_and_encode_everything_else() {
    let key = ProviderKey::new("acme", "shop", "release/1.x").unwrap();
    assert_eq!(api_path(&key), "/acme/shop/release/1.x");
    let odd = ProviderKey::new("a c", "s#p", "x?y/<z>").unwrap();
    assert_eq!(api_path(&odd), "/a%20c/s%23p/x%3Fy/%3Cz%3E");
    assert_eq!(
        pull_request_url(&key, 42),
        "https://github.com/acme/shop/pull/42"
    );
}

#[test]
fn event_rows_show_every_field_but_kind_and_time_as_details() {
    let rows = event_rows(&[serde_json::json!({
        "at": "2026-01-01T10:00:00Z", "kind": "revoked", "head_sha": "abc",
        "reason": "stuck", "fencing_token": 4,
    })]);
    assert_eq!(rows[0].kind, "revoked");
    assert_eq!(rows[0].at, "2026-01-01T10:00:00Z");
    assert_eq!(
        rows[0].details,
        [
            ("fencing_token".to_owned(), "4".to_owned()),
            ("head_sha".to_owned(), "abc".to_owned()),
            ("reason".to_owned(), "stuck".to_owned()),
        ]
    );
}
