//! The report's ratios and targets, from hand-made runs.
use super::*;

fn run(path: Path, fan_out: u8, delivered_pps: f64) -> Run {
    Run {
        family: Family::V4,
        path,
        fan_out,
        size: 64,
        offered_pps: delivered_pps,
        accepted_pps: delivered_pps,
        delivered_pps,
        min_receiver_pps: delivered_pps,
        copies_pps: delivered_pps * f64::from(fan_out),
        loss: 0.0,
        generator_pps: delivered_pps,
        round_pps: vec![delivered_pps],
    }
}

fn report(line_rate: Vec<Run>) -> Report {
    Report {
        machine: Machine {
            cpu: "test".into(),
            cpus: 2,
            kernel: "6.18".into(),
            date: "today".into(),
            load: 0.0,
        },
        quick: true,
        method: "method".into(),
        line_rate,
        micro: Vec::new(),
        scale: Vec::new(),
        jumbo: Vec::new(),
        latency: Vec::new(),
        first_packet: Vec::new(),
    }
}

#[test]
fn ratios_and_targets_come_from_the_same_configuration() {
    let md = report(vec![
        run(Path::Mgm, 1, 3_000_000.0),
        run(Path::Kernel, 1, 500_000.0),
        run(Path::Broadcast, 1, 4_000_000.0),
        run(Path::Mgm, 4, 800_000.0),
        run(Path::Kernel, 4, 200_000.0),
        run(Path::Broadcast, 4, 850_000.0),
    ])
    .markdown();
    assert!(
        md.contains("| 64 B | 1 | 3000 | 500 | 4000 | 6.00 | 0.75 |"),
        "{md}"
    );
    assert!(
        md.contains("| 64 B | 4 | 800 | 200 | 850 | 4.00 | 0.94 |"),
        "{md}"
    );
    // Fan-out 1 (the direct redirect) is not part of the replication target.
    assert!(
        md.contains(
            "| replication ≥ 0.95 of the broadcast ceiling, fan-out 2–16 | worst 0.94 (64 B, fan-out 4) | no |"
        ),
        "{md}"
    );
}

#[test]
fn the_mirror_is_compared_with_mgm_and_the_kernel_in_the_same_configuration() {
    let md = report(vec![
        run(Path::Mgm, 1, 3_000_000.0),
        run(Path::Mirror, 1, 2_850_000.0),
        run(Path::Kernel, 1, 500_000.0),
        run(Path::Mgm, 8, 400_000.0),
        run(Path::Mirror, 8, 340_000.0),
        run(Path::Kernel, 8, 100_000.0),
    ])
    .markdown();
    assert!(
        md.contains("| mgm / kernel | mirror / mgm (target ≥ 0.90) | mirror / kernel |"),
        "{md}"
    );
    assert!(
        md.contains("| 64 B | 1 | 3000 | 2850 | 500 | 6.00 | 0.95 | 5.70 |"),
        "{md}"
    );
    assert!(
        md.contains("| 64 B | 8 | 400 | 340 | 100 | 4.00 | 0.85 | 3.40 |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| mirror within 10 % of mgm's static path (mirror / mgm ≥ 0.90) | worst 0.85 (64 B, fan-out 8) | no |"
        ),
        "{md}"
    );
}

fn run6(path: Path, fan_out: u8, delivered_pps: f64) -> Run {
    Run {
        family: Family::V6,
        ..run(path, fan_out, delivered_pps)
    }
}

#[test]
fn ipv6_is_compared_with_ip6mr_and_with_ipv4_in_the_same_configuration() {
    let md = report(vec![
        run(Path::Mgm, 1, 3_000_000.0),
        run(Path::Kernel, 1, 500_000.0),
        run(Path::Broadcast, 1, 2_000_000.0),
        run(Path::Mgm, 4, 800_000.0),
        run(Path::Kernel, 4, 200_000.0),
        run(Path::Broadcast, 4, 850_000.0),
        run6(Path::Mgm, 1, 2_850_000.0),
        run6(Path::Kernel, 1, 400_000.0),
        run6(Path::Broadcast, 1, 2_000_000.0),
        run6(Path::Mgm, 4, 680_000.0),
        run6(Path::Kernel, 4, 170_000.0),
        run6(Path::Broadcast, 4, 800_000.0),
    ])
    .markdown();
    assert!(
        md.contains(
            "| frame | fan-out | mgm XDP IPv6 kpps | kernel ip6mr kpps | broadcast ceiling IPv6 kpps | mgm / ip6mr | mgm / broadcast (target ≥ 0.95 at fan-out ≥ 2) | IPv6 mgm / IPv4 mgm (target ≥ 0.90) |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| 64 B | 1 | 2850 | 400 | 2000 | 7.12 | 1.43 | 0.95 |"),
        "{md}"
    );
    assert!(
        md.contains("| 64 B | 4 | 680 | 170 | 800 | 4.00 | 0.85 | 0.85 |"),
        "{md}"
    );
    // The IPv4 table and the replication target stay IPv4's own.
    assert!(
        md.contains("| 64 B | 4 | 800 | 200 | 850 | 4.00 | 0.94 |"),
        "{md}"
    );
    assert!(md.contains("worst 0.94 (64 B, fan-out 4) | no |"), "{md}");
    assert!(
        md.contains(
            "| IPv6 pps / IPv4 pps for mgm ≥ 0.90, fan-out 1 | worst 0.95 (64 B); mgm / ip6mr 7.12 | yes |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| IPv6 pps / IPv4 pps for mgm ≥ 0.90, fan-out 4 | worst 0.85 (64 B); mgm / ip6mr 4.00 | no |"
        ),
        "{md}"
    );
}

#[test]
fn a_missing_path_leaves_its_ratios_out() {
    let md = report(vec![run(Path::Kernel, 1, 500_000.0)]).markdown();
    assert!(!md.contains("mgm / kernel"), "{md}");
    assert!(!md.contains("mirror"), "{md}");
    assert!(!md.contains("| target |"), "{md}");
    // No IPv4 runs: no IPv4 table.
    let md = report(vec![run6(Path::Kernel, 1, 500_000.0)]).markdown();
    assert_eq!(md.matches("\n| frame | fan-out |").count(), 1, "{md}");
    assert!(
        md.contains("IPv6:\n\n| frame | fan-out | kernel ip6mr kpps |"),
        "{md}"
    );
}

#[test]
fn the_scaling_ratio_is_each_paths_two_cpu_rate_over_its_one_cpu_rate() {
    let scale = |path, cpus, delivered_pps| crate::scale::Scale {
        path,
        cpus,
        size: 64,
        delivered_pps,
        offered_pps: delivered_pps,
        per_queue: vec![],
    };
    let mut report = report(Vec::new());
    report.scale = vec![
        scale(Path::Mgm, 1, 2000.0),
        scale(Path::Mgm, 2, 3700.0),
        scale(Path::Kernel, 1, 300.0),
        scale(Path::Kernel, 2, 600.0),
    ];
    let md = report.markdown();
    assert!(
        md.contains(
            "| mgm ≥ 1.8× pps from 1 to 2 CPUs (2 receive queues) | 1.85× (kernel 2.00×) | yes |"
        ),
        "{md}"
    );
    assert!(md.contains("| mgm XDP | 2 | 4 | 1.85 |"), "{md}");
    report.scale.retain(|s| s.path != Path::Mgm || s.cpus == 1);
    assert!(
        !report.markdown().contains("from 1 to 2 CPUs"),
        "no ratio without both runs"
    );
}

/// A run whose rounds delivered `round_pps` (its best window is the largest).
fn rounds(path: Path, round_pps: &[f64]) -> Run {
    Run {
        round_pps: round_pps.to_vec(),
        ..run(path, 4, round_pps.iter().copied().fold(0.0, f64::max))
    }
}

#[test]
fn paths_are_compared_by_the_median_of_their_per_round_ratios() {
    // Round 2 lost the CPU while the broadcast ran: its best window alone is the outlier.
    let mgm = rounds(Path::Mgm, &[900.0, 880.0, 910.0]);
    let broadcast = rounds(Path::Broadcast, &[1000.0, 1300.0, 1000.0]);
    assert_eq!(paired_ratio(&mgm, &broadcast), Some(0.9));
    let even = rounds(Path::Broadcast, &[1000.0, 1000.0]);
    let mgm2 = rounds(Path::Mgm, &[900.0, 950.0]);
    assert_eq!(paired_ratio(&mgm2, &even), Some(0.925));
    // Different rounds (or a round that delivered nothing): the best windows.
    assert_eq!(paired_ratio(&mgm, &even), Some(0.91));
    let dead = rounds(Path::Broadcast, &[1000.0, 0.0, 1000.0]);
    assert_eq!(paired_ratio(&mgm, &dead), Some(0.91));
}
