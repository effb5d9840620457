//! An external routing protocol that learns what the router already has, the way a protocol
//! ported from the C API would: it registers, enumerates the groups joined on the router
//! (`MgmGroupEnumerationStart` / `GetNext` until `ERROR_NO_MORE_ITEMS` / `End`) and walks the
//! forwarding entries (`MgmGetFirstMfe`, then `MgmGetNextMfe` from the last entry returned),
//! each with a deliberately small buffer: it starts with `--buffer` bytes (0 by default) and,
//! on `ERROR_INSUFFICIENT_BUFFER`, retries with the size mgmd says one entry needs.
//!
//! Every answer is printed as one JSON object per line, e.g.
//! `{"call":"get_first_mfe","status":122,"buffer_size":76,"num_entries":0}` followed by
//! `{"record":"mfe","group":"239.1.1.1",...}` per entry, then `{"done":true}`.
//!
//! `--family ipv6` walks the IPv6 MGM's groups and MFEs instead (their records hold 16-byte
//! addresses: a group entry is 64 bytes, an MFE 132 + 28 per outgoing interface).
//!
//! ```text
//! cargo run --example walk_protocol -- --socket /run/mgm/mgmd.sock --buffer 16
//! ```
use anyhow::{ensure, Context as _, Result};
use clap::Parser;
use mgm_user::{
    api::{
        proto::ApiFamily,
        protocol::{BufferAnswer, ProtocolClient},
        DEFAULT_SOCKET,
    },
    mgm::win32,
};
use serde_json::json;
use std::path::PathBuf;

/// Protocol id of the example (vendor 0x137, type 1, id 0x9a).
const PROTOCOL_ID: u32 = mgm_user::mgm::protocol_id(1, 0x137, 0x9a);
/// `MGM_ENUM_TYPES::ALL_SOURCES`.
const ALL_SOURCES: u32 = 1;
/// Calls before giving up: every answer either returns an entry or names a size that fits one.
const MAX_CALLS: usize = 100_000;

/// Walks the groups and MFEs of mgmd with small buffers.
#[derive(Parser)]
struct Args {
    /// mgmd's API socket.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// The first buffer size of every walk, in bytes.
    #[arg(long, default_value_t = 0)]
    buffer: u32,
    /// Component id to register with.
    #[arg(long, default_value_t = 0)]
    component: u32,
    /// The MGM to walk: ipv4 or ipv6.
    #[arg(long, default_value = "ipv4", value_parser = family)]
    family: ApiFamily,
}

/// An address family by its name in requests.
fn family(name: &str) -> Result<ApiFamily, String> {
    serde_json::from_value(json!(name)).map_err(|_| format!("{name}: ipv4 or ipv6"))
}

/// Prints an answer and its records; returns whether the walk is over.
fn show(call: &str, a: &BufferAnswer) -> Result<bool> {
    println!(
        "{}",
        json!({"call": call, "status": a.status, "buffer_size": a.buffer_size,
               "num_entries": a.num_entries})
    );
    for entry in &a.entries {
        println!("{}", serde_json::to_string(entry)?);
    }
    match a.status {
        win32::ERROR_NO_MORE_ITEMS => Ok(true),
        win32::ERROR_MORE_DATA | win32::ERROR_INSUFFICIENT_BUFFER | win32::NO_ERROR => Ok(false),
        other => anyhow::bail!("{call} failed with status {other}"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let mut p = ProtocolClient::register(&args.socket, PROTOCOL_ID, args.component, &[])
        .await
        .context("registering")?;

    let handle = p
        .group_enumeration_start_in(args.family, ALL_SOURCES)
        .await?;
    let mut size = args.buffer;
    for _ in 0..MAX_CALLS {
        let a = p.group_enumeration_get_next(handle, size).await?;
        if a.status == win32::ERROR_INSUFFICIENT_BUFFER {
            size = a.buffer_size;
        }
        if show("group_enumeration_get_next", &a)? {
            break;
        }
    }
    p.group_enumeration_end(handle).await?;

    let mut size = args.buffer;
    let mut a = p.get_first_mfe_in(args.family, size).await?;
    let mut done = show("get_first_mfe", &a)?;
    let mut start = None;
    for _ in 0..MAX_CALLS {
        if done {
            break;
        }
        if a.status == win32::ERROR_INSUFFICIENT_BUFFER {
            size = a.buffer_size;
        }
        start = a.last_mfe().or(start);
        let (call, next) = match start {
            Some((source, group)) => ("get_next_mfe", p.get_next_mfe(source, group, size).await?),
            None => (
                "get_first_mfe",
                p.get_first_mfe_in(args.family, size).await?,
            ),
        };
        a = next;
        done = show(call, &a)?;
    }
    ensure!(done, "the walk did not end within {MAX_CALLS} calls");
    println!("{}", json!({"done": true}));
    p.deregister().await?;
    Ok(())
}
