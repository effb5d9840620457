#!/usr/bin/env python3
"""A routing protocol in Python, written from mgm-user/docs/protocol.md alone: it frames JSON
on mgmd's socket, registers, takes an interface, adds memberships, enumerates the groups with
small buffers, walks the (empty) MFE table, checks the error codes of bad calls, and
deregisters. Usage: api_client.py SOCKET IFINDEX. Exits non-zero on the first surprise."""
import json
import socket
import struct
import sys

PROTOCOL_ID = (1 << 30) | (0x137 << 16) | 0x55


class Mgmd:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.events = []

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("mgmd closed the connection")
            data += chunk
        return data

    def call(self, request):
        body = json.dumps(request).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        while True:
            (length,) = struct.unpack(">I", self._read(4))
            message = json.loads(self._read(length))
            if message["kind"] == "response":
                return message
            self.events.append(message)


def expect(cond, what):
    if not cond:
        raise SystemExit("unexpected: " + what)


def walk_groups(m, handle, family):
    """Walks the group enumeration `handle` from a zero-byte buffer, doubling the buffer
    after each 122, to 259. `family` (socket.AF_INET or AF_INET6) sets the SOURCE_GROUP_ENTRY
    size (four addresses). Returns the records as (source, source mask, group, group mask)
    text and the number of batches with records."""
    width = 4 if family == socket.AF_INET else 16
    entry = 4 * width
    size, records, batches = 0, [], 0
    while True:
        r = m.call({"request": "group_enumeration_get_next", "handle": handle,
                    "buffer_size": size})
        if r["status"] == 122:
            expect(r["buffer_size"] == entry and r["num_entries"] == 0, str(r))
            size = 2 * r["buffer_size"]
            continue
        batches += 1
        raw = bytes.fromhex(r["records"])
        expect(len(raw) == entry * r["num_entries"], str(r))
        for i in range(r["num_entries"]):
            at = entry * i
            record = tuple(socket.inet_ntop(family, raw[at + width * k:at + width * (k + 1)])
                           for k in range(4))
            expect(r["entries"][i]["group"] == record[2], str(r))
            records.append(record)
        if r["status"] == 259:
            return records, batches
        expect(r["status"] == 234, str(r))


def main():
    path, ifindex = sys.argv[1], int(sys.argv[2])
    m = Mgmd(path)
    r = m.call({"request": "get_first_mfe", "buffer_size": 0})
    expect(r["response"] == "buffer" and r["status"] == 259 and r["num_entries"] == 0, str(r))
    r = m.call({"request": "register", "protocol_id": PROTOCOL_ID, "component_id": 0,
                "callbacks": ["disable_igmp", "enable_igmp", "join_alert"]})
    expect(r["response"] == "registered", str(r))
    r = m.call({"request": "take_interface", "ifid": {"ifindex": ifindex}})
    expect(r["response"] == "ok", str(r))
    names = [e["callback"] for e in m.events]
    expect(names == ["disable_igmp", "enable_igmp"], "bracket " + str(names))
    groups = ["239.7.0.%d" % i for i in range(1, 6)]
    for g in groups:
        r = m.call({"request": "add_membership", "sg": {"source": "0.0.0.0", "group": g},
                    "ifid": {"ifindex": ifindex}, "flags": 1,
                    "masks": {"source_mask": "0.0.0.0", "group_mask": "255.255.255.255"}})
        expect(r["response"] == "ok", str(r))
    r = m.call({"request": "group_enumeration_start", "enum_type": 1})
    handle = r["handle"]
    records, _ = walk_groups(m, handle, socket.AF_INET)
    seen = [group for _, _, group, _ in records]
    expect(len(seen) == len(set(seen)) and set(groups) <= set(seen), "groups " + str(seen))
    r = m.call({"request": "group_enumeration_end", "handle": handle})
    expect(r["response"] == "ok", str(r))
    r = m.call({"request": "group_enumeration_get_next", "handle": handle, "buffer_size": 64})
    expect(r["status"] == 87, str(r))
    r = m.call({"request": "get_mfe_stats", "source": "10.0.0.1", "group": "239.7.0.1",
                "buffer_size": 64, "flags": 3})
    expect(r["status"] == 87, str(r))
    r = m.call({"request": "deregister"})
    expect(r["response"] == "error" and r["code"] == 1003, str(r))
    r = m.call({"request": "release_interface", "ifid": {"ifindex": ifindex}})
    expect(r["response"] == "ok", str(r))
    r = m.call({"request": "deregister"})
    expect(r["response"] == "ok", str(r))
    print("ok")


if __name__ == "__main__":
    main()
