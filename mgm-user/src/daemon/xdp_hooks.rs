//! mgmd refuses to start when an interface it is configured to serve already holds an XDP
//! program it did not pin itself: another mgmd (without pins, or pinned elsewhere) or another
//! tool drives that interface, and mgmd's attach there would fail, leaving it unserved. The
//! program of mgmd's own pinned link (a restart, which takes the link over) is no obstacle;
//! nothing else is replaced. An interface that only comes later with someone else's program is
//! left out of service with a warning (`router::ifaces`).
use super::start_wait::retry_while_held;
use crate::config::InterfaceConfig;
use anyhow::{bail, Result};
use aya::programs::links::{FdLink, PinnedLink};
use futures::TryStreamExt as _;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage, LinkXdp};
use std::{ops::ControlFlow, path::Path};

/// An interface whose XDP hook holds a program that is not mgmd's.
struct Taken {
    interface: String,
    program: u32,
}

/// Fails, naming the interfaces and their programs, if one of `interfaces` (those present,
/// asked over `netlink`) holds an XDP program other than the one linked from mgmd's pin
/// `links_dir/<interface>` (`links_dir` `None`: unpinned), after waiting for one just killed
/// to release its links.
pub(super) async fn refuse_taken(
    netlink: &rtnetlink::Handle,
    interfaces: &[InterfaceConfig],
    links_dir: Option<&Path>,
) -> Result<()> {
    let found = retry_while_held(|| async {
        let links = netlink.link().get().execute().try_collect::<Vec<_>>().await;
        let taken = links.map(|links| {
            links
                .iter()
                .flat_map(|link| taken(link, interfaces, links_dir))
                .collect::<Vec<_>>()
        });
        match taken {
            Ok(taken) if !taken.is_empty() => ControlFlow::Continue(taken),
            done => ControlFlow::Break(done),
        }
    })
    .await;
    let taken = match found {
        ControlFlow::Break(done) => return done.map(drop).map_err(Into::into),
        ControlFlow::Continue(taken) => taken,
    };
    let names = taken
        .iter()
        .map(|t| {
            let name = program_name(t.program);
            format!(
                "interface {} already holds XDP program {} ({name})",
                t.interface, t.program
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    bail!(
        "{names}, which this mgmd did not pin: another mgmd (without pins, or pinned \
         elsewhere) or another tool uses it. Stop that first (a program attached with ip: \
         ip link set dev {} xdp off)",
        taken[0].interface
    )
}

/// The programs on the XDP hook of `link` that are not mgmd's, if it is one of `interfaces`.
fn taken(
    link: &LinkMessage,
    interfaces: &[InterfaceConfig],
    links_dir: Option<&Path>,
) -> Vec<Taken> {
    let name = link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name),
        _ => None,
    });
    let Some(name) = name.filter(|name| interfaces.iter().any(|i| &i.name == *name)) else {
        return Vec::new();
    };
    let ours = links_dir.and_then(|dir| pinned_program(&dir.join(name)));
    let mut programs: Vec<u32> = link
        .attributes
        .iter()
        .filter_map(|a| match a {
            LinkAttribute::Xdp(xdp) => Some(xdp),
            _ => None,
        })
        .flatten()
        .filter_map(|x| match x {
            LinkXdp::ProgId(id)
            | LinkXdp::DrvProgId(id)
            | LinkXdp::SkbProgId(id)
            | LinkXdp::HwProgId(id) => Some(*id),
            _ => None,
        })
        .filter(|&id| id != 0 && Some(id) != ours)
        .collect();
    programs.sort_unstable();
    programs.dedup();
    programs
        .into_iter()
        .map(|program| Taken {
            interface: name.clone(),
            program,
        })
        .collect()
}

/// The program of the XDP link pinned at `path`, if there is one.
fn pinned_program(path: &Path) -> Option<u32> {
    let link = FdLink::from(PinnedLink::from_pin(path).ok()?);
    link.info().ok().map(|info| info.program_id())
}

/// The name of loaded program `id` ("?" if it is gone or cannot be read).
fn program_name(id: u32) -> String {
    aya::programs::loaded_programs()
        .flatten()
        .find(|p| p.id() == id)
        .and_then(|p| p.name_as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}
