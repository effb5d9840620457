//! The local API of mgmd over a Unix socket: one JSON message per length-delimited frame.
//!
//! `mgmctl`, external routing protocols and tests speak it. Frames carry a 4-byte big-endian
//! length; frames over [`MAX_FRAME`] are refused and the connection closed.
pub mod client;
pub mod monitor;
pub mod proto;
pub mod protocol;
pub mod records;

use futures::{SinkExt as _, StreamExt as _};
use serde::{de::DeserializeOwned, Serialize};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

/// Default path of the API socket.
pub const DEFAULT_SOCKET: &str = "/run/mgm/mgmd.sock";

/// A framed API connection.
pub type Connection = Framed<UnixStream, LengthDelimitedCodec>;

/// Errors on an API connection.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed or a frame was over the limit.
    #[error("API socket: {0}")]
    Io(#[from] std::io::Error),
    /// A frame was not a valid message.
    #[error("malformed API message: {0}")]
    Json(#[from] serde_json::Error),
    /// The peer closed the connection.
    #[error("the peer closed the connection")]
    Closed,
}

/// The API framing: a 4-byte big-endian length, frames up to [`MAX_FRAME`].
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// Wraps a stream in the API framing.
pub fn framed(stream: UnixStream) -> Connection {
    Framed::new(stream, codec())
}

/// Sends one message.
pub async fn send<T: Serialize>(conn: &mut Connection, message: &T) -> Result<(), WireError> {
    let bytes = serde_json::to_vec(message)?;
    conn.send(bytes::Bytes::from(bytes)).await?;
    Ok(())
}

/// Receives one message.
pub async fn recv<T: DeserializeOwned>(conn: &mut Connection) -> Result<T, WireError> {
    let frame = conn.next().await.ok_or(WireError::Closed)??;
    Ok(serde_json::from_slice(&frame)?)
}
