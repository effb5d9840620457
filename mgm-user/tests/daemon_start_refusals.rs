//! mgmd refusing to start, with a clear error and before it touches anything: started a
//! second time on a router where one already serves (the same configuration, so the same API
//! socket, pins and interfaces), naming the one that runs and leaving it serving and
//! forwarding; started with an API socket of its own on the same pins, alike; started unpinned
//! with an API socket of its own beside an unpinned one, naming the interface and the program
//! it found there; started without root, saying so.
mod support;

use anyhow::{ensure, Result};
use mgm_user::lab::Lab;
use std::{net::Ipv4Addr, path::Path};
use support::{interfaces, path_str, refused_to_start, test_user::TestUser, Mgmd, MGMD, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 9, 2, 2);

/// up0 and rcv1, and a route for GROUP from up0 to rcv1.
fn config() -> String {
    format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
    )
}

/// Runs a second mgmd with the configuration file `config_path` on the router of `mgmd`'s
/// lab, checks that it refuses to start saying each of `expected`, and that the first one
/// still has its interfaces in service and forwards.
fn second_refused(mgmd: &mut Mgmd, config_path: &Path, expected: &[&str]) -> Result<()> {
    refused_to_start(&mgmd.lab, config_path, expected)?;
    ensure!(
        mgmd.interfaces()?.iter().all(|r| r.xdp.is_some()),
        "the first mgmd's interfaces left service"
    );
    mgmd.expect_delivery(GROUP, 50, &[1], "after the second mgmd gave up")
}

/// Starts mgmd with the configuration `body`, then a second one with the same configuration
/// but an API socket of its own, and checks that the second refuses to start saying each of
/// `expected`, leaves the first forwarding and makes no socket.
fn second_with_own_socket_refused(body: &str, expected: &[&str]) -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(1)?, body)?;
    let first = std::fs::read_to_string(mgmd.config_path())?;
    let own_socket = mgmd.socket().with_extension("second.sock");
    let text = first.replace(
        &format!("api_socket = {:?}", path_str(&mgmd.socket())?),
        &format!("api_socket = {:?}", path_str(&own_socket)?),
    );
    ensure!(
        text != first,
        "the configuration names no api_socket: {first}"
    );
    let second_config = mgmd.config_path().with_extension("second.toml");
    std::fs::write(&second_config, text)?;
    second_refused(&mut mgmd, &second_config, expected)?;
    ensure!(!own_socket.exists(), "the second mgmd made its API socket");
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_second_mgmd_refuses_to_start_and_leaves_the_first_forwarding() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config())?;
    let expected = format!(
        "another mgmd (pid {}) serves the API socket {}",
        mgmd.pid(),
        mgmd.socket().display()
    );
    let config_path = mgmd.config_path();
    second_refused(&mut mgmd, &config_path, &[&expected])
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_second_mgmd_on_the_same_pins_with_its_own_socket_refuses_to_start() -> Result<()> {
    second_with_own_socket_refused(&config(), &["another mgmd uses the pin directory"])
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_second_mgmd_without_pins_on_the_same_interfaces_refuses_to_start() -> Result<()> {
    // The first mgmd's program on up0, in no pin of the second.
    second_with_own_socket_refused(
        &format!("unpinned = true\n{}", config()),
        &["interface up0 already holds XDP program", "(mgm_xdp)"],
    )
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root (to make a user without it)"]
fn mgmd_without_root_says_it_needs_root() -> Result<()> {
    let user = TestUser::create()?;
    let socket = std::env::temp_dir().join(format!("mgm-no-root-{}.sock", std::process::id()));
    let out = user.run(MGMD, &["--iface", "lo", "--api-socket", path_str(&socket)?])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1)
            && stderr.contains("mgmd needs root")
            && stderr.contains("it lacks CAP_NET_ADMIN"),
        "{:?}: {stderr}",
        out.status
    );
    ensure!(!socket.exists(), "mgmd without root made its API socket");
    Ok(())
}
