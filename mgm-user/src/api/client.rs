//! A client of the API, for mgmctl, tests and external routing protocols.
use super::{
    framed,
    proto::{Request, Response},
    recv, send, Connection, WireError,
};
use std::path::Path;
use tokio::net::UnixStream;

/// A connection to mgmd.
pub struct Client {
    conn: Connection,
}

impl Client {
    /// Connects to the API socket at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, WireError> {
        Ok(Self {
            conn: framed(UnixStream::connect(path).await?),
        })
    }

    /// Sends a request and waits for its response.
    pub async fn call(&mut self, request: &Request) -> Result<Response, WireError> {
        send(&mut self.conn, request).await?;
        recv(&mut self.conn).await
    }
}
