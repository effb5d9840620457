//! Rates of the forwarding entries for `mgmctl show mfe` (like `ip -s mroute`), computed in mgmd so
//! that a single `show` has one: mgmd keeps the previous sample of each entry's counters with its
//! time, and a `show` reports the packets and bytes since that sample over its age, then makes the
//! current counters the new sample. Samples are taken at every `show mfe` (of any client) and by
//! mgmd itself with its statistics refresh (every 30 s), so the interval is the time since the
//! latest of those, at most about 30 s; one younger than [`MIN_INTERVAL`] is kept, and the rate
//! computed at that time is reported again. An entry without an earlier sample (new, or whose
//! counters went back, i.e. re-created) has no rate yet. Memory: one sample of 48 bytes (with its
//! key) per existing IPv4 entry and 72 per IPv6 one, in a vector per family of exactly their number
//! ordered by (group, source), rebuilt at each sampling with the entries it saw (those gone are
//! dropped; no hash table's slack); sample times are milliseconds in 32 bits (they wrap after 49
//! days; samples are at most about 30 s apart). The statistics refresh samples the counters alone
//! ([`MfeRates::sample`]), without building `show mfe`'s rows. Sans-IO: counters and `now` in,
//! rates out.
use crate::api::proto::{MfeRate, MfeRow, MfeShown};
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
    time::Instant,
};

/// A sample younger than this is not replaced (its rate is reported again), so that a burst of
/// `show`s does not measure rates over a few microseconds.
pub(super) const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// One entry's counters at a time, with their growth over the interval before.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// When, in milliseconds since the first sampling, wrapping.
    at_ms: u32,
    packets: u64,
    bytes: u64,
    /// Growth since the sample before (packets, bytes); meaningful when `interval_ms` > 0.
    grown_packets: u64,
    grown_bytes: u64,
    /// Length of that interval; 0: no earlier sample, no rate.
    interval_ms: u32,
}

impl Sample {
    fn rate(&self) -> Option<MfeRate> {
        (self.interval_ms > 0).then(|| {
            MfeRate::over(
                self.grown_packets,
                self.grown_bytes,
                u64::from(self.interval_ms),
            )
        })
    }
}

/// The samples of one family's entries by (source, group), ordered by (group, source) — the
/// order the MGM lists its entries in — each key once. The families are kept apart so that a
/// sample's key is as small as its family's addresses.
#[derive(Debug)]
struct Samples<A>(Vec<((A, A), Sample)>);

impl<A> Default for Samples<A> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<A: Ord + Copy> Samples<A> {
    fn find(&self, (source, group): (A, A)) -> Option<Sample> {
        self.0
            .binary_search_by_key(&(group, source), |((s, g), _)| (*g, *s))
            .ok()
            .map(|at| self.0[at].1)
    }

    /// Orders what was pushed in the order of the entries seen, and drops slack.
    fn seal(&mut self) {
        if !self.0.is_sorted_by_key(|((s, g), _)| (*g, *s)) {
            self.0.sort_by_key(|((s, g), _)| (*g, *s));
        }
        self.0.dedup_by_key(|(k, _)| *k);
        self.0.shrink_to_fit();
    }
}

/// The latest sample of each forwarding entry.
#[derive(Debug, Default)]
pub(super) struct MfeRates {
    v4: Samples<Ipv4Addr>,
    v6: Samples<Ipv6Addr>,
    /// The time sample times count from (the first sampling's).
    epoch: Option<Instant>,
}

impl MfeRates {
    /// Samples `rows` (every entry, read at `now`) and returns them with their rates.
    pub(super) fn observe(&mut self, rows: Vec<MfeRow>, now: Instant) -> Vec<MfeShown> {
        let rates = self.sample(
            rows.iter()
                .map(|r| ((r.source, r.group), r.packets, r.bytes)),
            now,
        );
        rows.into_iter()
            .zip(rates)
            .map(|(entry, rate)| MfeShown { entry, rate })
            .collect()
    }

    /// Samples the counters of every entry ((source, group), packets, bytes) read at `now`;
    /// returns their rates, in the same order.
    pub(super) fn sample(
        &mut self,
        counts: impl Iterator<Item = ((IpAddr, IpAddr), u64, u64)>,
        now: Instant,
    ) -> Vec<Option<MfeRate>> {
        let epoch = *self.epoch.get_or_insert(now);
        // Truncated to 32 bits on purpose: intervals are computed wrapping.
        let at_ms = now.saturating_duration_since(epoch).as_millis() as u32;
        let min_ms = MIN_INTERVAL.as_millis() as u32;
        let (previous4, previous6) = (std::mem::take(&mut self.v4), std::mem::take(&mut self.v6));
        let rates = counts
            .map(|(key, packets, bytes)| {
                let fresh = Sample {
                    at_ms,
                    packets,
                    bytes,
                    grown_packets: 0,
                    grown_bytes: 0,
                    interval_ms: 0,
                };
                let before = match key {
                    (IpAddr::V4(s), IpAddr::V4(g)) => previous4.find((s, g)),
                    (IpAddr::V6(s), IpAddr::V6(g)) => previous6.find((s, g)),
                    _ => None,
                };
                let sample = match before {
                    None => fresh,
                    // Too young to replace (or just taken): its rate again.
                    Some(s) if at_ms.wrapping_sub(s.at_ms) < min_ms => s,
                    Some(s) if s.packets <= packets && s.bytes <= bytes => Sample {
                        grown_packets: packets - s.packets,
                        grown_bytes: bytes - s.bytes,
                        interval_ms: at_ms.wrapping_sub(s.at_ms),
                        ..fresh
                    },
                    // The counters went back: a re-created entry starts over.
                    Some(_) => fresh,
                };
                match key {
                    (IpAddr::V4(s), IpAddr::V4(g)) => self.v4.0.push(((s, g), sample)),
                    (IpAddr::V6(s), IpAddr::V6(g)) => self.v6.0.push(((s, g), sample)),
                    _ => {}
                }
                sample.rate()
            })
            .collect();
        drop((previous4, previous6));
        self.v4.seal();
        self.v6.seal();
        rates
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
    fn a_sample_is_small() {
        assert_eq!(size_of::<Sample>(), 40);
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
    fn entries_of_both_families_keep_their_own_samples() {
        let t0 = Instant::now();
        let mut r = MfeRates::default();
        let v6 = |packets| MfeRow {
            source: "2001:db8::1".parse().unwrap(),
            group: "ff0e::1:1".parse().unwrap(),
            ..row(1, packets, packets * 100)
        };
        r.observe(vec![row(1, 100, 10_000), v6(10)], t0);
        let shown = r.observe(
            vec![row(1, 200, 20_000), v6(40)],
            t0 + Duration::from_secs(1),
        );
        assert_eq!(
            rates(&shown),
            [Some((100, 80_000, 1000)), Some((30, 24_000, 1000))]
        );
        assert_eq!((r.v4.0.len(), r.v6.0.len()), (1, 1));
    }

    #[test]
    fn a_recreated_entry_starts_over_and_entries_gone_are_forgotten() {
        let t0 = Instant::now();
        let mut r = MfeRates::default();
        r.observe(vec![row(1, 500, 50_000), row(2, 5, 500)], t0);
        assert_eq!(r.v4.0.len(), 2);
        // Entry 2 is gone; entry 1 was re-created (its counters went back).
        let shown = r.observe(vec![row(1, 7, 700)], t0 + Duration::from_secs(1));
        assert_eq!(rates(&shown), [None]);
        assert_eq!(r.v4.0.len(), 1, "only existing entries keep a sample");
        let shown = r.observe(vec![row(1, 17, 1700)], t0 + Duration::from_secs(2));
        assert_eq!(rates(&shown), [Some((10, 8000, 1000))]);
    }
}
