//! An external routing protocol for mgmd, speaking the API socket through
//! [`ProtocolClient`]: a minimal model of what PIM or DVMRP would do from their own process.
//!
//! It registers, takes the interfaces named with `--take` (configure them in mgmd with
//! `owner = "external"`, so no built-in protocol holds them), optionally adds (\*,G)
//! memberships of its own (`--join GROUP@IFACE`), and then serves its callbacks:
//!
//! - creation alert: forwards on every offered interface except those named with `--veto`;
//! - join, prune, local join and local leave alerts: noted;
//! - FALSE prune alerts are left unanswered, so mgmd's default MFE lifetime applies.
//!
//! Every callback and every action is printed on stdout as one JSON object per line, e.g.
//! `{"action":"take","iface":"rcv1","ifindex":4}` or `{"callback":"join_alert",...}`, so a test
//! or an operator can follow it. It exits when mgmd closes the connection. When it exits or
//! dies, mgmd deregisters it: its interfaces go back to IGMP alone and its memberships are
//! removed.
//!
//! ```text
//! cargo run --example veto_protocol -- --socket /run/mgm/mgmd.sock \
//!     --take rcv1 --take rcv2 --veto rcv2 --join 239.3.9.9@rcv1
//! ```
use anyhow::{bail, Context as _, Result};
use clap::Parser;
use mgm_user::api::{
    proto::{ApiAnswer, ApiCallback, ApiSg, Event},
    protocol::{ProtocolClient, ProtocolError},
    WireError, DEFAULT_SOCKET,
};
use serde_json::json;
use std::{collections::BTreeSet, net::Ipv4Addr, path::PathBuf};

/// Protocol id of the example (vendor 0x137, type 1, id 0x99).
const PROTOCOL_ID: u32 = mgm_user::mgm::protocol_id(1, 0x137, 0x99);
/// `MGM_JOIN_STATE_FLAG`.
const JOIN: u32 = 1;

/// An external routing protocol that vetoes chosen interfaces in creation alerts.
#[derive(Parser)]
struct Args {
    /// mgmd's API socket.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Take ownership of this interface (repeat for several).
    #[arg(long)]
    take: Vec<String>,
    /// Refuse forwarding on this interface in creation alerts (repeat for several).
    #[arg(long)]
    veto: Vec<String>,
    /// Add a (*,G) membership of this protocol: GROUP@IFACE (repeat for several).
    #[arg(long)]
    join: Vec<String>,
    /// Component id to register with.
    #[arg(long, default_value_t = 0)]
    component: u32,
}

fn print(value: serde_json::Value) {
    println!("{value}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let callbacks = [
        ApiCallback::CreationAlert,
        ApiCallback::JoinAlert,
        ApiCallback::PruneAlert,
        ApiCallback::LocalJoin,
        ApiCallback::LocalLeave,
    ];
    let mut protocol =
        ProtocolClient::register(&args.socket, PROTOCOL_ID, args.component, &callbacks)
            .await
            .context("registering")?;
    print(json!({"action": "register", "handle": protocol.handle()}));
    for name in &args.take {
        let ifindex = protocol.interface_index(name).await?;
        protocol
            .take_interface(ifindex)
            .await
            .with_context(|| format!("taking {name}"))?;
        print(json!({"action": "take", "iface": name, "ifindex": ifindex}));
    }
    let mut vetoed = BTreeSet::new();
    for name in &args.veto {
        vetoed.insert(protocol.interface_index(name).await?);
    }
    for spec in &args.join {
        let Some((group, name)) = spec.split_once('@') else {
            bail!("--join {spec}: expected GROUP@IFACE");
        };
        let group: Ipv4Addr = group.parse().with_context(|| format!("--join {spec}"))?;
        let ifindex = protocol.interface_index(name).await?;
        let sg = ApiSg::new(Ipv4Addr::UNSPECIFIED, group);
        protocol
            .add_membership(sg, ifindex, JOIN)
            .await
            .with_context(|| format!("joining {spec}"))?;
        print(json!({"action": "join", "group": group, "iface": name}));
    }
    print(json!({"action": "ready"}));
    loop {
        let event = match protocol.next_event().await {
            Ok(event) => event,
            Err(ProtocolError::Wire(WireError::Closed)) => {
                print(json!({"action": "closed"}));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        print(serde_json::to_value(&event)?);
        if let Event::CreationAlert {
            query, mut entries, ..
        } = event
        {
            for entry in &mut entries {
                if vetoed.contains(&entry.ifid.ifindex) {
                    entry.enabled = false;
                }
            }
            let answer = ApiAnswer::CreationAlert { query, entries };
            print(json!({"action": "answer", "answer": answer}));
            protocol.answer(answer).await?;
        }
    }
}
