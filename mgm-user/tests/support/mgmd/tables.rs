//! What mgmd shows over its API socket (interfaces, entries, groups, protocols) and waits
//! until it shows something.
use super::super::*;
use super::Mgmd;

impl Mgmd {
    pub(super) fn try_interfaces(&self) -> Result<Vec<InterfaceRow>> {
        match self.call(&Request::ShowInterfaces)? {
            Response::Interfaces { rows } => Ok(rows),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// `show interfaces`.
    pub fn interfaces(&self) -> Result<Vec<InterfaceRow>> {
        self.try_interfaces()
    }

    /// Waits until mgmd shows `name` in service (returning its ifindex) or out of it; in
    /// service, also until its punt sockets are open (the kernel releases the sockets of an
    /// interface that left service a moment later, and mgmd retries until it does).
    pub fn wait_for_service(&self, name: &str, in_service: bool) -> Result<u32> {
        let ifindex = wait_for(
            &format!("{name} in service: {in_service}"),
            Duration::from_secs(30),
            || {
                let rows = self.interfaces()?;
                let row = rows.iter().find(|r| r.name == name).context("no row")?;
                Ok((row.xdp.is_some() == in_service).then_some(row.ifindex))
            },
        )?;
        if in_service {
            wait_for("punt sockets open", Duration::from_secs(10), || {
                let waiting = self.stats()?.get("punt_waiting_now").copied();
                Ok((waiting == Some(0)).then_some(()))
            })?;
        }
        Ok(ifindex)
    }

    /// `show mfe`.
    pub fn mfes(&self) -> Result<Vec<MfeRow>> {
        match self.call(&Request::ShowMfe)? {
            Response::Mfes { rows } => Ok(rows.into_iter().map(|r| r.entry).collect()),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// The MFE of (`source`, `group`), of either family, if any.
    pub fn mfe(
        &self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
    ) -> Result<Option<MfeRow>> {
        let (source, group) = (source.into(), group.into());
        Ok(self
            .mfes()?
            .into_iter()
            .find(|m| m.source == source && m.group == group))
    }

    /// The outgoing interfaces of the MFE of (`source`, `group`) (empty when there is none).
    pub fn oifs(&self, source: impl Into<IpAddr>, group: impl Into<IpAddr>) -> Result<Vec<String>> {
        Ok(self
            .mfe(source, group)?
            .map(|m| m.oifs.into_iter().map(|o| o.iface).collect())
            .unwrap_or_default())
    }

    /// Waits until the entry of (`source`, `group`) is established: at least `copies` copies
    /// went out of each of its outgoing interfaces, and the XDP program has forwarded at least
    /// `copies` packets. (A new entry starts in hold mode, in which mgmd itself sends the
    /// punted packets on, for up to a second; `show mfe` counts those copies per interface
    /// too, so the XDP program's own global `forwarded` counter tells that hold mode is over —
    /// exactly so when this entry is the only one forwarding.)
    pub fn wait_for_forwarded(
        &self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        copies: u64,
    ) -> Result<()> {
        let (source, group) = (source.into(), group.into());
        wait_for(
            &format!("{copies} copies of ({source}, {group}) forwarded by XDP on every interface"),
            Duration::from_secs(30),
            || {
                let entry = self.mfe(source, group)?;
                let sent = entry.is_some_and(|m| {
                    !m.oifs.is_empty() && m.oifs.iter().all(|o| o.packets >= copies)
                });
                let by_xdp = self.stats()?.get("forwarded").copied().unwrap_or(0) >= copies;
                Ok((sent && by_xdp).then_some(()))
            },
        )
    }

    /// `show groups`.
    pub fn groups(&self) -> Result<Vec<GroupRow>> {
        match self.call(&Request::ShowGroups)? {
            Response::Groups { rows } => Ok(rows),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// `show protocols`.
    pub fn protocols(&self) -> Result<Vec<ProtocolRow>> {
        match self.call(&Request::ShowProtocols)? {
            Response::Protocols { rows } => Ok(rows),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// Waits until IGMP holds a membership of `group` on each of `ifaces`.
    pub fn wait_for_igmp_members(&self, group: Ipv4Addr, ifaces: &[&str]) -> Result<()> {
        self.wait_for_members("igmp", group, ifaces)
    }

    /// Waits until `protocol` (as `show groups` names it: "igmp", "mld") holds a membership
    /// of `group` on each of `ifaces`.
    pub fn wait_for_members(
        &self,
        protocol: &str,
        group: impl Into<IpAddr>,
        ifaces: &[&str],
    ) -> Result<()> {
        let group = group.into();
        wait_for(
            &format!("{protocol} members of {group} on {ifaces:?}"),
            Duration::from_secs(10),
            || {
                let rows = self.groups()?;
                Ok(ifaces
                    .iter()
                    .all(|i| {
                        rows.iter()
                            .any(|r| r.group == group && r.iface == *i && r.protocol == protocol)
                    })
                    .then_some(()))
            },
        )
    }
}
