//! Labs whose veths have several queues, and steering a sender to one of them.
//!
//! A veth hands a frame to the receive queue of its peer that has the index of the transmit
//! queue the frame left by (an XDP redirect into a veth takes the queue of the sending CPU
//! instead). With the transmit queues mapped to CPUs one to one (XPS,
//! [`Lab::steer_tx_queues_by_cpu`]), a sender pinned to CPU `i` reaches the router on its
//! receive queue `i`, and the router's XDP program runs for it on CPU `i`.
use super::{Host, Lab, LabError, McastSend, Stack};

impl Lab {
    /// The IPv4 star topology ([`Lab::star`]) with `queues` receive and transmit queues on
    /// every veth (1 to 64).
    pub fn star_queues(receivers: u8, queues: u16) -> Result<Self, LabError> {
        Self::build_star(
            &super::unique_prefix(),
            receivers,
            Stack::V4,
            queues.clamp(1, 64),
        )
    }

    /// Maps transmit queue `i` of `iface` on `host` to CPU `i` (XPS) for every queue of the lab.
    pub fn steer_tx_queues_by_cpu(&self, host: Host, iface: &str) -> Result<(), LabError> {
        for queue in 0..self.queues {
            let mask = format!("{:x}", 1u64 << queue);
            let path = format!("/sys/class/net/{iface}/queues/tx-{queue}/xps_cpus");
            self.run(host, &["sh", "-c", &format!("echo {mask} > {path}")])?;
        }
        Ok(())
    }

    /// Runs `send` on `host` pinned to CPU `cpu` and returns once every datagram is sent.
    pub fn send_on_cpu(&self, host: Host, send: McastSend<'_>, cpu: usize) -> Result<(), LabError> {
        let cpu = cpu.to_string();
        let mut argv = vec!["taskset".to_owned(), "-c".to_owned(), cpu];
        argv.extend(send.argv());
        self.run(host, &argv.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(())
    }

    /// Frames each receive queue of the veth `iface` on `host` handed to XDP (the veth's
    /// `rx_queue_N_xdp_packets` statistics), by queue.
    pub fn rx_queue_xdp_packets(&self, host: Host, iface: &str) -> Result<Vec<u64>, LabError> {
        let output = self.run(host, &["ethtool", "-S", iface])?;
        let text = String::from_utf8_lossy(&output.stdout);
        Ok((0..self.queues)
            .map(|queue| {
                let name = format!("rx_queue_{queue}_xdp_packets:");
                text.lines()
                    .find_map(|l| l.trim().strip_prefix(&name))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0)
            })
            .collect())
    }
}
