//! MLDv1 and MLDv2 listeners as MGM joins: INCLUDE and EXCLUDE filters and their timers.
use super::*;

#[test]
fn mldv1_listener_joins_and_leaves_after_the_last_listener_queries() {
    let mut lab = Lab::new();
    assert_eq!(changes(&lab.v1_report(1.0, G)), vec![JoinAny]);
    let g = lab.group(1.0).unwrap();
    assert_eq!(g.compat_version, Version::V1);
    assert_eq!(g.v1_host_timer_ms, Some(260_000));
    let done = lab.done(10.0, G);
    assert_eq!(queries(&done), vec![specific(&[], false)]);
    assert!(changes(&done).is_empty());
    // No report answers: the second query 1 s later, the leave at LLQT = 2 s.
    let later = lab.run_until(20.0);
    assert_eq!(
        queries(&later.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>()).len(),
        1
    );
    assert_eq!(timed_changes(&later), vec![(12.0, LeaveAny)]);
    assert!(lab.group(20.0).is_none());
}

#[test]
fn mldv1_report_after_done_keeps_the_group() {
    let mut lab = Lab::new();
    lab.v1_report(1.0, G);
    lab.done(10.0, G);
    assert!(changes(&lab.v1_report(10.5, G)).is_empty());
    assert!(timed_changes(&lab.run_until(300.0)).contains(&(270.5, LeaveAny)));
}

#[test]
fn mldv2_include_gives_source_joins_and_block_prunes_them() {
    let mut lab = Lab::new();
    let out = lab.record(1.0, RecordType::IsInclude, &[1, 2]);
    assert_eq!(changes(&out), vec![JoinSource(s(1)), JoinSource(s(2))]);
    assert_eq!(
        lab.state(1.0),
        Some((FilterMode::Include, set(&[1, 2]), set(&[])))
    );
    let block = lab.record(5.0, RecordType::Block, &[1]);
    assert_eq!(queries(&block), vec![specific(&[1], false)]);
    let later = lab.run_until(10.0);
    assert_eq!(timed_changes(&later), vec![(7.0, LeaveSource(s(1)))]);
    let out = lab.record(11.0, RecordType::ToInclude, &[]);
    assert_eq!(queries(&out), vec![specific(&[2], false)]);
    assert_eq!(
        timed_changes(&lab.run_until(20.0)),
        vec![(13.0, LeaveSource(s(2)))]
    );
    assert!(lab.group(20.0).is_none());
}

#[test]
fn mldv2_exclude_gives_a_star_g_join_with_blocks() {
    let mut lab = Lab::new();
    let out = lab.record(1.0, RecordType::IsExclude, &[3, 4]);
    assert_eq!(changes(&out), vec![JoinAny, Block(s(3)), Block(s(4))]);
    // ALLOW(3) in EXCLUDE: 3 is forwarded again.
    assert_eq!(
        changes(&lab.record(2.0, RecordType::Allow, &[3])),
        vec![Unblock(s(3))]
    );
    assert_eq!(
        lab.state(2.0),
        Some((FilterMode::Exclude, set(&[3]), set(&[4])))
    );
    // TO_IN({}) ends the (*,G) join once the group-specific queries go unanswered.
    let out = lab.record(3.0, RecordType::ToInclude, &[]);
    assert!(queries(&out).contains(&specific(&[], false)));
    let later = timed_changes(&lab.run_until(10.0));
    assert_eq!(later, vec![(5.0, Unblock(s(4))), (5.0, LeaveAny)]);
    assert!(lab.group(10.0).is_none());
}

#[test]
fn include_to_exclude_and_back_never_leaves_a_gap() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsInclude, &[1]);
    let out = lab.record(2.0, RecordType::ToExclude, &[2]);
    // Joins before leaves: the (*,G) join comes before S1's (S,G) leave.
    assert_eq!(changes(&out), vec![JoinAny, Block(s(2)), LeaveSource(s(1))]);
}

#[test]
fn exclude_mode_expires_after_the_listening_interval() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsExclude, &[]);
    // MALI = 2 × 125 + 10 = 260 s with nobody answering the general queries.
    let later = timed_changes(&lab.run_until(400.0));
    assert_eq!(later, vec![(261.0, LeaveAny)]);
}

#[test]
fn source_timers_expire_in_include_mode() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsInclude, &[1]);
    lab.record(100.0, RecordType::IsInclude, &[2]);
    let later = timed_changes(&lab.run_until(400.0));
    assert_eq!(
        later,
        vec![(261.0, LeaveSource(s(1))), (360.0, LeaveSource(s(2)))]
    );
}
