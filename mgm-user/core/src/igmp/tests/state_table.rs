//! The state table of RFC 3376 §6.4.1 and §6.4.2, row by row, and what unanswered
//! group-specific queries lead to.
use super::*;

/// One row of the state table: the state before (made by `start` at t=1), a record at t=2,
/// and everything expected right after it.
struct Row {
    start: fn() -> Lab,
    record: RecordType,
    sources: &'static [u8],
    mode: FilterMode,
    forwarded: &'static [u8],
    blocked: &'static [u8],
    changes: Vec<ChangeKind>,
    queries: Vec<SentQuery>,
    /// Source timers afterwards in ms (`None`: stopped).
    timers: &'static [(u8, Option<u64>)],
    group_timer: Option<u64>,
}

#[test]
fn state_table_rows() {
    const GMI_1: u64 = GMI_MS - 1000;
    let rows = [
        // INCLUDE(A) + IS_IN(B) -> INCLUDE(A+B); (B)=GMI
        Row {
            start: include_12,
            record: RecordType::IsInclude,
            sources: &[2, 3],
            mode: In,
            forwarded: &[1, 2, 3],
            blocked: &[],
            changes: vec![JoinSource(s(3))],
            queries: vec![],
            timers: &[(1, Some(GMI_1)), (2, Some(GMI_MS)), (3, Some(GMI_MS))],
            group_timer: None,
        },
        // INCLUDE(A) + ALLOW(B) -> INCLUDE(A+B); (B)=GMI
        Row {
            start: include_12,
            record: RecordType::Allow,
            sources: &[2, 3],
            mode: In,
            forwarded: &[1, 2, 3],
            blocked: &[],
            changes: vec![JoinSource(s(3))],
            queries: vec![],
            timers: &[(1, Some(GMI_1)), (2, Some(GMI_MS)), (3, Some(GMI_MS))],
            group_timer: None,
        },
        // INCLUDE(A) + IS_EX(B) -> EXCLUDE(A*B,B-A); (B-A)=0; Delete (A-B); GT=GMI
        Row {
            start: include_12,
            record: RecordType::IsExclude,
            sources: &[2, 3],
            mode: Ex,
            forwarded: &[2],
            blocked: &[3],
            changes: vec![JoinAny, Block(s(3)), LeaveSource(s(1)), LeaveSource(s(2))],
            queries: vec![],
            timers: &[(2, Some(GMI_1)), (3, None)],
            group_timer: Some(GMI_MS),
        },
        // INCLUDE(A) + TO_EX(B) -> EXCLUDE(A*B,B-A); (B-A)=0; Delete (A-B); Send Q(G,A*B);
        // GT=GMI
        Row {
            start: include_12,
            record: RecordType::ToExclude,
            sources: &[2, 3],
            mode: Ex,
            forwarded: &[2],
            blocked: &[3],
            changes: vec![JoinAny, Block(s(3)), LeaveSource(s(1)), LeaveSource(s(2))],
            queries: vec![gsq(&[2], false)],
            timers: &[(2, Some(LMQT_MS)), (3, None)],
            group_timer: Some(GMI_MS),
        },
        // INCLUDE(A) + TO_IN(B) -> INCLUDE(A+B); (B)=GMI; Send Q(G,A-B)
        Row {
            start: include_12,
            record: RecordType::ToInclude,
            sources: &[2, 3],
            mode: In,
            forwarded: &[1, 2, 3],
            blocked: &[],
            changes: vec![JoinSource(s(3))],
            queries: vec![gsq(&[1], false)],
            timers: &[(1, Some(LMQT_MS)), (2, Some(GMI_MS)), (3, Some(GMI_MS))],
            group_timer: None,
        },
        // INCLUDE(A) + BLOCK(B) -> INCLUDE(A); Send Q(G,A*B)
        Row {
            start: include_12,
            record: RecordType::Block,
            sources: &[2, 3],
            mode: In,
            forwarded: &[1, 2],
            blocked: &[],
            changes: vec![],
            queries: vec![gsq(&[2], false)],
            timers: &[(1, Some(GMI_1)), (2, Some(LMQT_MS))],
            group_timer: None,
        },
        // EXCLUDE(X,Y) + IS_IN(A) -> EXCLUDE(X+A,Y-A); (A)=GMI
        Row {
            start: exclude_12_34,
            record: RecordType::IsInclude,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[1, 2, 3, 5],
            blocked: &[4],
            changes: vec![Unblock(s(3))],
            queries: vec![],
            timers: &[
                (1, Some(GMI_1)),
                (3, Some(GMI_MS)),
                (4, None),
                (5, Some(GMI_MS)),
            ],
            group_timer: Some(GMI_1),
        },
        // EXCLUDE(X,Y) + ALLOW(A) -> EXCLUDE(X+A,Y-A); (A)=GMI
        Row {
            start: exclude_12_34,
            record: RecordType::Allow,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[1, 2, 3, 5],
            blocked: &[4],
            changes: vec![Unblock(s(3))],
            queries: vec![],
            timers: &[
                (1, Some(GMI_1)),
                (3, Some(GMI_MS)),
                (4, None),
                (5, Some(GMI_MS)),
            ],
            group_timer: Some(GMI_1),
        },
        // EXCLUDE(X,Y) + IS_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=GMI; Delete (X-A), (Y-A);
        // GT=GMI
        Row {
            start: exclude_12_34,
            record: RecordType::IsExclude,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[2, 5],
            blocked: &[3],
            changes: vec![Unblock(s(4))],
            queries: vec![],
            timers: &[(2, Some(GMI_1)), (3, None), (5, Some(GMI_MS))],
            group_timer: Some(GMI_MS),
        },
        // EXCLUDE(X,Y) + TO_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=GT; Delete (X-A), (Y-A);
        // Send Q(G,A-Y); GT=GMI
        Row {
            start: exclude_12_34,
            record: RecordType::ToExclude,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[2, 5],
            blocked: &[3],
            changes: vec![Unblock(s(4))],
            queries: vec![gsq(&[2, 5], false)],
            timers: &[(2, Some(LMQT_MS)), (3, None), (5, Some(LMQT_MS))],
            group_timer: Some(GMI_MS),
        },
        // EXCLUDE(X,Y) + TO_IN(A) -> EXCLUDE(X+A,Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)
        Row {
            start: exclude_12_34,
            record: RecordType::ToInclude,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[1, 2, 3, 5],
            blocked: &[4],
            changes: vec![Unblock(s(3))],
            queries: vec![group_query(false), gsq(&[1], false)],
            timers: &[(1, Some(LMQT_MS)), (2, Some(GMI_MS)), (4, None)],
            group_timer: Some(LMQT_MS),
        },
        // EXCLUDE(X,Y) + BLOCK(A) -> EXCLUDE(X+(A-Y),Y); (A-X-Y)=GT; Send Q(G,A-Y)
        Row {
            start: exclude_12_34,
            record: RecordType::Block,
            sources: &[2, 3, 5],
            mode: Ex,
            forwarded: &[1, 2, 5],
            blocked: &[3, 4],
            changes: vec![],
            queries: vec![gsq(&[2, 5], false)],
            timers: &[(1, Some(GMI_1)), (2, Some(LMQT_MS)), (5, Some(LMQT_MS))],
            group_timer: Some(GMI_1),
        },
    ];
    for row in rows {
        let mut lab = (row.start)();
        let before = lab.state(1.0).map(|(mode, ..)| mode);
        let what = format!("{before:?} + {:?}({:?})", row.record, row.sources);
        let out = lab.record(2.0, row.record, row.sources);
        assert_eq!(
            lab.state(2.0),
            Some((row.mode, set(row.forwarded), set(row.blocked))),
            "{what}: state"
        );
        assert_eq!(changes(&out), row.changes, "{what}: membership changes");
        assert_eq!(queries(&out), row.queries, "{what}: queries");
        for (source, timer) in row.timers {
            assert_eq!(
                lab.source_timer(2.0, *source),
                *timer,
                "{what}: timer of {source}"
            );
        }
        let group_timer = lab.group(2.0, G).and_then(|g| g.group_timer_ms);
        assert_eq!(group_timer, row.group_timer, "{what}: group timer");
    }
}

/// Membership changes among timed actions.
fn timed_changes(actions: &[(f64, Action)]) -> Vec<(f64, ChangeKind)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::Membership(c) => Some((*t, c.kind)),
            Action::Send(_) | Action::LimitReached(_) | Action::QuerierChanged(_) => None,
        })
        .collect()
}

#[test]
fn unanswered_block_in_include_times_the_source_out() {
    let mut lab = include_12();
    lab.record(2.0, RecordType::Block, &[2, 3]);
    let later = lab.run_until(10.0);
    assert_eq!(timed_changes(&later), vec![(4.0, LeaveSource(s(2)))]);
    assert_eq!(lab.state(10.0), Some((In, set(&[1]), set(&[]))));
}

#[test]
fn unanswered_to_in_in_exclude_falls_back_to_include() {
    // RFC 3376 §6.5: at the group timer's expiry the group keeps the sources still requested.
    let mut lab = exclude_12_34();
    lab.record(2.0, RecordType::ToInclude, &[2, 3, 5]);
    let later = lab.run_until(10.0);
    assert_eq!(
        timed_changes(&later),
        vec![
            (4.0, JoinSource(s(2))),
            (4.0, JoinSource(s(3))),
            (4.0, JoinSource(s(5))),
            (4.0, Unblock(s(4))),
            (4.0, LeaveAny),
        ]
    );
    assert_eq!(lab.state(10.0), Some((In, set(&[2, 3, 5]), set(&[]))));
}

#[test]
fn unanswered_block_in_exclude_excludes_the_sources() {
    let mut lab = exclude_12_34();
    lab.record(2.0, RecordType::Block, &[2, 3, 5]);
    let later = lab.run_until(10.0);
    assert_eq!(
        timed_changes(&later),
        vec![(4.0, Block(s(2))), (4.0, Block(s(5)))]
    );
    assert_eq!(lab.state(10.0), Some((Ex, set(&[1]), set(&[2, 3, 4, 5]))));
}

#[test]
fn new_group_from_each_record_type() {
    for (record_type, expect, kinds) in [
        (
            RecordType::IsInclude,
            Some((In, set(&[1]), set(&[]))),
            vec![JoinSource(s(1))],
        ),
        (
            RecordType::Allow,
            Some((In, set(&[1]), set(&[]))),
            vec![JoinSource(s(1))],
        ),
        (
            RecordType::ToInclude,
            Some((In, set(&[1]), set(&[]))),
            vec![JoinSource(s(1))],
        ),
        (
            RecordType::IsExclude,
            Some((Ex, set(&[]), set(&[1]))),
            vec![JoinAny, Block(s(1))],
        ),
        (
            RecordType::ToExclude,
            Some((Ex, set(&[]), set(&[1]))),
            vec![JoinAny, Block(s(1))],
        ),
        (RecordType::Block, None, vec![]),
    ] {
        let mut lab = Lab::new();
        let out = lab.record(1.0, record_type, &[1]);
        assert_eq!(lab.state(1.0), expect, "{record_type:?}");
        assert_eq!(changes(&out), kinds, "{record_type:?}");
    }
}

#[test]
fn suppress_flag_on_retransmission_after_report() {
    let mut lab = exclude_12_34();
    let out = lab.record(2.0, RecordType::ToInclude, &[]);
    assert_eq!(
        queries(&out),
        vec![group_query(false), gsq(&[1, 2], false),]
    );
    // A member answers before the retransmission: the group timer is back above LMQT and
    // source 1 too, so the retransmissions carry the suppress flag for them.
    lab.record(2.5, RecordType::IsExclude, &[1, 2, 3, 4]);
    lab.record(2.5, RecordType::IsInclude, &[1]);
    let retransmit: Vec<_> = lab.run_until(3.0).into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        queries(&retransmit),
        vec![group_query(true), gsq(&[1], true), gsq(&[2], false),]
    );
    // Source 2 was not confirmed: it is excluded after LMQT.
    lab.run_until(5.0);
    assert_eq!(lab.state(5.0), Some((Ex, set(&[1]), set(&[2, 3, 4]))));
}
