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
//! mgmd deregisters the protocol when the connection closes, releasing its interfaces and
//! removing its memberships, so a protocol that dies leaves nothing behind.
use super::{
    client::Client,
    proto::{ApiAnswer, ApiCallback, ApiIfId, ApiSg, Event, Request, Response},
    WireError,
};
use std::{net::Ipv4Addr, path::Path};

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
        let mut client = Client::connect(path).await?;
        let request = Request::Register {
            protocol_id,
            component_id,
            callbacks: callbacks.iter().map(|c| c.name().to_owned()).collect(),
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
        })
        .await
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
}

/// A broadcast interface (no next hop).
fn interface(ifindex: u32) -> ApiIfId {
    ApiIfId {
        ifindex,
        next_hop: Ipv4Addr::UNSPECIFIED,
    }
}

/// Turns an error response into [`ProtocolError::Refused`].
fn refused(response: Response) -> Result<Response, ProtocolError> {
    match response {
        Response::Error { code, message } => Err(ProtocolError::Refused { code, message }),
        other => Ok(other),
    }
}
