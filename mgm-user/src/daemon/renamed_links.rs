//! Pinned XDP links follow the renames made while no mgmd ran. A link is pinned under its
//! interface's name but attached to its ifindex; when configured interfaces swap names (or one
//! takes the name of another) the pin of each name holds another interface's link, and the
//! attach by name would meet a hook already taken. Before the data plane is loaded, each pin
//! whose interface now bears another configured name is moved to that name: forwarding goes on
//! throughout (the links stay attached), and the attach then takes over the right link.
use crate::config::InterfaceConfig;
use aya::programs::links::{FdLink, PinnedLink};
use std::{collections::HashMap, path::Path};
use tracing::{info, warn};

/// Moves the pins of `links_dir` whose interface now bears another of the configured
/// `interfaces`' names to that name (a pin left there before, of an interface deleted or not
/// configured, is removed: the loader would replace it all the same). A pin that cannot be
/// read is left; one that cannot be pinned anew is logged, and its link replaced on attach.
/// Returns the ifindexes of the interfaces whose links moved.
pub(super) fn follow_renames(links_dir: &Path, interfaces: &[InterfaceConfig]) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(links_dir) else {
        return Vec::new();
    };
    let configured: HashMap<u32, &str> = interfaces
        .iter()
        .filter_map(|i| Some((crate::rawio::ifindex(&i.name).ok()?, i.name.as_str())))
        .collect();
    let moves: Vec<(String, &str, FdLink, u32)> = entries
        .flatten()
        .filter_map(|entry| {
            let pin = entry.file_name().into_string().ok()?;
            let (link, ifindex) = pinned_link(&entry.path())?;
            let now_named = *configured.get(&ifindex)?;
            (now_named != pin).then_some((pin, now_named, link, ifindex))
        })
        .collect();
    // bpffs renames nothing: each link is held open, unpinned, then pinned under its new name
    // (all unpinned first: in a swap each new name is another move's old one).
    for (pin, ..) in &moves {
        let _ = std::fs::remove_file(links_dir.join(pin));
    }
    let renamed = moves.iter().map(|(.., ifindex)| *ifindex).collect();
    for (pin, to, link, _) in moves {
        let target = links_dir.join(to);
        let _ = std::fs::remove_file(&target);
        match link.pin(&target) {
            Ok(_) => info!(
                pinned_as = pin,
                interface = to,
                "interface renamed while no mgmd ran: its pinned XDP link now goes by its new name"
            ),
            Err(e) => warn!(pinned_as = pin, interface = to, error = %e,
                "the pinned XDP link of a renamed interface cannot be pinned under its new name: \
                 it is replaced"),
        }
    }
    renamed
}

/// The XDP link pinned at `path`, opened, and the ifindex it is attached to (the `ifindex`
/// line the kernel shows in the fdinfo of the link's descriptor).
fn pinned_link(path: &Path) -> Option<(FdLink, u32)> {
    let link = FdLink::from(PinnedLink::from_pin(path).ok()?);
    let id = link.info().ok()?.id();
    let id_line = format!("link_id:\t{id}");
    std::fs::read_dir("/proc/self/fdinfo")
        .ok()?
        .flatten()
        .filter_map(|fd| std::fs::read_to_string(fd.path()).ok())
        .find(|info| info.lines().any(|l| l == id_line))?
        .lines()
        .find_map(|l| l.strip_prefix("ifindex:\t")?.trim().parse().ok())
        .map(|ifindex| (link, ifindex))
}
