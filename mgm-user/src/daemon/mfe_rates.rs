//! Rates of the forwarding entries for `mgmctl show mfe` (like `ip -s mroute`), computed in
//! mgmd so that a single `show` has one: mgmd keeps the previous sample of each entry's
//! counters with its time, and a `show` reports the packets and bytes since that sample over
//! its age, then makes the current counters the new sample. Samples are taken at every
//! `show mfe` (of any client) and by mgmd itself with its statistics refresh (every 30 s), so
//! the interval is the time since the latest of those, at most about 30 s; one younger than
//! [`MIN_INTERVAL`] is kept, and the rate computed at that time is reported again. An entry
//! without an earlier sample (new, or whose counters went back, i.e. re-created) has no rate
//! yet. Memory: one sample per existing entry; the samples of entries gone are dropped at the
//! next sample. Sans-IO: rows and `now` in, rows with rates out.
use crate::api::proto::{MfeRate, MfeRow, MfeShown};
use std::{collections::HashMap, net::IpAddr, time::Duration, time::Instant};

/// A sample younger than this is not replaced (its rate is reported again), so that a burst of
/// `show`s does not measure rates over a few microseconds.
pub(super) const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// One entry's counters at a time, with the rate they gave against the sample before.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    packets: u64,
    bytes: u64,
    rate: Option<MfeRate>,
}

/// The latest sample of each forwarding entry, by (source, group).
#[derive(Debug, Default)]
pub(super) struct MfeRates {
    samples: HashMap<(IpAddr, IpAddr), Sample>,
}

impl MfeRates {
    /// Samples `rows` (every entry, read at `now`) and returns them with their rates.
    pub(super) fn observe(&mut self, rows: Vec<MfeRow>, now: Instant) -> Vec<MfeShown> {
        let mut next = HashMap::with_capacity(rows.len());
        let shown = rows
            .into_iter()
            .map(|entry| {
                let key = (entry.source, entry.group);
                let sample = match self.samples.get(&key) {
                    Some(prev) if now.saturating_duration_since(prev.at) < MIN_INTERVAL => *prev,
                    Some(prev) if entry.packets >= prev.packets && entry.bytes >= prev.bytes => {
                        let elapsed = now.saturating_duration_since(prev.at);
                        Sample {
                            at: now,
                            packets: entry.packets,
                            bytes: entry.bytes,
                            rate: Some(MfeRate::over(
                                entry.packets - prev.packets,
                                entry.bytes - prev.bytes,
                                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                            )),
                        }
                    }
                    _ => Sample {
                        at: now,
                        packets: entry.packets,
                        bytes: entry.bytes,
                        rate: None,
                    },
                };
                next.insert(key, sample);
                MfeShown {
                    entry,
                    rate: sample.rate,
                }
            })
            .collect();
        self.samples = next;
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn row(group: u8, packets: u64, bytes: u64) -> MfeRow {
        MfeRow {
            source: Ipv4Addr::new(10, 0, 0, 1).into(),
            group: Ipv4Addr::new(239, 1, 1, group).into(),
            iif: "up0".into(),
            oifs: Vec::new(),
            packets,
            bytes,
            wrong_if: 0,
            age_s: 0,
            expires_s: 0,
            origin: "static".into(),
        }
    }

    fn rates(shown: &[MfeShown]) -> Vec<Option<(u64, u64, u64)>> {
        shown
            .iter()
            .map(|s| s.rate.map(|r| (r.pps, r.bps, r.interval_ms)))
            .collect()
    }

    #[test]
    fn rates_are_the_counters_growth_over_the_time_since_the_previous_sample() {
        let t0 = Instant::now();
        let mut r = MfeRates::default();
        // First sight: no rate yet.
        let shown = r.observe(vec![row(1, 100, 10_000)], t0);
        assert_eq!(rates(&shown), [None]);
        // 1000 packets of 100 bytes in 2 s: 500 pps, 400 kbit/s.
        let shown = r.observe(vec![row(1, 1100, 110_000)], t0 + Duration::from_secs(2));
        assert_eq!(rates(&shown), [Some((500, 400_000, 2000))]);
        assert_eq!(shown[0].rate.map(|r| r.packets), Some(1000));
        // A show right after reports the same rate and keeps the older sample...
        let t = t0 + Duration::from_secs(2) + MIN_INTERVAL / 2;
        let shown = r.observe(vec![row(1, 1150, 115_000)], t);
        assert_eq!(rates(&shown), [Some((500, 400_000, 2000))]);
        // ...against which the next interval is measured.
        let shown = r.observe(vec![row(1, 1200, 120_000)], t0 + Duration::from_secs(3));
        assert_eq!(rates(&shown), [Some((100, 80_000, 1000))]);
        // Idle: zero.
        let shown = r.observe(vec![row(1, 1200, 120_000)], t0 + Duration::from_secs(4));
        assert_eq!(rates(&shown), [Some((0, 0, 1000))]);
    }

    #[test]
    fn a_recreated_entry_starts_over_and_entries_gone_are_forgotten() {
        let t0 = Instant::now();
        let mut r = MfeRates::default();
        r.observe(vec![row(1, 500, 50_000), row(2, 5, 500)], t0);
        assert_eq!(r.samples.len(), 2);
        // Entry 2 is gone; entry 1 was re-created (its counters went back).
        let shown = r.observe(vec![row(1, 7, 700)], t0 + Duration::from_secs(1));
        assert_eq!(rates(&shown), [None]);
        assert_eq!(r.samples.len(), 1, "only existing entries keep a sample");
        let shown = r.observe(vec![row(1, 17, 1700)], t0 + Duration::from_secs(2));
        assert_eq!(rates(&shown), [Some((10, 8000, 1000))]);
    }
}
