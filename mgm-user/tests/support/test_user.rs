//! A local user made for one test (unique name per run), removed when dropped, also when the
//! test fails: the hostile or unprivileged user of the security tests.
use anyhow::{ensure, Context as _, Result};
use std::{
    os::unix::process::CommandExt as _,
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

/// A user (with a group of the same name) that exists while this lives.
pub struct TestUser {
    /// Login name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid (its own group).
    pub gid: u32,
}

fn id(flag: &str, name: &str) -> Result<u32> {
    let out = Command::new("id").args([flag, name]).output()?;
    ensure!(out.status.success(), "id {flag} {name} failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

impl TestUser {
    /// Creates the user (no home directory, no login shell).
    pub fn create() -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mgmsec{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("useradd")
            .args([
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(&name)
            .output()
            .context("running useradd")?;
        ensure!(
            out.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // From here on, dropping removes it.
        let mut user = Self {
            name,
            uid: 0,
            gid: 0,
        };
        user.uid = id("-u", &user.name)?;
        user.gid = id("-g", &user.name)?;
        Ok(user)
    }

    /// A command that runs `program` as this user (its uid and gid, no other groups).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.uid(self.uid).gid(self.gid).stdin(Stdio::null());
        cmd
    }

    /// Runs `program` with `args` as this user.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output> {
        Ok(self.command(program).args(args).output()?)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}
