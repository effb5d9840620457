//! What the tests of the kernel multicast-routing controllers (`ipmr`, `ip6mr`) share: hosts
//! of a lab that join a group and send to it with the leaf tool, as a user's hosts would.
use mgm_user::{
    lab::{Host, Lab},
    leaf::{Channel, Family, Iface, Receiver, Sender},
};
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

/// The UDP port of the test traffic.
pub const PORT: u16 = 5009;
/// Datagrams per [`send`].
pub const PACKETS: u64 = 20;

/// The ifindex of `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> u32 {
    Iface::lookup(name).expect("interface").index
}

/// A socket of receiver `n` that joined `group` (any source) on its link.
pub fn listener(lab: &Lab, n: u8, group: IpAddr) -> Receiver {
    lab.in_ns(Host::Receiver(n), || {
        let channel = Channel {
            group,
            source: None,
        };
        Receiver::join(channel, PORT, Iface::lookup("eth0")?)
    })
    .expect("enter receiver")
    .expect("join")
}

/// Sends [`PACKETS`] datagrams from the source to `group`, with TTL (hop limit) 8: the
/// default of 1 would not be forwarded.
pub fn send(lab: &Lab, group: IpAddr) {
    lab.in_ns(Host::Source, || {
        let sender = Sender::new(&Iface::lookup("eth0")?, Family::of(group), 8, false)?;
        (0..PACKETS).try_for_each(|seq| sender.send(group, PORT, seq))
    })
    .expect("enter source")
    .expect("send");
}

/// How many datagrams are queued on `receiver` now.
pub fn drain(receiver: &Receiver) -> u64 {
    let mut count = 0;
    while receiver.recv(Duration::ZERO).expect("receive").is_some() {
        count += 1;
    }
    count
}

/// Receives until `want` datagrams arrived (for at most 10 s); returns how many did.
pub fn receive(receiver: &Receiver, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut count = 0;
    while count < want && Instant::now() < deadline {
        if receiver
            .recv(Duration::from_millis(100))
            .expect("receive")
            .is_some()
        {
            count += 1;
        }
    }
    count
}
