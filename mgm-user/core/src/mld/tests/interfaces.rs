//! Interface removal, the snapshot and configuration changes at run time.
use super::*;

#[test]
fn remove_interface_leaves_everything_and_memberships_rejoin() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsInclude, &[1]);
    lab.v2(
        1.0,
        &[(
            RecordType::IsExclude,
            Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 9),
            &[2],
        )],
    );
    let joins = lab.router.memberships(IF).unwrap();
    assert_eq!(joins.len(), 3);
    let leaves = lab.router.remove_interface(IF).unwrap();
    assert_eq!(leaves.len(), 3);
    assert!(lab.router.snapshot(lab.at(2.0)).interfaces.is_empty());
}

#[test]
fn snapshot_serialises_and_prints() {
    let mut lab = Lab::new();
    lab.record(1.0, RecordType::IsExclude, &[7]);
    let link_scope = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 3);
    lab.v2(1.0, &[(RecordType::IsExclude, link_scope, &[])]);
    let snap = lab.router.snapshot(lab.at(1.0));
    let json = serde_json::to_string(&snap).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);
    let text = snap.to_string();
    assert!(text.contains("ff0e::123 Exclude compat MLDV2"), "{text}");
    assert!(text.contains("2001:db8::7 block"), "{text}");
    // Counters by reason read as in `show igmp`.
    assert!(text.contains("\n  ignored: LocalGroup 1\n"), "{text}");
}

#[test]
fn set_config_brings_the_next_query_forward_and_rejects_bad_configs() {
    let mut lab = Lab::new();
    lab.run_until(40.0); // both startup queries sent; the next one is due at 156.25 s
    let faster = IfaceConfig {
        query_interval: Duration::from_secs(60),
        ..IfaceConfig::default()
    };
    lab.router.set_config(IF, faster, lab.at(50.0)).unwrap();
    let sent: Vec<f64> = lab
        .run_until(200.0)
        .into_iter()
        .filter(|(_, a)| matches!(a, Action::Send(_)))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(sent, vec![110.0, 170.0]);
    let bad = IfaceConfig {
        last_listener_query_count: 0,
        ..IfaceConfig::default()
    };
    assert!(matches!(
        lab.router.set_config(IF, bad, lab.at(200.0)),
        Err(Error::Config(_))
    ));
    assert_eq!(
        lab.router
            .set_config(IF + 1, IfaceConfig::default(), lab.at(200.0)),
        Err(Error::NoInterface(IF + 1))
    );
    assert_eq!(
        lab.iface(200.0).config.query_interval,
        Duration::from_secs(60)
    );
}
