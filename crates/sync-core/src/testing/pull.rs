//! Conformance checks of pulling: visibility, grants, cursors, a device's own changes, heads for recovery.

use super::fixtures::*;
use crate::store::{Grant, LogChange, NewDevice, OwnChanges, Page, SyncStore, Visibility};
use domain::RecordType;
use std::collections::BTreeSet;
use uuid::Uuid;

pub async fn pull_all_returns_everything_and_pages<S: SyncStore>(storage: &S) {
    let (t, r) = (id(1), id(2));
    storage
        .ingest(push(task(t, &["alpha"], &[]), &[b"c1", b"c2"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(record_in(r, RecordType::Find, Some(t)), &[b"c3"], vec![]))
        .await
        .unwrap();
    // A grant is no news to a device that sees everything: it must not bring the task's changes again.
    let regrant = push(
        task(t, &["alpha", "bravo"], &[]),
        &[b"c4"],
        vec![Grant::Task {
            task_id: t,
            team: "bravo".into(),
        }],
    );
    storage.ingest(regrant).await.unwrap();
    storage
        .ingest(push(record_in(r, RecordType::Find, Some(t)), &[b"c5"], vec![]))
        .await
        .unwrap();
    let last = storage.last_seq().await.unwrap();

    let full = crate::pull::pull(storage, &Visibility::All, None, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        bytes_of(&full.changes),
        [&b"c1"[..], b"c2", b"c3", b"c4", b"c5"].map(<[u8]>::to_vec)
    );
    assert_eq!(
        full.changes.iter().map(|c| c.record_id).collect::<Vec<_>>(),
        [t, t, r, t, r]
    );
    assert_log_order(&full.changes);
    assert_eq!((full.cursor, full.more), (last, false));

    let pages = pull_pages(storage, &Visibility::All, 0, 2).await;
    assert_eq!(pages.iter().map(|p| p.more).collect::<Vec<_>>(), [true, true, false]);
    assert_eq!(pages.iter().map(|p| p.changes.len()).collect::<Vec<_>>(), [2, 2, 1]);
    for pair in pages.windows(2) {
        assert!(pair[0].cursor < pair[1].cursor, "cursors must strictly increase");
    }
    for page in &pages {
        // A page's cursor covers exactly its changes: the last one, or the end of the log.
        let last_change = page.changes.last().unwrap().seq;
        if page.more {
            assert_eq!(page.cursor, last_change);
            assert!(page.cursor < last);
        } else {
            assert_eq!(page.cursor, last);
        }
    }
    let concatenated: Vec<LogChange> = pages.into_iter().flat_map(|p| p.changes).collect();
    assert_eq!(concatenated, full.changes);

    // Starting in the middle: exactly what follows the cursor.
    let middle = full.changes[2].seq;
    let rest = crate::pull::pull(storage, &Visibility::All, None, middle, 100)
        .await
        .unwrap();
    assert_eq!(rest.changes, full.changes[3..]);
}

pub async fn pull_teams_sees_its_tasks_and_taskless_records<S: SyncStore>(storage: &S) {
    let (ta, tb, ra, rb, hazard) = (id(1), id(2), id(3), id(4), id(5));
    storage
        .ingest(push(
            record_in(hazard, RecordType::HazardArea, None),
            &[b"hazard"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(task(ta, &["alpha"], &[hazard]), &[b"ta"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(task(tb, &["bravo"], &[hazard]), &[b"tb"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(ra, RecordType::DailyReport, Some(ta)),
            &[b"ra1"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(rb, RecordType::DailyReport, Some(tb)),
            &[b"rb1"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(ra, RecordType::DailyReport, Some(ta)),
            &[b"ra2"],
            vec![],
        ))
        .await
        .unwrap();

    let (alpha, cursor) = pull_to_end(storage, &sees(&["alpha"]), 0).await;
    assert_eq!(
        bytes_of(&alpha),
        [&b"hazard"[..], b"ta", b"ra1", b"ra2"].map(<[u8]>::to_vec)
    );
    assert_log_order(&alpha);
    assert_eq!(cursor, storage.last_seq().await.unwrap());

    let (supervisor, _) = pull_to_end(storage, &sees(&["alpha", "bravo"]), 0).await;
    assert_eq!(
        bytes_of(&supervisor),
        [&b"hazard"[..], b"ta", b"tb", b"ra1", b"rb1", b"ra2"].map(<[u8]>::to_vec)
    );

    let (nobody, _) = pull_to_end(storage, &sees(&[]), 0).await;
    assert_eq!(bytes_of(&nobody), [b"hazard".to_vec()]);
    let (charlie, _) = pull_to_end(storage, &sees(&["charlie"]), 0).await;
    assert_eq!(records_seen(&charlie), [hazard].into());

    // Paging a team's view: every page holds only visible changes, and the pages add up to the whole.
    let pages = pull_pages(storage, &sees(&["bravo"]), 0, 1).await;
    let paged: Vec<LogChange> = pages.into_iter().flat_map(|p| p.changes).collect();
    assert_eq!(bytes_of(&paged), [&b"hazard"[..], b"tb", b"rb1"].map(<[u8]>::to_vec));
}

pub async fn grant_task_delivers_the_task_history<S: SyncStore>(storage: &S) {
    let (ta, tb, rb, other) = (id(1), id(2), id(3), id(4));
    storage
        .ingest(push(task(ta, &["alpha"], &[]), &[b"ta"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(task(tb, &["bravo"], &[]), &[b"tb1"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(rb, RecordType::Find, Some(tb)),
            &[b"rb1", b"rb2"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(record_in(other, RecordType::Find, Some(ta)), &[b"other"], vec![]))
        .await
        .unwrap();

    let (before, alpha_cursor) = pull_to_end(storage, &sees(&["alpha"]), 0).await;
    assert!(!records_seen(&before).contains(&tb));
    let (_, charlie_cursor) = pull_to_end(storage, &sees(&["charlie"]), 0).await;

    // alpha joins task tb: one push changes the task and grants alpha its history.
    let joined = task(tb, &["alpha", "bravo"], &[]);
    let grant = Grant::Task {
        task_id: tb,
        team: "alpha".into(),
    };
    assert_eq!(storage.ingest(push(joined, &[b"tb2"], vec![grant])).await.unwrap(), 1);
    storage
        .ingest(push(record_in(rb, RecordType::Find, Some(tb)), &[b"rb3"], vec![]))
        .await
        .unwrap();

    let (granted, cursor) = pull_to_end(storage, &sees(&["alpha"]), alpha_cursor).await;
    // Everything of tb, including what was logged before alpha's cursor, in log order, each once.
    assert_eq!(
        bytes_of(&granted),
        [&b"tb1"[..], b"rb1", b"rb2", b"tb2", b"rb3"].map(<[u8]>::to_vec)
    );
    assert_log_order(&granted);
    assert!(granted[0].seq <= alpha_cursor, "older changes come with the grant");
    assert_eq!(cursor, storage.last_seq().await.unwrap());

    // The grant is alpha's: charlie sees nothing of tb, bravo sees only what is new to it.
    let (charlie, _) = pull_to_end(storage, &sees(&["charlie"]), charlie_cursor).await;
    assert!(charlie.is_empty());
    let (bravo, _) = pull_to_end(storage, &sees(&["bravo"]), alpha_cursor).await;
    assert_eq!(bytes_of(&bravo), [&b"tb2"[..], b"rb3"].map(<[u8]>::to_vec));

    // A grant counts as one entry towards the page limit but brings the whole history in its page. A change
    // paged before the grant may come again with it (changes are idempotent); together the pages hold the same.
    let pages = pull_pages(storage, &sees(&["alpha"]), alpha_cursor, 1).await;
    assert_eq!(pages.len(), 3, "tb2, the grant, rb3: one entry a page");
    let mut paged: Vec<LogChange> = pages.iter().flat_map(|p| p.changes.clone()).collect();
    for page in &pages {
        assert_log_order(&page.changes);
    }
    assert!(
        [&b"tb1"[..], b"rb1", b"rb2"]
            .iter()
            .all(|b| pages[1].changes.iter().any(|c| &c.bytes[..] == *b)),
        "the grant's page holds the history: {:?}",
        pages[1].changes
    );
    paged.sort_by_key(|c| c.seq);
    paged.dedup();
    assert_eq!(paged, granted);

    // Scope is judged now, not when the grant was logged: once alpha leaves tb, a device of alpha that is behind
    // gets nothing of tb from the old grant.
    storage
        .ingest(push(task(tb, &["bravo"], &[]), &[b"tb3"], vec![]))
        .await
        .unwrap();
    let (after_leaving, _) = pull_to_end(storage, &sees(&["alpha"]), alpha_cursor).await;
    assert!(after_leaving.is_empty(), "{after_leaving:?}");
}

pub async fn grant_record_delivers_the_record_history<S: SyncStore>(storage: &S) {
    let (ta, tb, moving, staying) = (id(1), id(2), id(3), id(4));
    storage
        .ingest(push(task(ta, &["alpha"], &[]), &[b"ta"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(task(tb, &["bravo"], &[]), &[b"tb"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(moving, RecordType::Find, Some(tb)),
            &[b"m1", b"m2"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(record_in(staying, RecordType::Find, Some(tb)), &[b"s1"], vec![]))
        .await
        .unwrap();
    let (_, alpha_cursor) = pull_to_end(storage, &sees(&["alpha"]), 0).await;

    // The find moves to alpha's task: alpha gets its whole history, and nothing else of tb.
    let moved = record_in(moving, RecordType::Find, Some(ta));
    let grant = Grant::Record {
        record_id: moving,
        team: "alpha".into(),
    };
    assert_eq!(storage.ingest(push(moved, &[b"m3"], vec![grant])).await.unwrap(), 1);
    let (granted, _) = pull_to_end(storage, &sees(&["alpha"]), alpha_cursor).await;
    assert_eq!(bytes_of(&granted), [&b"m1"[..], b"m2", b"m3"].map(<[u8]>::to_vec));
    assert_log_order(&granted);
    assert_eq!(records_seen(&granted), [moving].into());

    // bravo no longer sees the record that left its task.
    let (bravo, _) = pull_to_end(storage, &sees(&["bravo"]), 0).await;
    assert_eq!(records_seen(&bravo), [tb, staying].into());

    // Moved back to bravo's task, the record is no longer alpha's, old grant or not.
    storage
        .ingest(push(record_in(moving, RecordType::Find, Some(tb)), &[b"m4"], vec![]))
        .await
        .unwrap();
    let (alpha, _) = pull_to_end(storage, &sees(&["alpha"]), alpha_cursor).await;
    assert!(alpha.is_empty(), "{alpha:?}");
}

pub async fn idle_pull_returns_nothing<S: SyncStore>(storage: &S) {
    // An empty log.
    let empty = crate::pull::pull(storage, &sees(&["alpha"]), None, 0, 10)
        .await
        .unwrap();
    assert_eq!(
        empty,
        Page {
            changes: vec![],
            cursor: 0,
            more: false
        }
    );

    let t = id(1);
    storage
        .ingest(push(task(t, &["alpha"], &[]), &[b"t1", b"t2", b"t3"], vec![]))
        .await
        .unwrap();
    for visibility in [Visibility::All, sees(&["alpha"]), sees(&["bravo"])] {
        let (_, cursor) = pull_to_end(storage, &visibility, 0).await;
        let idle = crate::pull::pull(storage, &visibility, None, cursor, 2).await.unwrap();
        assert_eq!(
            idle,
            Page {
                changes: vec![],
                cursor,
                more: false
            },
            "{visibility:?}"
        );
    }
}

pub async fn cursor_moves_past_invisible_entries<S: SyncStore>(storage: &S) {
    let (ta, tb) = (id(1), id(2));
    storage
        .ingest(push(task(ta, &["alpha"], &[]), &[b"ta"], vec![]))
        .await
        .unwrap();
    let (_, start) = pull_to_end(storage, &sees(&["alpha"]), 0).await;
    // Five entries alpha cannot see, more than one page's limit, and a grant to another team.
    storage
        .ingest(push(
            task(tb, &["bravo"], &[]),
            &[b"b1", b"b2", b"b3", b"b4", b"b5"],
            vec![],
        ))
        .await
        .unwrap();
    let grant = Grant::Task {
        task_id: tb,
        team: "charlie".into(),
    };
    storage
        .ingest(push(task(tb, &["bravo", "charlie"], &[]), &[], vec![grant]))
        .await
        .unwrap();
    let last = storage.last_seq().await.unwrap();
    assert!(last > start);

    let page = crate::pull::pull(storage, &sees(&["alpha"]), None, start, 2)
        .await
        .unwrap();
    assert_eq!(
        page,
        Page {
            changes: vec![],
            cursor: last,
            more: false
        }
    );

    // Entries after the invisible ones are found from the advanced cursor.
    storage
        .ingest(push(task(ta, &["alpha"], &[]), &[b"ta2"], vec![]))
        .await
        .unwrap();
    let next = crate::pull::pull(storage, &sees(&["alpha"]), None, page.cursor, 2)
        .await
        .unwrap();
    assert_eq!(bytes_of(&next.changes), [b"ta2".to_vec()]);
    assert_eq!((next.cursor, next.more), (storage.last_seq().await.unwrap(), false));
}

pub async fn a_device_is_not_sent_its_own_changes<S: SyncStore>(storage: &S) {
    let mut mine = push(record_in(id(1), RecordType::HazardArea, None), &[b"m1", b"m2"], vec![]);
    mine.device_id = id(100);
    let mut theirs = push(record_in(id(2), RecordType::HazardArea, None), &[b"t1"], vec![]);
    theirs.device_id = id(200);
    storage.ingest(mine).await.unwrap();
    storage.ingest(theirs).await.unwrap();
    let last = storage.last_seq().await.unwrap();

    let page = crate::pull::pull(storage, &Visibility::All, Some(OwnChanges::every(id(100))), 0, 100)
        .await
        .unwrap();
    assert_eq!(bytes_of(&page.changes), [b"t1".to_vec()]);
    assert_eq!(
        (page.cursor, page.more),
        (last, false),
        "its own changes are covered, not sent"
    );
    let page = crate::pull::pull(storage, &sees(&["alpha"]), Some(OwnChanges::every(id(200))), 0, 100)
        .await
        .unwrap();
    assert_eq!(bytes_of(&page.changes), [b"m1".to_vec(), b"m2".to_vec()]);
    // Its own changes do not count against the page: a page of one still brings the other device's change, and
    // no page of nothing follows.
    let page = crate::pull::pull(storage, &Visibility::All, Some(OwnChanges::every(id(100))), 0, 1)
        .await
        .unwrap();
    assert_eq!(bytes_of(&page.changes), [b"t1".to_vec()]);
    assert_eq!((page.cursor, page.more), (last, false), "{page:?}");
    let everything = crate::pull::pull(storage, &Visibility::All, None, 0, 100)
        .await
        .unwrap();
    assert_eq!(everything.changes.len(), 3);
}

/// A device's pull leaves out only what it pushed after the mark it is given: what it pushed before comes back once
/// it is after the cursor (a device restored from a backup). The mark is the last change the device pushed that
/// the log took, raised by every append and never lowered.
pub async fn a_device_gets_back_what_it_pushed_before_its_mark<S: SyncStore>(storage: &S) {
    let device = device("tablet", &["alpha"], crate::store::Role::TeamLeader);
    let new = NewDevice {
        device: device.clone(),
        token_hash: token(1),
    };
    storage.add_device(new).await.unwrap();
    assert_eq!(
        storage.pushed_through(device.id).await.unwrap(),
        0,
        "nothing pushed yet"
    );
    assert_eq!(
        storage.pushed_through(id(999)).await.unwrap(),
        0,
        "an unknown device has pushed nothing"
    );

    let mut first = push(record_in(id(1), RecordType::HazardArea, None), &[b"d1", b"d2"], vec![]);
    first.device_id = device.id;
    storage.ingest(first.clone()).await.unwrap();
    let mark = storage.last_seq().await.unwrap();
    let mut theirs = push(record_in(id(2), RecordType::HazardArea, None), &[b"t1"], vec![]);
    theirs.device_id = id(200);
    storage.ingest(theirs).await.unwrap();
    assert_eq!(
        storage.pushed_through(device.id).await.unwrap(),
        mark,
        "the last of its two changes"
    );
    storage.ingest(first).await.unwrap();
    assert_eq!(
        storage.pushed_through(device.id).await.unwrap(),
        mark,
        "a retried push adds nothing"
    );

    let mut second = push(record_in(id(1), RecordType::HazardArea, None), &[b"d3"], vec![]);
    second.device_id = device.id;
    storage.ingest(second).await.unwrap();
    let own = OwnChanges {
        device: device.id,
        pushed_after: mark,
        relay: None,
    };
    let page = crate::pull::pull(storage, &Visibility::All, Some(own), 0, 100)
        .await
        .unwrap();
    assert_eq!(
        bytes_of(&page.changes),
        [b"d1".to_vec(), b"d2".to_vec(), b"t1".to_vec()],
        "what it pushed up to the mark comes back; what it pushed after (d3) does not"
    );
    let last = storage.last_seq().await.unwrap();
    assert_eq!(page.cursor, last, "and the cursor covers d3");
    assert_eq!(storage.pushed_through(device.id).await.unwrap(), last, "raised to d3");
}

pub async fn heads_are_kept_and_listed_by_scope<S: SyncStore>(storage: &S) {
    let (alpha_task, bravo_task) = (id(1), id(2));
    let mut hazard = record_in(id(3), RecordType::HazardArea, None);
    hazard.heads = vec![[3; 32]];
    let mut alpha_find = record_in(id(4), RecordType::Find, Some(alpha_task));
    alpha_find.heads = vec![[4; 32], [5; 32]];
    let bravo_find = record_in(id(5), RecordType::Find, Some(bravo_task));
    storage
        .ingest(push(task(alpha_task, &["alpha"], &[]), &[b"a"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(task(bravo_task, &["bravo"], &[]), &[b"b"], vec![]))
        .await
        .unwrap();
    storage.ingest(push(hazard, &[b"h"], vec![])).await.unwrap();
    storage.ingest(push(alpha_find, &[b"f"], vec![])).await.unwrap();
    storage.ingest(push(bravo_find, &[b"g"], vec![])).await.unwrap();
    let mut heads = storage.record(id(4)).await.unwrap().unwrap().heads;
    heads.sort();
    assert_eq!(heads, vec![[4; 32], [5; 32]]);

    let all = storage.heads_in_scope(&Visibility::All).await.unwrap();
    assert_eq!(all.records.len(), 5);
    assert_eq!(
        all.through,
        storage.last_seq().await.unwrap(),
        "read with the log's end"
    );
    let alpha = storage
        .heads_in_scope(&Visibility::Teams(teams(&["alpha"])))
        .await
        .unwrap()
        .records;
    let seen: BTreeSet<Uuid> = alpha.iter().map(|r| r.record_id).collect();
    assert_eq!(seen, BTreeSet::from([alpha_task, id(3), id(4)]));
    let find = alpha.iter().find(|r| r.record_id == id(4)).unwrap();
    assert_eq!(find.task_id, Some(alpha_task));
    assert_eq!(find.heads.len(), 2);
}

pub async fn cursor_checks_name_their_entry<S: SyncStore>(storage: &S) {
    assert_eq!(storage.cursor_check(1).await.unwrap(), None);
    let hazard = record_in(id(1), RecordType::HazardArea, None);
    storage.ingest(push(hazard, &[b"h1", b"h2"], vec![])).await.unwrap();
    let last = storage.last_seq().await.unwrap();
    let at_last = storage
        .cursor_check(last)
        .await
        .unwrap()
        .expect("an entry at the end of the log");
    assert_eq!(storage.cursor_check(last).await.unwrap(), Some(at_last), "stable");
    let before = storage.cursor_check(last - 1).await.unwrap().expect("the entry before");
    assert_ne!(before, at_last);
    assert_eq!(storage.cursor_check(last + 1).await.unwrap(), None);
}
