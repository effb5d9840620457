//! Traffic in a lab: `mcast send` sources of numbered datagrams, `mcast join` receivers whose
//! JSON report gives the sequence numbers that arrived, and the packet counters of the
//! kernel's multicast routes.
use super::{Host, Lab, LabError};
use std::{
    io::{BufRead as _, BufReader, Read as _},
    net::{IpAddr, Ipv4Addr},
    process::{ChildStderr, ChildStdout, Stdio},
};

/// A running `mcast join ... --json`, started by [`Lab::listen`].
pub struct Listener {
    stdout: ChildStdout,
    stderr: BufReader<ChildStderr>,
}

/// What a listener received.
#[derive(Debug)]
pub struct Received {
    /// Sequence numbers, in arrival order.
    pub seqs: Vec<u64>,
}

impl Received {
    /// Whether exactly `0..count` arrived, each once and in order (the first packets of a new
    /// flow too: they are held while its entry is created and leave before later ones).
    pub fn is_complete(&self, count: u64) -> bool {
        self.seqs.iter().copied().eq(0..count)
    }

    /// How many distinct sequence numbers arrived.
    pub fn distinct(&self) -> usize {
        let mut seqs = self.seqs.clone();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.len()
    }

    /// How many arrivals repeated a sequence number that had arrived before.
    pub fn duplicates(&self) -> usize {
        self.seqs.len() - self.distinct()
    }
}

impl Listener {
    /// Waits for `mcast join` to finish (count reached or timed out) and reads its report.
    pub fn finish(mut self) -> Result<Received, LabError> {
        let failed = |stderr: String| LabError::Failed {
            command: "mcast join".to_owned(),
            stderr,
        };
        let mut text = String::new();
        self.stdout
            .read_to_string(&mut text)
            .map_err(|e| failed(e.to_string()))?;
        let mut errors = String::new();
        let _ = self.stderr.read_to_string(&mut errors);
        let report: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| failed(format!("printed {text:?} ({e}; {errors})")))?;
        let seqs = report["packets"]
            .as_array()
            .ok_or_else(|| failed(format!("no packets in the report {text:?}")))?
            .iter()
            .filter_map(|p| p["seq"].as_u64())
            .collect();
        Ok(Received { seqs })
    }
}

/// An `mcast send` of numbered datagrams out of a host's eth0.
#[derive(Clone, Copy, Debug)]
pub struct McastSend<'a> {
    /// The leaf tool.
    pub mcast: &'a str,
    /// Destination group, IPv4 or IPv6.
    pub group: IpAddr,
    /// TTL (hop limit for IPv6) of the datagrams.
    pub ttl: u8,
    /// Datagrams, numbered from 0.
    pub count: u32,
    /// Milliseconds between two datagrams (0: back to back).
    pub interval_ms: u32,
}

impl McastSend<'_> {
    pub(super) fn argv(&self) -> Vec<String> {
        let words = [
            self.mcast,
            "send",
            &self.group.to_string(),
            "--iface",
            "eth0",
            "--ttl",
            &self.ttl.to_string(),
            "--count",
            &self.count.to_string(),
            "--interval-ms",
            &self.interval_ms.to_string(),
        ];
        words.iter().map(|w| w.to_string()).collect()
    }
}

impl Lab {
    /// Runs `send` on `host` and returns once every datagram is sent.
    pub fn send(&self, host: Host, send: McastSend<'_>) -> Result<(), LabError> {
        let argv = send.argv();
        self.run(host, &argv.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(())
    }

    /// Starts `send` on `host` and returns its PID; the lab ends it when dropped.
    pub fn send_in_background(&mut self, host: Host, send: McastSend<'_>) -> Result<u32, LabError> {
        let argv = send.argv();
        self.spawn(host, &argv.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Starts `mcast join` (the leaf tool at `mcast`) for `group` (IPv4, or IPv6 in a
    /// dual-stack lab) on the eth0 of `host`: it
    /// stops after `count` datagrams or `timeout_s` seconds. Returns once the host has joined;
    /// the lab ends it when dropped.
    pub fn listen(
        &mut self,
        host: Host,
        mcast: &str,
        group: impl Into<IpAddr>,
        count: u32,
        timeout_s: f64,
    ) -> Result<Listener, LabError> {
        self.listen_to(host, mcast, group.into(), None, count, timeout_s)
    }

    /// [`Lab::listen`] for `source` only when given (a source-specific join, `--source`).
    pub fn listen_to(
        &mut self,
        host: Host,
        mcast: &str,
        group: IpAddr,
        source: Option<IpAddr>,
        count: u32,
        timeout_s: f64,
    ) -> Result<Listener, LabError> {
        let (group, count, timeout) = (group.to_string(), count.to_string(), timeout_s.to_string());
        let source = source.map(|s| s.to_string());
        let mut argv = vec![
            mcast,
            "join",
            &group,
            "--iface",
            "eth0",
            "--json",
            "--count",
            &count,
            "--timeout",
            &timeout,
        ];
        if let Some(source) = &source {
            argv.extend(["--source", source]);
        }
        let mut cmd = self.command(host, &argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| LabError::Spawn {
            command: argv.join(" "),
            source,
        })?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        self.adopt(child);
        let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
            unreachable!("both are piped");
        };
        let mut stderr = BufReader::new(stderr);
        let mut line = String::new();
        let _ = stderr.read_line(&mut line);
        if !line.starts_with("joined") {
            return Err(LabError::Failed {
                command: format!("mcast join on {host:?}"),
                stderr: line,
            });
        }
        Ok(Listener { stdout, stderr })
    }

    /// The packet counter of the kernel's (`source`, `group`) entry on `host` (`ip -s mroute`),
    /// if it has that entry.
    pub fn kernel_mroute_packets(
        &self,
        host: Host,
        source: Ipv4Addr,
        group: Ipv4Addr,
    ) -> Result<Option<u64>, LabError> {
        let out = self.run(host, &["ip", "-s", "-j", "mroute", "show"])?;
        let entries: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| LabError::Failed {
                command: "ip -s -j mroute show".to_owned(),
                stderr: format!("not JSON: {e}"),
            })?;
        let found = entries.as_array().into_iter().flatten().find(|e| {
            e["src"].as_str() == Some(&source.to_string())
                && e["dst"].as_str() == Some(&group.to_string())
        });
        Ok(found.map(|e| e["packets"].as_u64().unwrap_or(0)))
    }
}
