//! Root integration test: the XDP program attached in driver mode to a lab veth counts real
//! packets sent from another namespace, by class, exactly.
use mgm_user::{
    dataplane::DataPlane,
    lab::{Host, Lab},
};
use std::net::{Ipv4Addr, UdpSocket};

const PACKETS: u64 = 50;

fn send(to: Ipv4Addr, count: u64) -> std::io::Result<()> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.set_multicast_ttl_v4(8)?;
    for seq in 0..count {
        socket.send_to(&seq.to_be_bytes(), (to, 5000))?;
    }
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn xdp_program_counts_real_packets_by_class() {
    let lab = Lab::star(1).expect("lab");
    let mut dataplane = lab
        .in_ns(Host::Router, || {
            let mut dp = DataPlane::load()?;
            dp.attach("up0", false)?;
            Ok::<_, mgm_user::dataplane::DataPlaneError>(dp)
        })
        .expect("enter router")
        .expect("load and attach in driver mode");
    // Resolve the router's MAC first so that the unicast count is exact.
    lab.run(Host::Source, &["ping", "-c1", "-W1", "10.0.0.254"])
        .expect("ping router");
    let before = dataplane.global_stats().expect("stats");
    lab.in_ns(Host::Source, || {
        send(Ipv4Addr::new(239, 1, 2, 3), PACKETS)?;
        send(Ipv4Addr::new(10, 0, 0, 254), PACKETS)
    })
    .expect("enter source")
    .expect("send");
    // Frames are counted on arrival at the veth, which may come after the send returns: wait
    // (polling, at most 10 s) until both classes are all in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let after = loop {
        let now = dataplane.global_stats().expect("stats");
        let arrived = |name: &str| now[name] - before[name] >= PACKETS;
        if arrived("multicast") && arrived("not_multicast") || std::time::Instant::now() > deadline
        {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let delta = |name: &str| after[name] - before[name];
    assert_eq!(
        delta("multicast"),
        PACKETS,
        "multicast data packets seen: {after:?}"
    );
    assert_eq!(
        delta("miss"),
        PACKETS,
        "without entries every one is a miss"
    );
    assert_eq!(
        delta("not_multicast"),
        PACKETS,
        "unicast packets seen: {after:?}"
    );
    assert_eq!(delta("malformed_ipv4"), 0);
    lab.in_ns(Host::Router, || dataplane.detach("up0"))
        .expect("enter router")
        .expect("detach");
}
