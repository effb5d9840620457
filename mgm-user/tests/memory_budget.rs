//! The memory a forwarding entry costs mgmd, measured rather than estimated: 100 000 (S,G)
//! entries are created through the MGM core's real creation path (packet misses against
//! (\*,G) memberships) with the data plane's per-entry bookkeeping beside them (what
//! `XdpBackend` keeps per entry: its key, incoming and outgoing interfaces), their counters
//! are reported once (as mgmd does every 30 s), and the heap they hold is counted by this
//! binary's allocator. The budget asserted is per entry, for these two parts; mgmd's whole
//! resident size with 100 000 entries is checked by `tests/flood.rs` (README, "Memory"). The
//! BPF maps are kernel memory, sized at load (the few mgmd maps into its own memory are in
//! its fixed part).
use mgm_common::SgKey;
use mgm_user::dataplane::InstalledMfe;
use mgm_user::mgm::{
    Action, CallbackSet, Config, IfId, MemberFlags, Mfe, MfeCounters, Mgm, OifCounters, Sg,
    StaticRib, Timestamp,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Counts the bytes allocated and not yet freed by the current thread (the test's own work,
/// whatever the harness does on other threads).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: allocations while the thread's locals are torn down are not counted.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.with(Cell::get)
}

const ENTRIES: u32 = 100_000;
const GROUPS: u32 = 1_000;
/// Heap an entry may hold in the MGM core and the backend's bookkeeping (measured: 414 B; the
/// whole of mgmd per entry, hold tallies, rate samples and tables' slack included, is
/// measured by `tests/flood.rs`).
const BUDGET_PER_ENTRY: f64 = 432.0;
const UPSTREAM: u32 = 3;
const DOWNSTREAM: u32 = 4;

fn group(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xef40_0000 + i)
}

#[test]
fn a_hundred_thousand_entries_stay_within_the_per_entry_budget() {
    let mut rib = StaticRib::new();
    rib.insert(
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        IfId::index(UPSTREAM),
        Ipv4Addr::UNSPECIFIED,
    );
    let mut mgm = Mgm::new(Config::default(), Box::new(rib));
    let mut now = Timestamp::from_secs(1);
    let h = mgm.register(1, 0, CallbackSet::empty()).expect("register");
    for i in [UPSTREAM, DOWNSTREAM] {
        mgm.take_interface_ownership(h, IfId::index(i), now)
            .expect("ownership");
    }
    for g in 0..GROUPS {
        let key = Sg::star_g(group(g));
        mgm.add_membership(h, key, IfId::index(DOWNSTREAM), MemberFlags::JOIN, now)
            .expect("membership");
    }
    let mut backend: HashMap<SgKey, InstalledMfe> = HashMap::new();
    let drain = |mgm: &mut Mgm, backend: &mut HashMap<SgKey, InstalledMfe>| {
        while let Some(action) = mgm.poll_action() {
            if let Action::InstallMfe { sg, iif, oifs } = action {
                let key = SgKey {
                    source: u32::from(sg.source).to_be(),
                    group: u32::from(sg.group).to_be(),
                };
                let oifs = oifs.iter().map(|o| o.ifindex).collect();
                let entry = InstalledMfe {
                    sg: key,
                    iif: iif.ifindex,
                    oifs,
                };
                backend.insert(key, entry);
            }
        }
    };
    drain(&mut mgm, &mut backend);
    let before = live_bytes();
    let header = [0x45, 0, 0, 20];
    for n in 0..ENTRIES {
        let source = Ipv4Addr::from(0x0a00_0000 + 1 + n / GROUPS);
        mgm.packet_miss(source, group(n % GROUPS), UPSTREAM, &header, now)
            .expect("miss");
        if n % 1000 == 999 {
            now = now + std::time::Duration::from_millis(1);
            drain(&mut mgm, &mut backend);
        }
    }
    drain(&mut mgm, &mut backend);
    let sgs: Vec<Sg> = mgm.mfes().map(Mfe::sg).collect();
    for sg in sgs {
        let counters = MfeCounters {
            in_pkts: 1,
            oifs: vec![OifCounters {
                out_packets: 1,
                ..OifCounters::new(IfId::index(DOWNSTREAM))
            }],
            ..MfeCounters::default()
        };
        mgm.report_stats(sg, counters, now).expect("counters");
    }
    assert_eq!(mgm.mfe_count(), ENTRIES as usize);
    assert_eq!(backend.len(), ENTRIES as usize);
    assert!(backend.values().all(|e| e.oifs == [DOWNSTREAM]));
    let per_entry = (live_bytes() - before) as f64 / f64::from(ENTRIES);
    let entries_mib = per_entry * f64::from(ENTRIES) / (1024.0 * 1024.0);
    eprintln!("{ENTRIES} entries: {per_entry:.0} B each, {entries_mib:.1} MiB");
    assert!(
        per_entry <= BUDGET_PER_ENTRY,
        "an entry holds {per_entry:.0} B, over the budget of {BUDGET_PER_ENTRY} B"
    );
}
