//! The writing side of an API connection: its queued messages go to the client one frame at a
//! time, each within [`SEND_TIMEOUT`]; a message over a frame goes in parts.
use super::{backlog::Outgoing, Shared, SEND_TIMEOUT};
use crate::api::{
    proto::{Response, ServerMessage},
    split_text, WireError, MAX_FRAME, MAX_MESSAGE,
};
use futures::SinkExt as _;
use std::sync::{atomic::Ordering::Relaxed, Arc};
use tokio::{net::unix::OwnedWriteHalf, sync::mpsc};
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};
use tracing::warn;

/// Writes the queued messages to the client, each within [`SEND_TIMEOUT`].
pub(super) async fn write_loop(
    id: super::ConnectionId,
    mut sink: FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
    mut queued: mpsc::Receiver<Outgoing>,
    shared: Arc<Shared>,
) {
    while let Some(message) = queued.recv().await {
        if let Err(e) = write_message(&mut sink, message.text()).await {
            shared.counters.send_failures.fetch_add(1, Relaxed);
            warn!(connection = id, error = %e, "API send failed: connection closed");
            return;
        }
    }
}

/// A message's JSON text, holding no more memory than its length (what the backlog counts); an
/// answer over [`MAX_MESSAGE`] (or one that cannot be encoded) is replaced by an error saying so.
pub(super) fn encode(message: &ServerMessage) -> Result<String, WireError> {
    let mut text = match serde_json::to_string(message) {
        Ok(text) if text.len() <= MAX_MESSAGE => text,
        Ok(text) => serde_json::to_string(&ServerMessage::Response(Response::error(
            1003,
            format!(
                "the answer is {} bytes, over the API's limit of {MAX_MESSAGE} bytes",
                text.len()
            ),
        )))?,
        Err(e) => serde_json::to_string(&ServerMessage::Response(Response::error(
            1003,
            format!("the answer cannot be encoded: {e}"),
        )))?,
    };
    text.shrink_to_fit();
    Ok(text)
}

/// Writes one message's text: in one frame, or in parts when it is over a frame.
async fn write_message(
    sink: &mut FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
    text: &str,
) -> Result<(), WireError> {
    if text.len() <= MAX_FRAME {
        return send_frame(sink, text.as_bytes().to_vec()).await;
    }
    let parts = split_text(text);
    let count = parts.len();
    for (i, part) in parts.into_iter().enumerate() {
        let part = ServerMessage::Part {
            text: part.to_owned(),
            last: i + 1 == count,
        };
        send_frame(sink, serde_json::to_vec(&part)?).await?;
    }
    Ok(())
}

async fn send_frame(
    sink: &mut FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
    frame: Vec<u8>,
) -> Result<(), WireError> {
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(bytes::Bytes::from(frame))).await {
        Ok(sent) => Ok(sent?),
        Err(_) => Err(WireError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client did not read its answer in time",
        ))),
    }
}
