//! A typed client for external routing protocols: one registered connection to mgmd offering
//! the MGM calls as methods and the callbacks as [`Event`]s.
//!
//! ```no_run
//! # async fn run() -> Result<(), mgm_user::api::protocol::ProtocolError> {
//! use mgm_user::api::{protocol::ProtocolClient, proto::{ApiAnswer, ApiCallback, Event}};
//! let mut p = ProtocolClient::register(
//!     "/run/mgm/mgmd.sock",
//!     0x0137_0099,
//!     0,
//!     &[ApiCallback::CreationAlert],
//! )
//! .await?;
//! let ifindex = p.interface_index("eth1").await?;
//! p.take_interface(ifindex).await?;
//! loop {
//!     if let Event::CreationAlert { query, entries, .. } = p.next_event().await? {
//!         p.answer(ApiAnswer::CreationAlert { query, entries }).await?;
//!     }
//! }
//! # }
//! ```
//!
//! Every MGM function has a method; the buffer calls return a [`BufferAnswer`] with the Win32
//! status, so a loop written against the C API ports one to one:
//!
//! ```no_run
//! # async fn walk(p: &mut mgm_user::api::protocol::ProtocolClient) -> Result<(), mgm_user::api::protocol::ProtocolError> {
//! use mgm_user::mgm::win32;
//! let mut size = 60; // room for one MFE without outgoing interfaces
//! let mut answer = p.get_first_mfe(size).await?;
//! loop {
//!     if answer.status == win32::ERROR_INSUFFICIENT_BUFFER {
//!         size = answer.buffer_size; // retry with the size of the next entry
//!     }
//!     // ... use answer.entries ...
//!     let Some((source, group)) = answer.last_mfe() else { break };
//!     if answer.status == win32::ERROR_NO_MORE_ITEMS { break }
//!     answer = p.get_next_mfe(source, group, size).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Addresses are of either family: IPv6 ones reach mgmd's IPv6 MGM. The calls that name no
//! address (`get_first_mfe*`, `group_enumeration_start`) reach the IPv4 MGM, their `_in` forms
//! the [`ApiFamily`] given.
//!
//! mgmd deregisters the protocol when the connection closes, releasing its interfaces (which
//! removes its memberships), so a protocol that dies leaves nothing behind.
use super::{
    client::Client,
    proto::{
        ApiAnswer, ApiCallback, ApiFamily, ApiIfId, ApiMasks, ApiRecord, ApiSg, Event, Request,
        Response,
    },
    records::from_hex,
    WireError,
};
use std::{net::IpAddr, path::Path};

/// The out-parameters of a buffer call ([`Response::Buffer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferAnswer {
    /// The Win32 status (see [`crate::mgm::win32`]).
    pub status: u32,
    /// `*pdwBufferSize` after the call.
    pub buffer_size: u32,
    /// `*pdwNumEntries`.
    pub num_entries: u32,
    /// The packed MIB records.
    pub records: Vec<u8>,
    /// The same records, decoded.
    pub entries: Vec<ApiRecord>,
}

impl BufferAnswer {
    /// (source, group) of the last MFE record, the start key of the next `GetNext` call.
    pub fn last_mfe(&self) -> Option<(IpAddr, IpAddr)> {
        self.entries.iter().rev().find_map(|r| match r {
            ApiRecord::Mfe(m) => Some((m.head.source, m.head.group)),
            ApiRecord::MfeStats(m) => Some((m.head.source, m.head.group)),
            ApiRecord::SourceGroup { .. } => None,
        })
    }
}

/// Options of a registration beyond the callbacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegisterOptions {
    /// How long mgmd waits for answers, ms (10..=10000; `None`: 1000).
    pub answer_deadline_ms: Option<u32>,
    /// A-10: a rejecting RPF answer makes the MFE negative.
    pub rpf_reject: bool,
}

/// Errors of a protocol's calls.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The connection failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// mgmd refused the call.
    #[error("mgmd refused: {message} (code {code})")]
    Refused {
        /// The Win32-compatible code (see [`Response::Error`]).
        code: u32,
        /// mgmd's explanation.
        message: String,
    },
    /// mgmd answered with something the call does not return.
    #[error("unexpected answer {0:?}")]
    Unexpected(Box<Response>),
    /// No managed interface has that name.
    #[error("mgmd manages no interface named {0}")]
    NoSuchInterface(String),
}

/// A registered external routing protocol.
pub struct ProtocolClient {
    client: Client,
    handle: u64,
}

impl ProtocolClient {
    /// Connects to mgmd's API socket at `path` and registers as protocol
    /// (`protocol_id`, `component_id`) asking for `callbacks`.
    pub async fn register(
        path: impl AsRef<Path>,
        protocol_id: u32,
        component_id: u32,
        callbacks: &[ApiCallback],
    ) -> Result<Self, ProtocolError> {
        let options = RegisterOptions::default();
        Self::register_with(path, protocol_id, component_id, callbacks, options).await
    }

    /// [`ProtocolClient::register`] with [`RegisterOptions`].
    pub async fn register_with(
        path: impl AsRef<Path>,
        protocol_id: u32,
        component_id: u32,
        callbacks: &[ApiCallback],
        options: RegisterOptions,
    ) -> Result<Self, ProtocolError> {
        let mut client = Client::connect(path).await?;
        let request = Request::Register {
            protocol_id,
            component_id,
            callbacks: callbacks.iter().map(|c| c.name().to_owned()).collect(),
            answer_deadline_ms: options.answer_deadline_ms,
            rpf_reject: options.rpf_reject,
        };
        match refused(client.call(&request).await?)? {
            Response::Registered { handle } => Ok(Self { client, handle }),
            other => Err(ProtocolError::Unexpected(Box::new(other))),
        }
    }

    /// The handle mgmd gave this protocol.
    pub fn handle(&self) -> u64 {
        self.handle
    }

    /// The current ifindex of the managed interface `name`.
    pub async fn interface_index(&mut self, name: &str) -> Result<u32, ProtocolError> {
        match refused(self.client.call(&Request::ShowInterfaces).await?)? {
            Response::Interfaces { rows } => rows
                .into_iter()
                .find(|r| r.name == name && r.ifindex != 0)
                .map(|r| r.ifindex)
                .ok_or_else(|| ProtocolError::NoSuchInterface(name.to_owned())),
            other => Err(ProtocolError::Unexpected(Box::new(other))),
        }
    }

    /// `MgmTakeInterfaceOwnership` of a broadcast interface.
    pub async fn take_interface(&mut self, ifindex: u32) -> Result<(), ProtocolError> {
        self.ok(Request::TakeInterface {
            ifid: interface(ifindex),
        })
        .await
    }

    /// `MgmReleaseInterfaceOwnership` of a broadcast interface.
    pub async fn release_interface(&mut self, ifindex: u32) -> Result<(), ProtocolError> {
        self.ok(Request::ReleaseInterface {
            ifid: interface(ifindex),
        })
        .await
    }

    /// `MgmAddGroupMembershipEntry` on a broadcast interface (flags: 1 JOIN, 2 FORWARD).
    pub async fn add_membership(
        &mut self,
        sg: ApiSg,
        ifindex: u32,
        flags: u32,
    ) -> Result<(), ProtocolError> {
        self.ok(Request::AddMembership {
            sg,
            ifid: interface(ifindex),
            flags,
            masks: None,
        })
        .await
    }

    /// `MgmDeleteGroupMembershipEntry` on a broadcast interface.
    pub async fn delete_membership(
        &mut self,
        sg: ApiSg,
        ifindex: u32,
        flags: u32,
    ) -> Result<(), ProtocolError> {
        self.ok(Request::DeleteMembership {
            sg,
            ifid: interface(ifindex),
            flags,
            masks: None,
        })
        .await
    }

    /// `MgmTakeInterfaceOwnership` of any interface, next hop included.
    pub async fn take(&mut self, ifid: ApiIfId) -> Result<(), ProtocolError> {
        self.ok(Request::TakeInterface { ifid }).await
    }

    /// `MgmReleaseInterfaceOwnership` of any interface.
    pub async fn release(&mut self, ifid: ApiIfId) -> Result<(), ProtocolError> {
        self.ok(Request::ReleaseInterface { ifid }).await
    }

    /// `MgmGetProtocolOnInterface`: (protocol id, component id).
    pub async fn protocol_on_interface(
        &mut self,
        ifid: ApiIfId,
    ) -> Result<(u32, u32), ProtocolError> {
        match refused(self.call(Request::ProtocolOnInterface { ifid }).await?)? {
            Response::Owner {
                protocol_id,
                component_id,
            } => Ok((protocol_id, component_id)),
            other => Err(ProtocolError::Unexpected(Box::new(other))),
        }
    }

    /// `MgmAddGroupMembershipEntry` with every parameter (masks per A-05).
    pub async fn add_membership_entry(
        &mut self,
        sg: ApiSg,
        masks: ApiMasks,
        ifid: ApiIfId,
        flags: u32,
    ) -> Result<(), ProtocolError> {
        let masks = Some(masks);
        self.ok(Request::AddMembership {
            sg,
            ifid,
            flags,
            masks,
        })
        .await
    }

    /// `MgmDeleteGroupMembershipEntry` with every parameter.
    pub async fn delete_membership_entry(
        &mut self,
        sg: ApiSg,
        masks: ApiMasks,
        ifid: ApiIfId,
        flags: u32,
    ) -> Result<(), ProtocolError> {
        let masks = Some(masks);
        self.ok(Request::DeleteMembership {
            sg,
            ifid,
            flags,
            masks,
        })
        .await
    }

    /// `MgmGroupEnumerationStart` (0 ANY_SOURCE, 1 ALL_SOURCES) of the IPv4 memberships: the
    /// enumeration handle.
    pub async fn group_enumeration_start(&mut self, enum_type: u32) -> Result<u64, ProtocolError> {
        self.group_enumeration_start_in(ApiFamily::Ipv4, enum_type)
            .await
    }

    /// `MgmGroupEnumerationStart` in the MGM of `family`; the handle's later calls stay there.
    pub async fn group_enumeration_start_in(
        &mut self,
        family: ApiFamily,
        enum_type: u32,
    ) -> Result<u64, ProtocolError> {
        let family = Some(family);
        match refused(
            self.call(Request::GroupEnumerationStart { enum_type, family })
                .await?,
        )? {
            Response::EnumHandle { handle } => Ok(handle),
            other => Err(ProtocolError::Unexpected(Box::new(other))),
        }
    }

    /// `MgmGroupEnumerationGetNext`.
    pub async fn group_enumeration_get_next(
        &mut self,
        handle: u64,
        buffer_size: u32,
    ) -> Result<BufferAnswer, ProtocolError> {
        self.buffer(Request::GroupEnumerationGetNext {
            handle,
            buffer_size,
        })
        .await
    }

    /// `MgmGroupEnumerationEnd`.
    pub async fn group_enumeration_end(&mut self, handle: u64) -> Result<(), ProtocolError> {
        self.ok(Request::GroupEnumerationEnd { handle }).await
    }

    /// `MgmGetMfe` (in the MGM of the addresses' family).
    pub async fn get_mfe(
        &mut self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        buffer_size: u32,
    ) -> Result<BufferAnswer, ProtocolError> {
        self.buffer(Request::GetMfe {
            source: source.into(),
            group: group.into(),
            buffer_size,
            family: None,
        })
        .await
    }

    /// `MgmGetFirstMfe` of the IPv4 MGM.
    pub async fn get_first_mfe(&mut self, buffer_size: u32) -> Result<BufferAnswer, ProtocolError> {
        self.get_first_mfe_in(ApiFamily::Ipv4, buffer_size).await
    }

    /// `MgmGetFirstMfe` of the MGM of `family`.
    pub async fn get_first_mfe_in(
        &mut self,
        family: ApiFamily,
        buffer_size: u32,
    ) -> Result<BufferAnswer, ProtocolError> {
        let family = Some(family);
        self.buffer(Request::GetFirstMfe {
            buffer_size,
            family,
        })
        .await
    }

    /// `MgmGetNextMfe`: MFEs strictly after (source, group).
    pub async fn get_next_mfe(
        &mut self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        buffer_size: u32,
    ) -> Result<BufferAnswer, ProtocolError> {
        self.buffer(Request::GetNextMfe {
            source: source.into(),
            group: group.into(),
            buffer_size,
            family: None,
        })
        .await
    }

    /// `MgmGetMfeStats` (flags: 1 `MGM_MFE_STATS_0`, 2 `MGM_MFE_STATS_1`).
    pub async fn get_mfe_stats(
        &mut self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        buffer_size: u32,
        flags: u32,
    ) -> Result<BufferAnswer, ProtocolError> {
        self.buffer(Request::GetMfeStats {
            source: source.into(),
            group: group.into(),
            buffer_size,
            flags,
            family: None,
        })
        .await
    }

    /// `MgmGetFirstMfeStats` of the IPv4 MGM.
    pub async fn get_first_mfe_stats(
        &mut self,
        buffer_size: u32,
        flags: u32,
    ) -> Result<BufferAnswer, ProtocolError> {
        self.get_first_mfe_stats_in(ApiFamily::Ipv4, buffer_size, flags)
            .await
    }

    /// `MgmGetFirstMfeStats` of the MGM of `family`.
    pub async fn get_first_mfe_stats_in(
        &mut self,
        family: ApiFamily,
        buffer_size: u32,
        flags: u32,
    ) -> Result<BufferAnswer, ProtocolError> {
        let family = Some(family);
        self.buffer(Request::GetFirstMfeStats {
            buffer_size,
            flags,
            family,
        })
        .await
    }

    /// `MgmGetNextMfeStats`.
    pub async fn get_next_mfe_stats(
        &mut self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        buffer_size: u32,
        flags: u32,
    ) -> Result<BufferAnswer, ProtocolError> {
        self.buffer(Request::GetNextMfeStats {
            source: source.into(),
            group: group.into(),
            buffer_size,
            flags,
            family: None,
        })
        .await
    }

    /// `MgmSetMfe`: the upstream neighbour of the MFE (source, group), all of one family.
    pub async fn set_mfe(
        &mut self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        upstream: impl Into<IpAddr>,
    ) -> Result<(), ProtocolError> {
        self.ok(Request::SetMfe {
            source: source.into(),
            group: group.into(),
            upstream: upstream.into(),
            family: None,
        })
        .await
    }

    /// Sends any request and returns mgmd's response as it is (errors included).
    pub async fn call(&mut self, request: Request) -> Result<Response, ProtocolError> {
        Ok(self.client.call(&request).await?)
    }

    /// Answers a callback with out-parameters (before mgmd's deadline, else its default holds).
    pub async fn answer(&mut self, answer: ApiAnswer) -> Result<(), ProtocolError> {
        self.ok(Request::Answer(answer)).await
    }

    /// The next callback.
    pub async fn next_event(&mut self) -> Result<Event, ProtocolError> {
        Ok(self.client.next_event().await?)
    }

    /// `MgmDeRegisterMProtocol`; closing the connection has the same effect.
    pub async fn deregister(mut self) -> Result<(), ProtocolError> {
        self.ok(Request::Deregister).await
    }

    async fn ok(&mut self, request: Request) -> Result<(), ProtocolError> {
        match refused(self.client.call(&request).await?)? {
            Response::Ok => Ok(()),
            other => Err(ProtocolError::Unexpected(Box::new(other))),
        }
    }

    async fn buffer(&mut self, request: Request) -> Result<BufferAnswer, ProtocolError> {
        match refused(self.client.call(&request).await?)? {
            Response::Buffer {
                status,
                buffer_size,
                num_entries,
                records,
                entries,
            } => match from_hex(&records) {
                Some(records) => Ok(BufferAnswer {
                    status,
                    buffer_size,
                    num_entries,
                    records,
                    entries,
                }),
                None => Err(ProtocolError::Unexpected(Box::new(Response::Buffer {
                    status,
                    buffer_size,
                    num_entries,
                    records,
                    entries,
                }))),
            },
            other => Err(ProtocolError::Unexpected(Box::new(other))),
        }
    }
}

/// A broadcast interface (no next hop).
fn interface(ifindex: u32) -> ApiIfId {
    ApiIfId::index(ifindex)
}

/// Turns an error response into [`ProtocolError::Refused`].
fn refused(response: Response) -> Result<Response, ProtocolError> {
    match response {
        Response::Error { code, message } => Err(ProtocolError::Refused { code, message }),
        other => Ok(other),
    }
}
