//! Root lab test (no packet lost at creation): a receiver joined before the first packet of a
//! new stream gets every packet from the very first one, in order and exactly once, through
//! mgmd's punt-and-hold path and the handover to the fast path — for a paced stream and for a
//! back-to-back burst.
mod support;

use mgm_user::lab::{Host, Lab};
use std::{net::Ipv4Addr, time::Duration};
use support::{interfaces, test_send, Mgmd};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 7, 7);

/// Sends `count` packets `interval_ms` apart to a group a receiver joined beforehand and
/// checks that the receiver got every one of them exactly once and in order: the fast path
/// takes over from the hold queue only once every packet punted before has been sent on.
fn first_packets_arrive(count: u32, interval_ms: u32) -> anyhow::Result<()> {
    first_packets_arrive_with("", count, interval_ms).map(drop)
}

/// [`first_packets_arrive`] with `daemon` keys in mgmd's `[daemon]` table; returns mgmd's pid
/// while it still runs, to the check that needs it.
fn first_packets_arrive_with(daemon: &str, count: u32, interval_ms: u32) -> anyhow::Result<Mgmd> {
    let lab = Lab::star(1)?;
    // Room in the receiver's socket for a burst.
    let _ = lab.sysctl(Host::Receiver(1), "net.core.rmem_max", "33554432");
    let body = format!("{daemon}{}", interfaces(&[("up0", ""), ("rcv1", "")]));
    let mut mgmd = Mgmd::start(lab, &body)?;
    let listener = mgmd.listen(Host::Receiver(1), GROUP, count, 30.0)?;
    mgmd.wait_for_igmp_members(GROUP, &["rcv1"])?;
    mgmd.send(Host::Source, GROUP, count, interval_ms)?;
    let received = listener.finish()?;
    let stats = mgmd.stats()?;
    let out_of_place = received
        .seqs
        .iter()
        .enumerate()
        .filter(|(i, s)| **s != *i as u64)
        .count();
    let mut sorted = received.seqs.clone();
    sorted.sort_unstable();
    assert!(
        sorted.iter().copied().eq(0..u64::from(count)),
        "received {} of {count} (each once expected); mgmd counters: {stats:?}",
        received.seqs.len(),
    );
    // The creation thread counts the alerts and punts it left to the main loop.
    let deferred = stats
        .get("creation_deferred")
        .ok_or_else(|| anyhow::anyhow!("no creation_deferred in {stats:?}"))?;
    eprintln!(
        "{count} packets {interval_ms} ms apart: all delivered once, {out_of_place} out of place; \
         held packets sent by mgmd {}, taken over by XDP in hold mode {}, creation work \
         deferred to the main loop {deferred} times",
        stats.get("hold_delivered").unwrap_or(&0),
        stats.get("hold_handed_over").unwrap_or(&0),
    );
    assert_eq!(
        out_of_place, 0,
        "packets out of order; mgmd counters: {stats:?}"
    );
    Ok(mgmd)
}

/// Two new streams at once, each arriving on its own receive queue of the router's upstream
/// veth (the source's transmit queue `i` serves CPU `i` and each sender is pinned to its CPU):
/// mgmd has a punt socket per queue, so both are created from their first packet and
/// delivered whole and in order.
#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn new_streams_on_two_receive_queues_lose_nothing() -> anyhow::Result<()> {
    const COUNT: u32 = 2000;
    let groups = [Ipv4Addr::new(239, 7, 7, 8), Ipv4Addr::new(239, 7, 7, 9)];
    let lab = Lab::star_queues(1, 2)?;
    lab.steer_tx_queues_by_cpu(Host::Source, "eth0")?;
    let _ = lab.sysctl(Host::Receiver(1), "net.core.rmem_max", "33554432");
    let mut mgmd = Mgmd::start(lab, &interfaces(&[("up0", ""), ("rcv1", "")]))?;
    let mut listeners = Vec::new();
    for group in groups {
        listeners.push(mgmd.listen(Host::Receiver(1), group, COUNT, 30.0)?);
        mgmd.wait_for_igmp_members(group, &["rcv1"])?;
    }
    let before = mgmd.lab.rx_queue_xdp_packets(Host::Router, "up0")?;
    let lab = &mgmd.lab;
    std::thread::scope(|scope| {
        let senders: Vec<_> = groups
            .iter()
            .enumerate()
            .map(|(cpu, &group)| {
                scope.spawn(move || lab.send_on_cpu(Host::Source, test_send(group, COUNT, 0), cpu))
            })
            .collect();
        senders
            .into_iter()
            .try_for_each(|sender| sender.join().expect("sender thread"))
    })?;
    let after = mgmd.lab.rx_queue_xdp_packets(Host::Router, "up0")?;
    let per_queue: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert!(
        per_queue.iter().all(|&n| n >= u64::from(COUNT)),
        "each stream on a queue of its own expected; frames per receive queue: {per_queue:?}"
    );
    let stats = mgmd.stats()?;
    for (group, listener) in groups.iter().zip(listeners) {
        let received = listener.finish()?;
        assert!(
            received.is_complete(u64::from(COUNT)),
            "{group}: {} of {COUNT} received, in order and once each expected (first out of \
             place at {:?}); frames per receive queue {per_queue:?}; mgmd counters: {stats:?}",
            received.seqs.len(),
            received
                .seqs
                .iter()
                .enumerate()
                .position(|(i, s)| *s != i as u64),
        );
    }
    eprintln!(
        "frames per receive queue {per_queue:?}; held packets sent by mgmd {}, taken over by XDP \
         in hold mode {}",
        stats.get("hold_delivered").unwrap_or(&0),
        stats.get("hold_handed_over").unwrap_or(&0),
    );
    Ok(())
}

/// The scheduling policy and real-time priority of every thread of `pid`
/// (fields 41 and 40 of /proc/PID/task/TID/stat).
fn thread_policies(pid: u32) -> anyhow::Result<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let stat = std::fs::read_to_string(task?.path().join("stat"))?;
        // The fields after the command name, which ends at the last ')': field 3 first.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse().ok());
        out.push((field(41).unwrap_or(u32::MAX), field(40).unwrap_or(0)));
    }
    Ok(out)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_paced_new_stream_loses_nothing_from_its_first_packet() -> anyhow::Result<()> {
    first_packets_arrive(200, 1)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_back_to_back_burst_of_a_new_stream_loses_nothing() -> anyhow::Result<()> {
    first_packets_arrive(5000, 0)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_back_to_back_burst_under_cpu_load_loses_nothing_and_keeps_its_order() -> anyhow::Result<()> {
    let _hogs = CpuHogs::start();
    first_packets_arrive(5000, 0)
}

/// One busy thread per CPU at normal priority while it lives.
struct CpuHogs {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuHogs {
    fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (0..cpus)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for CpuHogs {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mgmd_under_sched_fifo_runs_every_thread_real_time_and_loses_nothing() -> anyhow::Result<()> {
    let mgmd = first_packets_arrive_with("realtime_priority = 10\n", 200, 1)?;
    let policies = thread_policies(mgmd.pid())?;
    assert!(
        !policies.is_empty() && policies.iter().all(|&p| p == (libc::SCHED_FIFO as u32, 10)),
        "(policy, priority) of mgmd's threads: {policies:?}"
    );
    // A reload applies a changed priority, and its removal, to every thread (the creation
    // thread included).
    let interfaces = interfaces(&[("up0", ""), ("rcv1", "")]);
    for (daemon, expected) in [
        ("realtime_priority = 20\n", (libc::SCHED_FIFO as u32, 20)),
        ("", (libc::SCHED_OTHER as u32, 0)),
    ] {
        mgmd.reload(&format!("{daemon}{interfaces}"))?;
        support::wait_for(
            &format!("every thread at {expected:?} after the reload"),
            Duration::from_secs(10),
            || {
                let policies = thread_policies(mgmd.pid())?;
                Ok(policies.iter().all(|&p| p == expected).then_some(()))
            },
        )?;
    }
    Ok(())
}
