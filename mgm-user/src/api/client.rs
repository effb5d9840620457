//! A client of the API, for mgmctl, tests and external routing protocols.
use super::{
    framed,
    proto::{Event, MonitorEvent, Request, Response, ServerMessage},
    recv, send, Connection, WireError,
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
    /// [`Client::next_event`].
    pub async fn call(&mut self, request: &Request) -> Result<Response, WireError> {
        send(&mut self.conn, request).await?;
        loop {
            match recv(&mut self.conn).await? {
                ServerMessage::Response(r) => return Ok(r),
                ServerMessage::Event(e) => self.events.push_back(e),
                ServerMessage::Monitor(m) => self.monitored.push_back(m),
            }
        }
    }

    /// The next callback pushed to this (registered) client.
    pub async fn next_event(&mut self) -> Result<Event, WireError> {
        if let Some(e) = self.events.pop_front() {
            return Ok(e);
        }
        loop {
            match recv(&mut self.conn).await? {
                ServerMessage::Event(e) => return Ok(e),
                ServerMessage::Monitor(m) => self.monitored.push_back(m),
                ServerMessage::Response(_) => continue,
            }
        }
    }

    /// The next monitor event, after [`Request::Monitor`] was answered.
    pub async fn next_monitored(&mut self) -> Result<MonitorEvent, WireError> {
        if let Some(m) = self.monitored.pop_front() {
            return Ok(m);
        }
        loop {
            match recv(&mut self.conn).await? {
                ServerMessage::Monitor(m) => return Ok(m),
                ServerMessage::Event(e) => self.events.push_back(e),
                ServerMessage::Response(_) => continue,
            }
        }
    }
}
