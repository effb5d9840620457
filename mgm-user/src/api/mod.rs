//! The local API of mgmd over a Unix socket: one JSON message per length-delimited frame.
//!
//! `mgmctl`, external routing protocols and tests speak it. Frames carry a 4-byte big-endian
//! length. mgmd reads requests of at most [`MAX_REQUEST`] bytes (a longer frame is refused
//! with an error and the connection closed); clients read frames of up to [`MAX_FRAME`].
//!
//! An answer whose JSON is longer than one frame (`show mfe` with tens of thousands of
//! entries) is sent in pieces: [`proto::ServerMessage::Part`] messages each carry up to
//! [`PART_TEXT`] bytes of the answer's JSON text, the last one has `last: true`, and the
//! joined texts are the answer (a complete `{"kind":"response",...}` message). Nothing else is
//! sent on the connection in between. Answers are at most [`MAX_MESSAGE`] bytes; a larger one
//! is replaced by an error response. [`client::Client`] reassembles the pieces.
pub mod client;
pub mod monitor;
pub mod proto;
pub mod protocol;
pub mod records;
pub mod request;
pub mod response;
pub mod rows;
pub mod values;

use futures::{Sink, SinkExt as _, Stream, StreamExt as _};
use serde::{de::DeserializeOwned, Serialize};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

/// Largest request frame mgmd accepts (requests are small; this bounds what a connection
/// can make mgmd buffer).
pub const MAX_REQUEST: usize = 64 << 10;

/// Largest piece of an answer's text in one [`proto::ServerMessage::Part`]: escaped inside a
/// JSON string it at most doubles, so a part always fits a frame.
pub const PART_TEXT: usize = 256 << 10;

/// Largest answer (its JSON text), in however many parts.
pub const MAX_MESSAGE: usize = 256 << 20;

/// The API socket's default path in the host's (initial) network namespace.
pub const DEFAULT_SOCKET: &str = "/run/mgm/mgmd.sock";

/// The default API socket of this process's network namespace, so that routers in several
/// namespaces with default settings never share one (mgmd and mgmctl both call this):
/// [`DEFAULT_SOCKET`] in the host's namespace; `/run/mgm/netns-<name>.sock` in a namespace
/// `ip netns` named (`ip netns exec NAME mgmctl ...` finds `ip netns exec NAME mgmd`);
/// `/run/mgm/net-<inode>.sock` in another one (as the pin directory `net-<inode>`).
pub fn default_socket() -> std::path::PathBuf {
    match crate::netns::Netns::current() {
        Ok(ns) if !ns.is_initial() => socket_of(ns.name().as_deref(), ns.inode),
        _ => DEFAULT_SOCKET.into(),
    }
}

/// The default socket of a network namespace other than the host's: by `name` if it has one,
/// else by `inode`.
fn socket_of(name: Option<&str>, inode: u64) -> std::path::PathBuf {
    match name {
        Some(name) => format!("/run/mgm/netns-{name}.sock").into(),
        None => format!("/run/mgm/net-{inode}.sock").into(),
    }
}

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
    codec_up_to(MAX_FRAME)
}

/// The API framing with frames up to `max` bytes.
pub fn codec_up_to(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(max)
        .new_codec()
}

/// Wraps a stream in the API framing.
pub fn framed(stream: UnixStream) -> Connection {
    Framed::new(stream, codec())
}

/// Sends one message in one frame.
pub async fn send<T, S>(conn: &mut S, message: &T) -> Result<(), WireError>
where
    T: Serialize,
    S: Sink<bytes::Bytes, Error = std::io::Error> + Unpin,
{
    let bytes = serde_json::to_vec(message)?;
    conn.send(bytes::Bytes::from(bytes)).await?;
    Ok(())
}

/// Receives one message from one frame.
pub async fn recv<T, S>(conn: &mut S) -> Result<T, WireError>
where
    T: DeserializeOwned,
    S: Stream<Item = Result<bytes::BytesMut, std::io::Error>> + Unpin,
{
    let frame = conn.next().await.ok_or(WireError::Closed)??;
    Ok(serde_json::from_slice(&frame)?)
}

/// Splits the JSON text of a message into the texts of its [`proto::ServerMessage::Part`]s:
/// pieces of at most [`PART_TEXT`] bytes, cut at character boundaries.
pub fn split_text(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > PART_TEXT {
        let mut cut = PART_TEXT;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
    }
    parts.push(rest);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_network_namespace_has_its_own_default_socket() {
        assert_eq!(
            socket_of(Some("rtr1"), 7),
            std::path::Path::new("/run/mgm/netns-rtr1.sock")
        );
        assert_eq!(
            socket_of(None, 4026532246),
            std::path::Path::new("/run/mgm/net-4026532246.sock")
        );
        // This test runs in some namespace; both programs compute the same path there.
        assert_eq!(default_socket(), default_socket());
    }

    #[test]
    fn parts_rejoin_and_fit_a_frame() {
        let text = "é\"".repeat(PART_TEXT);
        let parts = split_text(&text);
        assert!(parts.len() > 2);
        assert_eq!(parts.concat(), text);
        for part in parts {
            let message = proto::ServerMessage::Part {
                text: part.to_owned(),
                last: false,
            };
            assert!(serde_json::to_vec(&message).unwrap().len() <= MAX_FRAME);
        }
        assert_eq!(split_text("{}"), vec!["{}"]);
    }

    #[test]
    fn mfe_reads_and_monitor_are_read_only_enumeration_and_set_mfe_need_control() {
        use proto::Request;
        let any = std::net::IpAddr::from(std::net::Ipv4Addr::UNSPECIFIED);
        let reads = [
            Request::GetMfe {
                source: any,
                group: any,
                buffer_size: 0,
                family: None,
            },
            Request::GetFirstMfe {
                buffer_size: 0,
                family: None,
            },
            Request::GetNextMfeStats {
                source: any,
                group: any,
                buffer_size: 0,
                flags: 0,
                family: None,
            },
            Request::Monitor,
        ];
        assert!(reads.iter().all(Request::is_read_only));
        let changes = [
            Request::GroupEnumerationStart {
                enum_type: 0,
                family: None,
            },
            Request::GroupEnumerationEnd { handle: 1 },
            Request::SetMfe {
                source: any,
                group: any,
                upstream: any,
                family: None,
            },
        ];
        assert!(!changes.iter().any(Request::is_read_only));
    }

    /// IPv4 messages read and write exactly as before the addresses became of either family:
    /// dotted quads, `next_hop` defaulting to 0.0.0.0, no `family` field unless given.
    #[test]
    fn ipv4_messages_are_unchanged_byte_for_byte() {
        use proto::{ApiIfId, ApiRoute, ApiSg, Event, Request};
        use std::net::Ipv4Addr;
        let event = Event::Rpf {
            query: 31,
            sg: ApiSg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1)),
            iif: ApiIfId::index(2),
            upstream: Ipv4Addr::UNSPECIFIED.into(),
            route: ApiRoute {
                protocol: 3,
                network: Ipv4Addr::new(10, 0, 0, 0).into(),
                mask: Ipv4Addr::new(255, 255, 255, 0).into(),
            },
            header: "45".into(),
            reject: false,
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"callback":"rpf","query":31,"sg":{"source":"10.0.0.1","group":"239.1.1.1"},"iif":{"ifindex":2,"next_hop":"0.0.0.0"},"upstream":"0.0.0.0","route":{"protocol":3,"network":"10.0.0.0","mask":"255.255.255.0"},"header":"45","reject":false}"#
        );
        let text =
            r#"{"request":"get_mfe","source":"10.0.0.1","group":"239.1.1.1","buffer_size":76}"#;
        let request: Request = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&request).unwrap(), text);
        let take: Request =
            serde_json::from_str(r#"{"request":"take_interface","ifid":{"ifindex":3}}"#).unwrap();
        assert_eq!(
            take,
            Request::TakeInterface {
                ifid: ApiIfId::index(3)
            }
        );
    }
}
