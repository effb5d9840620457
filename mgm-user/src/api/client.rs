//! A client of the API, for mgmctl, tests and external routing protocols.
use super::{
    framed,
    proto::{Event, MonitorEvent, Request, Response, ServerMessage},
    recv, send, Connection, WireError, MAX_MESSAGE,
};
use std::{collections::VecDeque, path::Path};
use tokio::net::UnixStream;

/// A connection to mgmd.
pub struct Client {
    conn: Connection,
    events: VecDeque<Event>,
    monitored: VecDeque<MonitorEvent>,
}

impl Client {
    /// Connects to the API socket at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, WireError> {
        Ok(Self {
            conn: framed(UnixStream::connect(path).await?),
            events: VecDeque::new(),
            monitored: VecDeque::new(),
        })
    }

    /// Sends a request and waits for its response; events that arrive meanwhile are kept for
    /// [`Client::next_event`]. When mgmd refused the connection before reading the request
    /// (too many connections), the refusal it sent is the response.
    pub async fn call(&mut self, request: &Request) -> Result<Response, WireError> {
        if let Err(e) = send(&mut self.conn, request).await {
            return match self.response().await {
                Ok(refusal) => Ok(refusal),
                Err(_) => Err(e),
            };
        }
        self.response().await
    }

    /// The next response; events before it are kept.
    async fn response(&mut self) -> Result<Response, WireError> {
        loop {
            match self.message().await? {
                Incoming::Response(r) => return Ok(r),
                Incoming::Event(e) => self.events.push_back(e),
                Incoming::Monitor(m) => self.monitored.push_back(m),
            }
        }
    }

    /// The next callback pushed to this (registered) client.
    pub async fn next_event(&mut self) -> Result<Event, WireError> {
        if let Some(e) = self.events.pop_front() {
            return Ok(e);
        }
        loop {
            match self.message().await? {
                Incoming::Event(e) => return Ok(e),
                Incoming::Monitor(m) => self.monitored.push_back(m),
                Incoming::Response(_) => continue,
            }
        }
    }

    /// The next message, with a message sent in parts joined.
    async fn message(&mut self) -> Result<Incoming, WireError> {
        let mut joined = String::new();
        loop {
            match recv(&mut self.conn).await? {
                ServerMessage::Part { text, last } => {
                    if joined.len() + text.len() > MAX_MESSAGE {
                        return Err(invalid("an answer over MAX_MESSAGE bytes"));
                    }
                    joined.push_str(&text);
                    if last {
                        return match serde_json::from_str(&joined)? {
                            ServerMessage::Response(r) => Ok(Incoming::Response(r)),
                            ServerMessage::Event(e) => Ok(Incoming::Event(e)),
                            ServerMessage::Monitor(m) => Ok(Incoming::Monitor(m)),
                            ServerMessage::Part { .. } => Err(invalid("a part inside a part")),
                        };
                    }
                }
                _ if !joined.is_empty() => {
                    return Err(invalid("a message inside a message sent in parts"))
                }
                ServerMessage::Response(r) => return Ok(Incoming::Response(r)),
                ServerMessage::Event(e) => return Ok(Incoming::Event(e)),
                ServerMessage::Monitor(m) => return Ok(Incoming::Monitor(m)),
            }
        }
    }

    /// The next monitor event, after [`Request::Monitor`] was answered.
    pub async fn next_monitored(&mut self) -> Result<MonitorEvent, WireError> {
        if let Some(m) = self.monitored.pop_front() {
            return Ok(m);
        }
        loop {
            match self.message().await? {
                Incoming::Monitor(m) => return Ok(m),
                Incoming::Event(e) => self.events.push_back(e),
                Incoming::Response(_) => continue,
            }
        }
    }
}

/// A whole message from mgmd.
enum Incoming {
    Response(Response),
    Event(Event),
    Monitor(MonitorEvent),
}

fn invalid(what: &str) -> WireError {
    WireError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{proto::GroupRow, split_text};

    /// A client and the raw server end of its connection.
    fn pair() -> (Client, Connection) {
        let (a, b) = UnixStream::pair().expect("socketpair");
        let client = Client {
            conn: framed(a),
            events: VecDeque::new(),
            monitored: VecDeque::new(),
        };
        (client, framed(b))
    }

    fn parts(message: &ServerMessage) -> Vec<ServerMessage> {
        let text = serde_json::to_string(message).unwrap();
        let pieces = split_text(&text);
        let count = pieces.len();
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, p)| ServerMessage::Part {
                text: p.to_owned(),
                last: i + 1 == count,
            })
            .collect()
    }

    #[tokio::test]
    async fn an_answer_in_parts_is_joined_and_bad_sequences_are_errors() {
        let row = GroupRow {
            source: "10.0.0.1".parse().unwrap(),
            group: "239.1.1.1".parse().unwrap(),
            iface: "eth0".into(),
            protocol: "static".into(),
            flags: 1,
            mode: String::new(),
            excluded: Vec::new(),
        };
        let big = ServerMessage::Response(Response::Groups {
            rows: vec![row; 20_000],
        });
        let (mut client, mut server) = pair();
        let pieces = parts(&big);
        assert!(pieces.len() > 1);
        let first = pieces[0].clone();
        // The parts outgrow the socket's buffer: they are written while the client reads.
        let writer = tokio::spawn(async move {
            for piece in &pieces {
                send(&mut server, piece).await.unwrap();
            }
            // A whole message in the middle of one sent in parts.
            send(&mut server, &first).await.unwrap();
            send(&mut server, &ServerMessage::Response(Response::Ok))
                .await
                .unwrap();
            server
        });
        let joined = client.response().await.unwrap();
        assert_eq!(ServerMessage::Response(joined), big);
        assert!(client.response().await.is_err());
        drop(writer.await.unwrap());

        // Parts that do not join into a message.
        let (mut client, mut server) = pair();
        let broken = ServerMessage::Part {
            text: "{\"kind\":".into(),
            last: true,
        };
        send(&mut server, &broken).await.unwrap();
        assert!(matches!(client.response().await, Err(WireError::Json(_))));
    }
}
