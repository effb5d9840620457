//! Test traffic through mgmd's router: `mcast` receivers and senders on the lab's hosts and
//! the check of what each receiver got.
use super::super::*;
use super::Mgmd;

impl Mgmd {
    /// Starts `mcast join` for `group` (IPv6 in a dual-stack lab) on the eth0 of `host`: it
    /// stops after `count` datagrams or `timeout_s` seconds. Returns once the host has joined.
    pub fn listen(
        &mut self,
        host: Host,
        group: impl Into<IpAddr>,
        count: u32,
        timeout_s: f64,
    ) -> Result<Listener> {
        Ok(self.lab.listen(host, MCAST, group, count, timeout_s)?)
    }

    /// [`Mgmd::listen`] for `source` only (a source-specific join).
    pub fn listen_to(
        &mut self,
        host: Host,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        count: u32,
        timeout_s: f64,
    ) -> Result<Listener> {
        let (group, source) = (group.into(), Some(source.into()));
        Ok(self
            .lab
            .listen_to(host, MCAST, group, source, count, timeout_s)?)
    }

    /// Sends `count` packets to `group` from the source while every receiver listens, and
    /// checks that exactly the receivers in `expected` got `0..count`, once each and in order,
    /// and the others nothing.
    pub fn expect_delivery(
        &mut self,
        group: impl Into<IpAddr>,
        count: u32,
        expected: &[u8],
        step: &str,
    ) -> Result<()> {
        let receivers: Vec<u8> = (1..=self.lab.receivers()).collect();
        self.expect_delivery_among(&receivers, group, count, expected, step)
    }

    /// [`Mgmd::expect_delivery`] with only the `receivers` listening.
    pub fn expect_delivery_among(
        &mut self,
        receivers: &[u8],
        group: impl Into<IpAddr>,
        count: u32,
        expected: &[u8],
        step: &str,
    ) -> Result<()> {
        let group = group.into();
        // Expected receivers stop at `count`: their long timeout only bounds a failure. The
        // others have 2 s to show a stray copy (a loaded machine may hide one, never fail).
        let listeners = receivers
            .iter()
            .map(|&n| {
                let timeout = if expected.contains(&n) { 30.0 } else { 2.0 };
                self.listen(Host::Receiver(n), group, count, timeout)
            })
            .collect::<Result<Vec<_>>>()?;
        self.send(Host::Source, group, count, 5)?;
        for (&n, listener) in receivers.iter().zip(listeners) {
            let received = listener.finish()?;
            if expected.contains(&n) {
                ensure!(
                    received.is_complete(u64::from(count)),
                    "{step}: rcv{n} should get 0..{count} once each, in order, got {:?}",
                    received.seqs
                );
            } else {
                ensure!(
                    received.seqs.is_empty(),
                    "{step}: rcv{n} should get nothing, got {:?}",
                    received.seqs
                );
            }
        }
        Ok(())
    }

    /// Streams `count` packets, 1 ms apart, from the source to `group` (from `source`) to
    /// receivers 1 and 2 through a `kill -9` of mgmd in the middle, once XDP forwards the flow
    /// (the new entry's hold mode, in which mgmd sends the packets itself, is over), and a new
    /// mgmd started once the killed one is gone (it takes over its punt sockets and links):
    /// fails unless both receivers get every packet once and in order.
    pub fn stream_through_kill_9(
        &mut self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        count: u32,
    ) -> Result<()> {
        let (source, group) = (source.into(), group.into());
        let listeners = [
            self.listen(Host::Receiver(1), group, count, 30.0)?,
            self.listen(Host::Receiver(2), group, count, 30.0)?,
        ];
        self.send_in_background(Host::Source, group, count, 1)?;
        self.wait_for_forwarded(source, group, 100)?;
        signal_pid(self.pid(), libc::SIGKILL)?;
        wait_exited(self.pid())?;
        self.spawn_daemon()?;
        for (n, listener) in (1..).zip(listeners) {
            let seqs = listener.finish()?.seqs;
            let out_of_place = (0..).zip(&seqs).filter(|(i, s)| *s != i).count();
            ensure!(
                seqs.iter().copied().eq(0..u64::from(count)),
                "receiver {n}: {} of {count} packets, {out_of_place} out of place",
                seqs.len()
            );
        }
        Ok(())
    }

    /// Sends `count` numbered datagrams to `group` from `host`'s eth0, one every
    /// `interval_ms`, and returns when they are sent.
    pub fn send(
        &self,
        host: Host,
        group: impl Into<IpAddr>,
        count: u32,
        interval_ms: u32,
    ) -> Result<()> {
        self.lab.send(host, test_send(group, count, interval_ms))?;
        Ok(())
    }

    /// Starts sending in the background (see [`Mgmd::send`]).
    pub fn send_in_background(
        &mut self,
        host: Host,
        group: impl Into<IpAddr>,
        count: u32,
        interval_ms: u32,
    ) -> Result<()> {
        self.lab
            .send_in_background(host, test_send(group, count, interval_ms))?;
        Ok(())
    }
}
