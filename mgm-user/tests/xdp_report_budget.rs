//! BPF_PROG_TEST_RUN tests (root) of the creation alerts' budget per (S,G): an (S,G) reported
//! recently is not reported again, and an (S,G) that keeps missing gets its alert although a
//! spray of one packet per (S,G) has spent the CPU's report budget, and its alert is read
//! before the spray's. Every refusal is counted
//! and every miss is still passed on (punted or, without a punt socket, to the kernel).
mod xdp_common;

use mgm_common::SgKey;
use mgm_user::dataplane::DataPlaneReport;
use std::{net::Ipv4Addr, time::Duration};
use xdp_common::*;

/// A frame of the spray: the `n`th (S,G) of 10.128/16 → 239.200/16, never repeated.
fn spray(n: u32) -> Vec<u8> {
    Frame {
        source: Ipv4Addr::from(0x0a80_0000 | (n & 0xffff)),
        group: Ipv4Addr::from(0xefc8_0000 | (n >> 16)),
        ..Frame::default()
    }
    .bytes()
}

fn missed(reports: &[DataPlaneReport]) -> Vec<SgKey> {
    reports
        .iter()
        .filter_map(|r| match r {
            DataPlaneReport::Miss { sg, .. } => Some(*sg),
            _ => None,
        })
        .collect()
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_sg_reported_recently_is_not_reported_again_but_still_passed() {
    let mut fx = fixture();
    fx.backend.set_report_limit(0, 1).expect("unlimited rate");
    fx.backend
        .set_report_repeat(Duration::from_secs(3600))
        .expect("repeat interval");
    let frame = Frame::default().bytes();
    for _ in 0..5 {
        assert_eq!(fx.run(&frame).0, XDP_PASS, "a miss is passed on");
    }
    let stats = fx.stats();
    assert_eq!(stats["miss"], 5);
    assert_eq!(stats["miss_passed"], 5);
    assert_eq!(stats["report_miss"], 1);
    assert_eq!(stats["report_recently_sent"], 4);
    assert_eq!(missed(&fx.drain_reports()), [sg()]);

    // Without the interval, every miss reports (the rate limit is off here).
    fx.backend
        .set_report_repeat(Duration::ZERO)
        .expect("repeat interval");
    fx.run(&frame);
    fx.run(&frame);
    assert_eq!(fx.stats()["report_miss"], 3);
    assert_eq!(missed(&fx.drain_reports()), [sg(), sg()]);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_flow_that_keeps_missing_is_reported_although_a_spray_spent_the_budget() {
    let mut fx = fixture();
    // A burst of 4 per CPU and then one report per 100 s: the spray spends the burst at once.
    fx.backend.set_report_limit(1, 4).expect("limit");
    fx.backend
        .set_report_repeat(Duration::from_secs(3600))
        .expect("repeat interval");
    const SPRAY: u32 = 1000;
    for n in 0..SPRAY {
        fx.run(&spray(n));
    }
    let spent = fx.stats();
    // Test runs may land on either CPU: at most a burst per CPU was raised.
    assert!(spent["report_miss"] <= 8, "{spent:?}");
    assert_eq!(
        spent["report_rate_limited"],
        u64::from(SPRAY) - spent["report_miss"]
    );

    // The flow's first packet finds the bucket empty, its second one is reported (from the
    // bucket of repeated misses, which the spray never touched), and the next ones are not.
    let flow = Frame::default().bytes();
    for _ in 0..5 {
        assert_eq!(fx.run(&flow).0, XDP_PASS);
    }
    let stats = fx.stats();
    assert_eq!(stats["miss"], u64::from(SPRAY) + 5);
    assert_eq!(stats["miss_passed"], u64::from(SPRAY) + 5);
    assert_eq!(
        stats["report_rate_limited"],
        spent["report_rate_limited"] + 1
    );
    assert_eq!(stats["report_miss"], spent["report_miss"] + 1);
    assert_eq!(stats["report_recently_sent"], 3);
    // Its alert is read first, before the spray's raised earlier.
    let alerts = missed(&fx.drain_reports());
    assert_eq!(alerts.first(), Some(&sg()), "{alerts:?}");
    assert_eq!(alerts.len() as u64, stats["report_miss"]);
    assert_eq!(alerts.iter().filter(|a| **a == sg()).count(), 1);

    // A second spray of the same (S,G)s (each missed once, unreported unless its slot was
    // taken by another) spends the bucket of repeated misses too. Every miss has one outcome,
    // each refusal counted by its reason.
    for n in 0..SPRAY {
        fx.run(&spray(n));
    }
    let twice = fx.stats();
    let delta = |name: &str| twice[name] - stats[name];
    assert!(delta("report_miss") <= 16, "{twice:?}");
    assert!(delta("report_repeat_rate_limited") > 0, "{twice:?}");
    assert_eq!(
        delta("report_miss")
            + delta("report_rate_limited")
            + delta("report_repeat_rate_limited")
            + delta("report_recently_sent"),
        u64::from(SPRAY)
    );
}
