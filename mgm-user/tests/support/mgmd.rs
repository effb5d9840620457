//! mgmd under test: its lab, configuration file, API socket and process; started, restarted,
//! reconfigured, signalled and stopped (with its pins removed) when dropped.
use super::*;

mod tables;
mod traffic;

/// A lab whose router runs mgmd; dropping it stops mgmd (SIGTERM, by PID), deletes the lab and
/// the private directory holding the configuration file and the API socket.
pub struct Mgmd {
    /// The lab (public so that tests can run commands on its hosts).
    pub lab: Lab,
    dir: PathBuf,
    /// The configured `bpffs` (`None`: mgmd's default).
    bpffs: Option<String>,
    pid: u32,
    runtime: tokio::runtime::Runtime,
    /// Where mgmd's output goes (inherited when `None`).
    log: Option<PathBuf>,
}

impl Mgmd {
    /// Starts mgmd on the router of `lab` with the configuration `body` (the `[daemon]` table
    /// naming the API socket is added), and waits until every configured interface that
    /// exists is in service.
    pub fn start(lab: Lab, body: &str) -> Result<Self> {
        Self::start_with(lab, body, Some(lab_bpffs()?), false)
    }

    /// Like [`Mgmd::start`], with mgmd's log (its stdout and stderr) written to the file
    /// [`Mgmd::log_path`] in its private directory.
    pub fn start_logged(lab: Lab, body: &str) -> Result<Self> {
        Self::start_with(lab, body, Some(lab_bpffs()?), true)
    }

    /// Like [`Mgmd::start`], with mgmd's bpffs directory chosen by the test.
    pub fn start_pinned_under(lab: Lab, body: &str, bpffs: &str) -> Result<Self> {
        Self::start_with(lab, body, Some(bpffs), false)
    }

    /// Like [`Mgmd::start`], with mgmd's default pin settings (no `bpffs` key).
    pub fn start_with_default_pins(lab: Lab, body: &str) -> Result<Self> {
        Self::start_with(lab, body, None, false)
    }

    fn start_with(lab: Lab, body: &str, bpffs: Option<&str>, logged: bool) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("{}-mgmd", lab.prefix()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let log = logged.then(|| dir.join("mgmd.log"));
        let mut mgmd = Self {
            lab,
            dir,
            bpffs: bpffs.map(str::to_owned),
            pid: 0,
            runtime,
            log,
        };
        mgmd.write_config(body)?;
        mgmd.spawn_daemon()?;
        Ok(mgmd)
    }

    /// Starts (another) mgmd with the current configuration file and waits until every
    /// configured interface that exists is in service.
    pub fn spawn_daemon(&mut self) -> Result<()> {
        self.spawn_daemon_behind(&[])?;
        self.wait_in_service()
    }

    /// Starts (another) mgmd with the current configuration file as the command `wrapper`
    /// runs (empty: none; e.g. a tracer followed by its options) and returns at once;
    /// [`Mgmd::pid`] is then the wrapper's.
    pub fn spawn_daemon_behind(&mut self, wrapper: &[&str]) -> Result<()> {
        let config = self.config_path();
        let config = path_str(&config)?;
        // mgmd logs warnings unless MGM_LOG asks for more (e.g. MGM_LOG=debug cargo test).
        let log = std::env::var("MGM_LOG").unwrap_or_else(|_| "warn".to_owned());
        let argv: Vec<&str> = wrapper
            .iter()
            .copied()
            .chain([MGMD, "--config", config, "--log", &log])
            .collect();
        self.pid = match &self.log {
            None => self.lab.spawn(Host::Router, &argv)?,
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                let mut cmd = self.lab.command(Host::Router, &argv);
                cmd.stdin(Stdio::null())
                    .stdout(file.try_clone()?)
                    .stderr(file);
                let child = cmd.spawn().context("starting mgmd")?;
                self.lab.adopt(child)
            }
        };
        Ok(())
    }

    /// Waits until every configured interface of mgmd is in service.
    pub fn wait_in_service(&self) -> Result<()> {
        wait_for(
            "mgmd's interfaces in service",
            Duration::from_secs(15),
            || {
                let Ok(rows) = self.try_interfaces() else {
                    return Ok(None);
                };
                let in_service = |r: &InterfaceRow| r.ifindex == 0 || r.xdp.is_some();
                Ok(rows.iter().all(in_service).then_some(()))
            },
        )
    }

    /// mgmd's log file, when started with [`Mgmd::start_logged`].
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Lines of mgmd's log (started with [`Mgmd::start_logged`]) containing `words`.
    pub fn log_lines(&self, words: &str) -> Result<usize> {
        self.log_lines_with(&[words])
    }

    /// Lines of mgmd's log containing each of `words`.
    pub fn log_lines_with(&self, words: &[&str]) -> Result<usize> {
        let text = std::fs::read_to_string(self.log_path().context("no log")?)?;
        Ok(text
            .lines()
            .filter(|l| words.iter().all(|w| l.contains(w)))
            .count())
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("api.sock")
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("mgmd.toml")
    }

    /// The data plane's counters (XDP and hold queues), by name.
    pub fn stats(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        match self.call(&Request::Stats)? {
            Response::Stats { counters } => Ok(counters),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// mgmd's PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Writes the configuration file: `body` after a `[daemon]` table naming the socket and
    /// the lab's bpffs (so mgmd pins its maps as in service). Keys at the top of `body`, before
    /// any table, belong to that `[daemon]` table.
    pub fn write_config(&self, body: &str) -> Result<()> {
        let bpffs = match &self.bpffs {
            Some(path) => format!("bpffs = {path:?}\n"),
            None => String::new(),
        };
        write_config_in(&self.dir, &bpffs, body).map(drop)
    }

    /// Rewrites the configuration file and sends mgmd SIGHUP.
    pub fn reload(&self, body: &str) -> Result<()> {
        self.write_config(body)?;
        self.signal(libc::SIGHUP)
    }

    /// Sends `signal` to mgmd.
    pub fn signal(&self, signal: libc::c_int) -> Result<()> {
        signal_pid(self.pid, signal)
    }

    /// One API request on a fresh connection.
    pub fn call(&self, request: &Request) -> Result<Response> {
        let socket = self.socket();
        self.runtime.block_on(async {
            let mut client = Client::connect(&socket).await?;
            Ok(client.call(request).await?)
        })
    }

    /// Runs mgmctl against this mgmd (as root).
    pub fn mgmctl(&self, args: &[&str]) -> Result<Output> {
        let socket = self.socket();
        Ok(std::process::Command::new(MGMCTL)
            .args(["--socket", path_str(&socket)?])
            .args(args)
            .stdin(Stdio::null())
            .output()?)
    }

    /// Starts `mgmctl monitor` (`--json` first in `options` for JSON lines).
    pub fn monitor(&self, options: &[&str]) -> Result<Monitor> {
        let mut child = std::process::Command::new(MGMCTL)
            .args(["--socket", path_str(&self.socket())?])
            .args(options)
            .arg("monitor")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("mgmctl monitor's stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Monitor { child, lines })
    }

    /// Runs mgmctl and fails unless it exits 0; returns its stdout.
    pub fn mgmctl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.mgmctl(args)?;
        if !out.status.success() {
            bail!(
                "mgmctl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// `mgmctl monitor` of a [`Mgmd`] ([`Mgmd::monitor`]), its lines read as they come; stopped (by
/// PID) when dropped.
pub struct Monitor {
    child: std::process::Child,
    /// Its output lines.
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mgmd {
    fn drop(&mut self) {
        // A test that killed mgmd (-9) leaves its pins: stop the last mgmd (its clean stop
        // removes them) and remove what is left, so that no test leaves maps behind.
        let pins = self.bpffs.as_ref().and_then(|bpffs| {
            let cookie = self
                .lab
                .in_ns(Host::Router, mgm_user::netns::cookie)
                .ok()?
                .ok()?;
            Some(PathBuf::from(bpffs).join(format!("net-{cookie}")))
        });
        if signal_pid(self.pid, libc::SIGTERM).is_ok() {
            let _ = wait_exited(self.pid);
        }
        if let Some(pins) = pins {
            let _ = std::fs::remove_dir_all(pins);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
