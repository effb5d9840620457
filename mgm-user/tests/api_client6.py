#!/usr/bin/env python3
"""IPv6 through mgmd's socket from Python, written from mgm-user/docs/protocol.md alone: IPv6
addresses reach the IPv6 MGM. Registers, takes an interface (in both MGMs), adds IPv6
memberships with prefix-style masks, checks that mixed families and range masks are refused,
enumerates the IPv6 groups with small buffers (64-byte SOURCE_GROUP_ENTRY records), sees them
apart from the IPv4 ones, walks the (empty) IPv6 MFE table, and releases and deregisters.
Usage: api_client6.py SOCKET IFINDEX. Exits non-zero on the first surprise."""
import socket
import sys

from api_client import Mgmd, expect, walk_groups

PROTOCOL_ID = (1 << 30) | (0x137 << 16) | 0x56
ANY6 = "::"
HOST6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"


def membership(m, ifindex, group, masks=None, source=ANY6):
    request = {"request": "add_membership", "sg": {"source": source, "group": group},
               "ifid": {"ifindex": ifindex}, "flags": 1}
    if masks is not None:
        request["masks"] = masks
    return m.call(request)


def main():
    path, ifindex = sys.argv[1], int(sys.argv[2])
    m = Mgmd(path)
    r = m.call({"request": "register", "protocol_id": PROTOCOL_ID, "component_id": 0,
                "callbacks": ["join_alert", "local_join"]})
    expect(r["response"] == "registered", str(r))
    r = m.call({"request": "take_interface", "ifid": {"ifindex": ifindex}})
    expect(r["response"] == "ok", str(r))
    for next_hop in ["0.0.0.0", "::"]:
        r = m.call({"request": "protocol_on_interface",
                    "ifid": {"ifindex": ifindex, "next_hop": next_hop}})
        expect(r["response"] == "owner" and r["protocol_id"] == PROTOCOL_ID, str(r))
    groups = ["ff0e::7:%x" % i for i in range(1, 6)]
    for g in groups:
        r = membership(m, ifindex, g, {"source_mask": ANY6, "group_mask": HOST6})
        expect(r["response"] == "ok", str(r))
    # One family per request; IPv6 masks are :: for a wildcard and all ones otherwise.
    r = membership(m, ifindex, "ff0e::7:99", source="0.0.0.0")
    expect(r["response"] == "error" and r["code"] == 87 and "mixed" in r["message"], str(r))
    r = membership(m, ifindex, "ff0e::7:99", {"source_mask": ANY6, "group_mask": "ffff::"})
    expect(r["response"] == "error" and r["code"] == 87, str(r))
    r = membership(m, ifindex, "ff0e::7:99", {"source_mask": "0.0.0.0", "group_mask": HOST6})
    expect(r["response"] == "error" and r["code"] == 87, str(r))

    r = m.call({"request": "group_enumeration_start", "enum_type": 1, "family": "ipv6"})
    expect(r["response"] == "enum_handle", str(r))
    handle = r["handle"]
    records, batches = walk_groups(m, handle, socket.AF_INET6)
    # 64-byte records: (*,G) with the wildcard's :: source mask and a host group mask.
    expect(all(r[0] == ANY6 and r[1] == ANY6 and r[3] == HOST6 for r in records), str(records))
    seen = [group for _, _, group, _ in records]
    expect(sorted(seen) == sorted(groups) and batches == 3, "groups %s in %d" % (seen, batches))
    r = m.call({"request": "group_enumeration_end", "handle": handle})
    expect(r["response"] == "ok", str(r))
    # The IPv4 MGM holds none of them.
    r = m.call({"request": "group_enumeration_start", "enum_type": 1})
    r = m.call({"request": "group_enumeration_get_next", "handle": r["handle"],
                "buffer_size": 1024})
    expect(r["status"] == 259 and r["num_entries"] == 0, str(r))
    r = m.call({"request": "get_first_mfe", "buffer_size": 0, "family": "ipv6"})
    expect(r["status"] == 259 and r["num_entries"] == 0, str(r))
    r = m.call({"request": "get_mfe", "source": "2001:db8::1", "group": groups[0],
                "buffer_size": 1024})
    expect(r["status"] == 1168, str(r))
    r = m.call({"request": "get_mfe", "source": "10.0.0.1", "group": groups[0],
                "buffer_size": 1024})
    expect(r["response"] == "error" and r["code"] == 87, str(r))
    r = m.call({"request": "release_interface", "ifid": {"ifindex": ifindex}})
    expect(r["response"] == "ok", str(r))
    r = m.call({"request": "protocol_on_interface", "ifid": {"ifindex": ifindex,
                                                             "next_hop": "::"}})
    expect(r["response"] == "error" and r["code"] == 1168, str(r))
    r = m.call({"request": "deregister"})
    expect(r["response"] == "ok", str(r))
    print("ok")


if __name__ == "__main__":
    main()
