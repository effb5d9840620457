//! The punt path: AF_XDP sockets receiving the misses of each interface, their slots in the
//! `PUNT_SOCKETS` map, and the interface settings that point the XDP program at them.
use super::{
    loader::{map_name, DataPlane},
    xdp_backend::XdpBackend,
    xsk::{XskConfig, XskSocket},
    DataPlaneError,
};
use aya::maps::{MapData, XskMap};
use mgm_common::limits;
use std::{collections::BTreeMap, os::fd::AsRawFd};

/// The punt sockets of every interface.
pub struct PuntSockets {
    map: XskMap<MapData>,
    next_slot: u32,
    sockets: BTreeMap<u32, Vec<XskSocket>>,
    config: XskConfig,
}

impl PuntSockets {
    /// Takes the punt-socket map of `plane`.
    pub fn new(plane: &mut DataPlane, config: XskConfig) -> Result<Self, DataPlaneError> {
        Ok(Self {
            map: plane.take_map(map_name::PUNT_SOCKETS)?.try_into()?,
            next_slot: 0,
            sockets: BTreeMap::new(),
            config,
        })
    }

    /// Opens one socket per receive queue `0..queues` of `ifindex` (from the router's network
    /// namespace) and points the interface's misses at them.
    pub fn open(
        &mut self,
        backend: &mut XdpBackend,
        ifindex: u32,
        queues: u32,
    ) -> Result<(), DataPlaneError> {
        if self.sockets.contains_key(&ifindex) {
            return Err(DataPlaneError::Invalid(format!(
                "interface {ifindex} already has punt sockets"
            )));
        }
        let first = self.next_slot;
        if queues == 0 || first + queues > limits::PUNT_SOCKETS {
            return Err(DataPlaneError::Full("the punt socket slots"));
        }
        let mut sockets = Vec::new();
        for queue in 0..queues {
            let socket = XskSocket::bind(ifindex, queue, self.config).map_err(|source| {
                DataPlaneError::Sys {
                    call: "binding an AF_XDP punt socket",
                    source,
                }
            })?;
            self.map.set(first + queue, socket.as_raw_fd(), 0)?;
            sockets.push(socket);
        }
        backend.set_punt_slots(ifindex, first, queues)?;
        self.next_slot += queues;
        self.sockets.insert(ifindex, sockets);
        Ok(())
    }

    /// The sockets of `ifindex`, one per receive queue.
    pub fn sockets_mut(&mut self, ifindex: u32) -> &mut [XskSocket] {
        self.sockets
            .get_mut(&ifindex)
            .map(Vec::as_mut_slice)
            .unwrap_or_default()
    }
}
