//! The punt path and the hold handover: punted packets are held until their entry exists, and an
//! entry leaves hold mode once its punt path is quiet.
use super::*;

impl Router {
    pub(super) fn open_punt_sockets(&mut self, link: &Link) {
        let queues = rx_queues(&link.name);
        if let Err(e) = self.punt.open(&mut self.backend, link.ifindex, queues) {
            warn!(interface = %link.name, error = %e, "no punt sockets: first packets of new flows go to the kernel");
            return;
        }
        let Ok(mut fds) = self.punt_fds.lock() else {
            return;
        };
        for socket in self.punt.sockets_mut(link.ifindex) {
            if let Ok(fd) = socket.as_fd().try_clone_to_owned() {
                fds.push(fd);
            }
        }
    }

    /// The descriptors the punt watcher polls.
    pub fn punt_fds(&self) -> Arc<Mutex<Vec<OwnedFd>>> {
        self.punt_fds.clone()
    }

    /// Reads every punted packet: packets of flows whose entry is pending are held, packets
    /// that raced an installed entry are sent on at once.
    pub fn drain_punts(&mut self) {
        let mut frames = Vec::new();
        let ifindexes: Vec<u32> = self.egress.keys().copied().collect();
        for ifindex in ifindexes {
            for socket in self.punt.sockets_mut(ifindex) {
                socket.recv(|frame| frames.push(frame.to_vec()));
            }
        }
        let now = Instant::now();
        for frame in frames {
            let flow = Hold::flow_of(&frame);
            if let Some(drain) = flow.and_then(|sg| self.draining.get_mut(&sg)) {
                drain.0 = now;
            }
            let installed = flow
                .filter(|sg| !self.hold.is_waiting(*sg))
                .and_then(|sg| self.mgm.mfe(sg))
                .map(|m| m.oifs().iter().map(|o| o.ifindex).collect::<Vec<u32>>());
            match installed {
                Some(oifs) => self.hold.forward_now(&frame, &oifs, &self.egress),
                None => {
                    self.hold.punted(&frame, now);
                }
            }
        }
        self.hand_over(now);
    }

    /// Ends hold mode for entries whose punt path has gone quiet (every packet punted before
    /// has been sent on) or that reached the time limit.
    fn hand_over(&mut self, now: Instant) {
        let ready: Vec<Sg> = self
            .draining
            .iter()
            .filter(|(_, (last, deadline))| now >= *last + HOLD_QUIET || now >= *deadline)
            .map(|(sg, _)| *sg)
            .collect();
        for sg in ready {
            self.draining.remove(&sg);
            if let Err(e) = self.backend.release_hold(key_of(sg)) {
                warn!(source = %sg.source, group = %sg.group, error = %e, "ending hold mode failed");
            }
        }
    }

    /// Periodic upkeep: punted packets, aged hold queues.
    pub fn housekeeping(&mut self) {
        self.drain_punts();
        self.hold.expire(Instant::now());
        let deadline = self.answer_deadline;
        self.forget_questions(|_, asked| asked.elapsed() > deadline);
    }

    /// Counters of the hold queues, by name.
    pub fn hold_counters(&self) -> BTreeMap<String, u64> {
        let value = serde_json::to_value(self.hold.counters()).unwrap_or_default();
        let mut out: BTreeMap<String, u64> = value
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (format!("hold_{k}"), v.as_u64().unwrap_or(0)))
            .collect();
        out.insert("hold_queued_now".into(), self.hold.held() as u64);
        out
    }
}

/// Receive queues of an interface (one punt socket each).
fn rx_queues(name: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}
