//! The configuration parser: accepted files, and every refusal naming its line and key.
use super::*;
use std::net::IpAddr;

const GOOD: &str = r#"
[daemon]
api_socket = "/tmp/x.sock"

[[interface]]
name = "eth0"

[[interface]]
name = "eth1"
igmp_version = 2
ttl_threshold = 4

[[interface]]
name = "eth2"

[[route]]
from = "eth0"
group = "239.1.0.0/16"
to = ["eth2", "eth1", "eth2"]

[[route]]
from = "eth0"
source = "10.0.0.1"
group = "232.1.1.1"
to = ["eth1"]

[[route]]
from = "eth0"
source = "2001:db8::/64"
group = "ff0e::1:0/112"
to = ["eth1"]
"#;

#[test]
fn a_valid_config_is_read_with_defaults() {
    let c = Config::parse(GOOD, "t").expect("valid");
    assert_eq!(c.daemon.api_socket.as_deref(), Some("/tmp/x.sock"));
    assert_eq!(c.daemon.bpffs, "/sys/fs/bpf/mgm");
    assert_eq!(c.interfaces.len(), 3);
    assert_eq!(
        c.interface("eth1")
            .map(|i| (i.igmp_version, i.ttl_threshold)),
        Some((2, 4))
    );
    assert_eq!(
        c.interface("eth1").map(|i| (i.mld, i.mld_version)),
        Some((true, 2)),
        "MLD runs by default, version 2"
    );
    assert_eq!(c.routes[0].to, vec!["eth1".to_owned(), "eth2".to_owned()]);
    for (route, source, group, matches) in [
        (0, "1.2.3.4", "239.1.200.1", true),
        (0, "1.2.3.4", "239.2.0.1", false),
        (1, "10.0.0.1", "232.1.1.1", true),
        (1, "10.0.0.2", "232.1.1.1", false),
        (2, "2001:db8::7", "ff0e::1:5", true),
        (2, "2001:db8:1::7", "ff0e::1:5", false),
        (2, "2001:db8::7", "ff05::1:5", false),
        (0, "2001:db8::7", "ff0e::1:5", false),
    ] {
        let (s, g): (IpAddr, IpAddr) = (source.parse().unwrap(), group.parse().unwrap());
        assert_eq!(
            c.routes[route].matches("eth0", s, g),
            matches,
            "route {route}, ({source}, {group})"
        );
    }
}

pub(super) fn error_of(text: &str) -> ConfigError {
    Config::parse(text, "t").expect_err("must be refused")
}

/// `text` is refused with an error on `line` about `key`.
pub(super) fn refused_at(text: &str, line: usize, key: &str) {
    let e = error_of(text);
    assert_eq!((e.line, e.key.as_str()), (line, key), "{e}");
}

#[test]
fn errors_name_the_line_and_the_key() {
    refused_at(
        "[[interface]]\nname = \"eth0\"\nigmp_version = 4\n",
        3,
        "interface.igmp_version",
    );
    refused_at("[[interface]]\nname = \"eth0\"\n[[route]]\nfrom = \"eth0\"\ngroup = \"10.1.1.1\"\nto = [\"eth0\"]\n", 5, "route.group");
    // IPv6: interface- and link-local groups never leave their link; families do not mix.
    let v6 = |source: &str, group: &str| {
        format!(
            "[[interface]]\nname = \"eth0\"\n[[interface]]\nname = \"eth1\"\n[[route]]\n\
             from = \"eth0\"\n{source}group = \"{group}\"\nto = [\"eth1\"]\n"
        )
    };
    for group in ["ff02::1:3", "ff01::9", "ff00::/8", "2001:db8::1"] {
        refused_at(&v6("", group), 7, "route.group");
    }
    refused_at(&v6("source = \"10.0.0.1\"\n", "ff0e::1"), 7, "route.source");
    // A multicast address sends nothing: it is no source (as the API refuses it).
    refused_at(
        &v6("source = \"239.1.1.1\"\n", "239.2.2.2"),
        7,
        "route.source",
    );
    refused_at(&v6("source = \"ff0e::1\"\n", "ff0e::2"), 7, "route.source");
    assert!(error_of(&v6("", "ff12::1")).to_string().contains("scope 2"));
    Config::parse(&v6("", "ff03::1"), "t").expect("admin-local scope is routed");
    // IPv4 alike: 224.0.0.0/24 never leaves its link (the data plane passes it to the kernel).
    let v4 = |group: &str| v6("", group);
    for group in ["224.0.0.5", "224.0.0.0/24", "224.0.0.128/25"] {
        refused_at(&v4(group), 7, "route.group");
    }
    assert!(error_of(&v4("224.0.0.251"))
        .to_string()
        .contains("link-local"));
    Config::parse(&v4("224.0.1.1"), "t").expect("224.0.1.0/24 is routed");
    Config::parse(&v4("224.0.0.0/4"), "t").expect("a prefix beyond 224.0.0.0/24 is routed");
    refused_at("[[interface]]\nname = \"eth0\"\n[[route]]\nfrom = \"eth9\"\ngroup = \"239.1.1.1\"\nto = [\"eth0\"]\n", 4, "route.from");
    let e = error_of("[[interface]]\nname = \"eth0\"\ncolour = 1\n");
    assert_eq!(e.line, 3);
    assert!(e.to_string().contains("colour"), "{e}");
    refused_at(
        "[[interface]]\nname = \"eth0\"\n\n[[interface]]\nname = \"eth0\"\n",
        5,
        "interface.name",
    );
    let e = error_of("[[interface]]\nname = \"eth0\"\nowner = \"pim\"\n");
    assert_eq!(e.line, 3);
    refused_at("[[interface]]\nname = \"eth0\"\n[[interface]]\nname = \"eth1\"\nowner = \"external\"\n[[route]]\nfrom = \"eth0\"\ngroup = \"239.1.1.1\"\nto = [\"eth1\"]\n", 9, "route.to");
    refused_at("[daemon]\nbpffs = 3\n", 2, "daemon.bpffs");
    // A file that cannot be read has no line or key to name.
    let missing = std::env::temp_dir().join(format!("mgm-{}-none.toml", std::process::id()));
    let e = Config::load(&missing).expect_err("no such file");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

/// Every kind of error names its key: a wrong type, an unknown value, a value out of
/// range, an unknown key, and TOML syntax errors.
#[test]
fn every_error_names_its_key() {
    let iface = |line: &str| format!("[[interface]]\nname = \"eth0\"\n{line}\n");
    for (text, line, key) in [
        (iface("mtu = \"big\""), 3, "interface.mtu"),
        (iface("xdp_mode = \"native\""), 3, "interface.xdp_mode"),
        (iface("ttl_threshold = 300"), 3, "interface.ttl_threshold"),
        (iface("owner = 7"), 3, "interface.owner"),
        (iface("colour = 1"), 3, "interface.colour"),
        (iface("mtu = \"1500"), 3, "interface.mtu"),
        (iface("mtu = 10"), 3, "interface.mtu"),
        (iface("igmp = tru"), 3, "interface.igmp"),
        (iface("igmp_version = \"3\""), 3, "interface.igmp_version"),
        (iface("mld_version = 3"), 3, "interface.mld_version"),
        (iface("mld = 1"), 3, "interface.mld"),
        (
            "[daemon]\non_stop = \"later\"\n".into(),
            2,
            "daemon.on_stop",
        ),
        (
            "[daemon]\nmax_negative_entries = 131073\n".into(),
            2,
            "daemon.max_negative_entries",
        ),
        (
            "[daemon]\nbpffs = \"/x\"\nmax_entries = 100\n".into(),
            3,
            "daemon.max_entries",
        ),
        (
            "[daemon]\nmax_entries = 1024\nmax_negative_entries = 1025\n".into(),
            3,
            "daemon.max_negative_entries",
        ),
        (
            "[daemon]\nbpffs = \"/x\"\nrealtime_priority = 100\n".into(),
            3,
            "daemon.realtime_priority",
        ),
        ("[daemon\nbpffs = \"/x\"\n".into(), 1, "daemon"),
        ("speed = 3\n".into(), 1, "speed"),
    ] {
        let e = error_of(&text);
        assert_eq!((e.line, e.key.as_str()), (line, key), "{text:?}: {e}");
        assert!(!e.message.contains('\n'), "one line: {e}");
    }
}

#[test]
fn negative_entries_are_capped_within_the_data_plane() {
    let c = Config::parse("[daemon]\nmax_negative_entries = 100\n", "t").expect("valid");
    assert_eq!(c.daemon.max_negative_entries, 100);
    let e = error_of("[daemon]\nmax_negative_entries = 131073\n");
    assert!(e.message.contains("at most 131072"), "{e}");
}

#[test]
fn the_entry_capacity_is_bounded_by_the_build_and_bounds_the_negative_entries() {
    let default = Config::default().daemon;
    assert_eq!(
        (default.max_entries, default.max_negative_entries),
        (131_072, 32_768)
    );
    let c = Config::parse("[daemon]\nmax_entries = 8192\n", "t").expect("valid");
    assert_eq!(
        (c.daemon.max_entries, c.daemon.max_negative_entries),
        (8192, 2048)
    );
    for bad in ["255", "131073", "-1"] {
        let e = error_of(&format!("[daemon]\nmax_entries = {bad}\n"));
        assert_eq!(e.key, "daemon.max_entries", "{bad}: {e}");
    }
    let e = error_of("[daemon]\nmax_entries = 100\n");
    assert!(e.message.contains("from 256 to 131072"), "{e}");
}

#[test]
fn the_punt_umem_is_a_bounded_power_of_two() {
    assert_eq!(Config::default().daemon.punt_umem_frames, 4096);
    let c = Config::parse("[daemon]\npunt_umem_frames = 256\n", "t").expect("valid");
    assert_eq!(c.daemon.punt_umem_frames, 256);
    for bad in ["32", "1000", "131072", "-1"] {
        let e = error_of(&format!("[daemon]\npunt_umem_frames = {bad}\n"));
        assert_eq!(
            (e.line, e.key.as_str()),
            (2, "daemon.punt_umem_frames"),
            "{bad}: {e}"
        );
    }
    let e = error_of("[daemon]\npunt_umem_frames = 1000\n");
    assert!(e.message.contains("power of two from 64 to 65536"), "{e}");
}

#[test]
fn realtime_priority_is_a_sched_fifo_priority() {
    let c = Config::parse("[daemon]\nrealtime_priority = 50\n", "t").expect("valid");
    assert_eq!(c.daemon.realtime_priority, Some(50));
    assert_eq!(Config::default().daemon.realtime_priority, None);
    for bad in ["0", "100", "-1", "\"high\""] {
        let e = error_of(&format!("[daemon]\nrealtime_priority = {bad}\n"));
        assert_eq!(
            (e.line, e.key.as_str()),
            (2, "daemon.realtime_priority"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn smcroute_like_words_parse() {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let r = StaticRoute::parse_words(&words("eth0 10.0.0.1 239.1.1.1 eth1 eth2")).unwrap();
    assert_eq!(r.source, Some("10.0.0.1/32".parse().unwrap()));
    let r = StaticRoute::parse_words(&words("eth0 239.1.0.0/16 eth1")).unwrap();
    assert_eq!((r.source, r.group), (None, "239.1.0.0/16".parse().unwrap()));
    let r = StaticRoute::parse_words(&words("eth0 * 239.1.1.1 eth1")).unwrap();
    assert_eq!(r.source, None);
    assert!(StaticRoute::parse_words(&words("eth0 10.0.0.1 eth1")).is_err());
    assert!(StaticRoute::parse_words(&words("eth0 239.1.1.1")).is_err());
    // Messages name what was typed: here the group, not the source.
    let e = StaticRoute::parse_words(&words("up0 10.0.0.1 10.1.1.1 rcv1")).unwrap_err();
    assert_eq!(e, "group 10.1.1.1/32 is not inside 224.0.0.0/4");
    // A bad source before a group is named as the source, not taken for the group.
    let e = StaticRoute::parse_words(&words("up0 10.0.0.0/33 239.1.1.1 rcv1")).unwrap_err();
    assert_eq!(
        e,
        "source: \"10.0.0.0/33\" is not an IPv4 or IPv6 address or prefix"
    );
    let r = StaticRoute::parse_words(&words("eth0 2001:db8::1 ff0e::1 eth1")).unwrap();
    assert_eq!(
        (r.source, r.group),
        (
            Some("2001:db8::1/128".parse().unwrap()),
            "ff0e::1/128".parse().unwrap()
        )
    );
    let e = StaticRoute::parse_words(&words("eth0 ff02::fb eth1")).unwrap_err();
    assert!(e.contains("scope 2"), "{e}");
    let e = StaticRoute::parse_words(&words("eth0 224.0.0.9 eth1")).unwrap_err();
    assert!(e.contains("link-local"), "{e}");
    let e = StaticRoute::parse_words(&words("eth0 10.0.0.1 ff0e::1 eth1")).unwrap_err();
    assert!(e.contains("different address families"), "{e}");
}

/// Whether SOURCE was given follows from the words' shapes, not from whether GROUP parses, so a
/// malformed group is named as the group.
#[test]
fn a_malformed_group_is_named_whether_or_not_a_source_precedes_it() {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let error = |s: &str| StaticRoute::parse_words(&words(s)).unwrap_err();
    let not_an_address = |w: &str| format!("{w:?} is not an IPv4 or IPv6 address or prefix");
    for (route, group) in [
        ("up0 * 239.2.2.2/40 rcv1", "239.2.2.2/40"),
        ("up0 * 239.1.1.x rcv1", "239.1.1.x"),
        ("up0 10.0.0.1 239.1.1.1/40 rcv1", "239.1.1.1/40"),
        ("up0 10.0.0.1 239.1.1.x rcv1", "239.1.1.x"),
        ("up0 :: ff0e::x rcv1", "ff0e::x"),
        ("up0 239.1.1.1/40 rcv1", "239.1.1.1/40"),
        // A unicast source cannot be the group: the word after it is.
        ("up0 10.0.0.1 rcv1", "rcv1"),
    ] {
        assert_eq!(
            error(route),
            format!("group: {}", not_an_address(group)),
            "{route}"
        );
    }
    // Both malformed: a `/` or `:`, in no interface name, makes the third word the group.
    let e = error("up0 10.0.0.x 239.1.1.1/40 rcv1");
    assert_eq!(e, format!("source: {}", not_an_address("10.0.0.x")));
    let e = error("up0 *");
    assert!(e.starts_with("missing group; "), "{e}");
    // Every valid form reads as before.
    for (route, source, group) in [
        ("eth0 :: ff0e::1 eth1", None, "ff0e::1/128"),
        ("eth0 0.0.0.0/0 239.1.1.1 eth1", None, "239.1.1.1/32"),
        (
            "eth0 10.0.0.0/8 239.1.0.0/16 eth1",
            Some("10.0.0.0/8"),
            "239.1.0.0/16",
        ),
        (
            "eth0 239.9.9.9 239.1.1.1 eth1",
            Some("239.9.9.9/32"),
            "239.1.1.1/32",
        ),
        ("eth0 ff0e::1 eth1 eth2", None, "ff0e::1/128"),
    ] {
        let r = StaticRoute::parse_words(&words(route)).expect(route);
        let source = source.map(|s| s.parse().unwrap());
        assert_eq!(
            (r.source, r.group),
            (source, group.parse().unwrap()),
            "{route}"
        );
    }
}

#[test]
fn only_an_outbound_interface_named_twice_gets_a_warning() {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    for route in ["up0 10.0.0.1 239.1.1.1 up0", "rcv1 * 239.1.1.1 rcv2 rcv1"] {
        assert_eq!(
            word_warnings(&words(route)),
            Vec::<String>::new(),
            "{route}"
        );
    }
    for route in [
        "up0 239.1.1.1 rcv1 rcv2 rcv1",
        "up0 * 239.1.1.1 rcv1 up0 rcv1",
    ] {
        assert_eq!(
            word_warnings(&words(route)),
            ["rcv1 named more than once: the route sends one copy out of each interface"],
            "{route}"
        );
    }
}

/// The configuration and `mgmctl add` share one validation.
#[test]
fn run_time_routes_get_the_configurations_validation() {
    let c = Config::parse(GOOD, "t").expect("valid");
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let check = |s: &str| {
        StaticRoute::parse_words(&words(s))
            .expect("parses")
            .check(&c.interfaces)
            .map_err(|p| p.to_string())
    };
    assert_eq!(check("eth0 10.0.0.1 239.8.8.11 eth1"), Ok(()));
    assert_eq!(
        check("eth0 10.0.0.1 239.8.8.11 nosuch"),
        Err("outbound interface nosuch is not a configured [[interface]]".into())
    );
    assert_eq!(
        check("eth0 239.8.8.12 eth0"),
        Err("outbound interface eth0 is also the inbound interface".into())
    );
    assert_eq!(
        check("eth9 239.8.8.12 eth0"),
        Err("inbound interface eth9 is not a configured [[interface]]".into())
    );
}

#[test]
fn a_repeated_route_is_accepted_as_one_with_a_warning_naming_both_lines() {
    let text = "[[interface]]\nname = \"eth0\"\n[[interface]]\nname = \"eth1\"\n\
                [[interface]]\nname = \"eth2\"\n\
                [[route]]\nfrom = \"eth0\"\ngroup = \"239.1.1.1\"\nto = [\"eth1\", \"eth2\"]\n\
                [[route]]\nfrom = \"eth0\"\ngroup = \"239.1.1.2\"\nto = [\"eth1\"]\n\
                [[route]]\ngroup = \"239.1.1.1\"\nto = [\"eth2\", \"eth1\"]\nfrom = \"eth0\"\n";
    let (c, warnings) = Config::parse_with_warnings(text, "t").expect("accepted");
    assert_eq!(c.routes.len(), 2, "{:?}", c.routes);
    assert_eq!(
        Config::parse(text, "t").expect("accepted"),
        c,
        "parse logs the warnings and gives the same configuration"
    );
    let [w] = warnings.as_slice() else {
        panic!("one warning: {warnings:?}");
    };
    // The third [[route]]'s first key is on line 16; the first one's on line 8.
    assert_eq!((w.line, w.key.as_str()), (16, "route"), "{w}");
    assert!(w.message.contains("at line 8"), "{w}");
    assert!(w.to_string().starts_with("t:16: route: repeats"), "{w}");
    // Another outbound list is another route, as with `mgmctl add`.
    let other = text.replace("[\"eth2\", \"eth1\"]", "[\"eth2\"]");
    let (c, warnings) = Config::parse_with_warnings(&other, "t").expect("accepted");
    assert_eq!((c.routes.len(), warnings.len()), (3, 0));
}

#[test]
fn an_outbound_interface_named_twice_is_sent_one_copy_with_a_warning() {
    let text = "[[interface]]\nname = \"eth0\"\n[[interface]]\nname = \"eth1\"\n\
                [[interface]]\nname = \"eth2\"\n\
                [[route]]\nfrom = \"eth0\"\ngroup = \"239.1.1.1\"\n\
                to = [\"eth2\", \"eth1\", \"eth2\", \"eth1\"]\n";
    let (c, warnings) = Config::parse_with_warnings(text, "t").expect("accepted");
    assert_eq!(c.routes[0].to, ["eth1", "eth2"]);
    let lines: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "t:10: route.to: eth1, eth2 named more than once: the route sends one copy out of \
          each interface"
        ]
    );
}

#[test]
fn a_prefix_with_bits_beyond_its_length_is_read_as_its_network_with_a_warning() {
    let text = "[[interface]]\nname = \"eth0\"\n[[interface]]\nname = \"eth1\"\n\
                [[route]]\nfrom = \"eth0\"\nsource = \"10.1.0.2/8\"\ngroup = \"239.1.1.1/16\"\n\
                to = [\"eth1\"]\n\
                [[route]]\nfrom = \"eth0\"\nsource = \"10.0.0.0/8\"\ngroup = \"239.2.0.0/16\"\n\
                to = [\"eth1\"]\n";
    let (c, warnings) = Config::parse_with_warnings(text, "t").expect("accepted");
    assert_eq!(c.routes[0].source, Some("10.0.0.0/8".parse().unwrap()));
    assert_eq!(c.routes[0].group, "239.1.0.0/16".parse().unwrap());
    let lines: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "t:7: route.source: 10.1.0.2/8 has bits set beyond its /8 prefix: it is read as \
             10.0.0.0/8, not the host 10.1.0.2",
            "t:8: route.group: 239.1.1.1/16 has bits set beyond its /16 prefix: it is read as \
             239.1.0.0/16, not the host 239.1.1.1",
        ]
    );
}

#[test]
fn routes_beyond_the_bound_of_a_family_are_refused_naming_the_first_too_many() {
    let mut text = String::from(
        "[[interface]]\nname = \"eth0\"\n[[interface]]\nname = \"eth1\"\n\
         [[route]]\nfrom = \"eth0\"\ngroup = \"ff0e::1\"\nto = [\"eth1\"]\n",
    );
    let route = |i: usize| {
        let group =
            std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(239, 1, 0, 0)) + i as u32);
        format!("[[route]]\nfrom = \"eth0\"\ngroup = \"{group}\"\nto = [\"eth1\"]\n")
    };
    for i in 0..MAX_STATIC_ROUTES {
        text += &route(i);
    }
    let c = Config::parse(&text, "t").expect("the bound of IPv4 routes, and an IPv6 one");
    assert_eq!(c.routes.len(), MAX_STATIC_ROUTES + 1);
    text += &route(MAX_STATIC_ROUTES);
    let Err(e) = Config::parse(&text, "t").map(drop) else {
        panic!("one more IPv4 route is accepted");
    };
    let e = e.to_string();
    assert!(
        e.contains("more than the 4096") && e.contains("IPv4") && e.contains("route"),
        "{e}"
    );
}

/// An interface name the kernel would refuse (`dev_valid_name`: `.`, `..`, a `/`, a `:` or
/// white space) is refused with its line and key, where it passed and was never served.
#[test]
fn interface_names_the_kernel_refuses_are_refused() {
    for name in [".", "..", "eth0/1", "eth0:1", "eth0 ", "e th0", "eth\t0"] {
        let file = format!("[[interface]]\nname = \"{name}\"\n");
        refused_at(&file, 2, "interface.name");
        assert!(
            error_of(&file).to_string().contains(&format!("{name:?}")),
            "{name:?}: {}",
            error_of(&file)
        );
    }
    Config::parse("[[interface]]\nname = \"eth0.100\"\n", "t").expect("a VLAN's name");
    Config::parse("[[interface]]\nname = \"br-lan_1@x\"\n", "t").expect("other characters");
}

/// `[[join]]`: an interface that is not configured, a group that is not multicast, a source of
/// the other family and more tables than [`super::join::MAX_FILE_JOINS`] are refused with
/// their line and key.
#[test]
fn joins_are_checked() {
    let join = |body: &str| format!("[[interface]]\nname = \"eth0\"\n[[join]]\n{body}");
    let ok = Config::parse(
        &join("interface = \"eth0\"\ngroup = \"ff3e::1\"\nsource = \"2001:db8::1\"\n"),
        "t",
    )
    .expect("a source-specific IPv6 join");
    assert_eq!(ok.joins.len(), 1);
    refused_at(
        &join("interface = \"eth1\"\ngroup = \"239.1.1.1\"\n"),
        4,
        "join.interface",
    );
    refused_at(
        &join("interface = \"eth0\"\ngroup = \"10.1.1.1\"\n"),
        5,
        "join.group",
    );
    refused_at(
        &join("interface = \"eth0\"\ngroup = \"239.1.1.1\"\nsource = \"ff3e::1\"\n"),
        6,
        "join.source",
    );
    refused_at(
        &join("interface = \"eth0\"\ngroup = \"239.1.1.1\"\nsource = \"2001:db8::1\"\n"),
        6,
        "join.source",
    );
    let many = "[[join]]\ninterface = \"eth0\"\ngroup = \"239.1.1.1\"\n"
        .repeat(super::join::MAX_FILE_JOINS + 1);
    let e = error_of(&format!("[[interface]]\nname = \"eth0\"\n{many}"));
    assert_eq!(
        (e.line, e.key.as_str()),
        (2 + 3 * super::join::MAX_FILE_JOINS + 2, "join")
    );
}
