//! Answers one API request: the dispatch from each [`Request`] to the router core, the MGM
//! calls of external protocols and the tables of `mgmctl show`. Generic over the core's ports,
//! so that the same dispatch runs in mgmd and over the fakes (the `api` fuzz target).
use super::{
    api_calls,
    api_calls::MfeQuery,
    api_family::{self, family_of, split_id},
    mfe_rates::MfeRates,
    notify,
    pins::Pins,
    router::{EventSink, ExternalFamily, RouterCore, RouterIo},
    server::ConnectionId,
};
use crate::{
    api::proto::{ApiCallback, ApiFamily, ApiIfId, ApiMasks, ApiSg, Request, Response},
    config::{Config, StaticRoute},
    dataplane::ForwardingBackend,
    mgm::{CallbackSet, MemberFlags, ProtocolHandle},
};
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Instant,
};
use tracing::{error, info};

/// Runs `$call::<A>($args)` with `A` the address type of the [`ApiFamily`] `$family`.
macro_rules! in_family {
    ($family:expr, $call:ident($($arg:expr),* $(,)?)) => {
        match $family {
            ApiFamily::Ipv4 => $call::<Ipv4Addr, _, _>($($arg),*),
            ApiFamily::Ipv6 => $call::<Ipv6Addr, _, _>($($arg),*),
        }
    };
}

fn parse_route(words: &[String]) -> Result<StaticRoute, Response> {
    StaticRoute::parse_words(words).map_err(|e| Response::error(87, e))
}

fn callbacks_of(names: &[String]) -> Result<CallbackSet, Response> {
    let mut set = CallbackSet::empty();
    for name in names {
        set |= match ApiCallback::from_name(name) {
            Some(ApiCallback::Rpf) => CallbackSet::RPF,
            Some(ApiCallback::CreationAlert) => CallbackSet::CREATION_ALERT,
            Some(ApiCallback::PruneAlert) => CallbackSet::PRUNE_ALERT,
            Some(ApiCallback::JoinAlert) => CallbackSet::JOIN_ALERT,
            Some(ApiCallback::WrongIf) => CallbackSet::WRONG_IF,
            Some(ApiCallback::LocalJoin) => CallbackSet::LOCAL_JOIN,
            Some(ApiCallback::LocalLeave) => CallbackSet::LOCAL_LEAVE,
            Some(ApiCallback::DisableIgmp) => CallbackSet::DISABLE_IGMP,
            Some(ApiCallback::EnableIgmp) => CallbackSet::ENABLE_IGMP,
            None => return Err(Response::error(87, format!("unknown callback {name:?}"))),
        };
    }
    Ok(set)
}

/// What mgmd keeps beside the router for its answers: where it pinned, the samples the rates
/// of `show mfe` are measured against, and where a reload's configuration comes from.
pub(super) struct Reporting<'a> {
    /// Where the data plane is pinned.
    pub(super) pins: Pins,
    /// The previous sample of each entry's counters.
    pub(super) rates: MfeRates,
    /// The configuration `mgmctl reload` (and SIGHUP) apply.
    pub(super) config: Box<dyn ConfigSource + Send + 'a>,
}

impl Reporting<'_> {
    /// Ends the reporting (its configuration source first), keeping the pins.
    pub(super) fn into_pins(self) -> Pins {
        self.pins
    }
}

/// Where a reload's configuration comes from: mgmd re-reads its file and applies the
/// `[daemon]` settings the router does not hold (scheduling, API access).
pub(super) trait ConfigSource {
    /// The configuration to apply, or why it is refused (the running one is then kept).
    fn reread(&mut self) -> anyhow::Result<Config>;
}

/// A router without a configuration file (the fakes): every reload is refused.
#[cfg(any(test, feature = "testkit"))]
pub(super) struct NoConfigFile;

#[cfg(any(test, feature = "testkit"))]
impl ConfigSource for NoConfigFile {
    fn reread(&mut self) -> anyhow::Result<Config> {
        anyhow::bail!("this router has no configuration file")
    }
}

/// Re-reads the configuration (SIGHUP, `mgmctl reload`) and applies the difference to
/// `router`; a configuration `source` refuses is logged, its error returned, and the running
/// one kept.
pub(super) fn reload<B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    source: &mut dyn ConfigSource,
    now: Instant,
) -> anyhow::Result<()> {
    notify::reloading();
    match source.reread() {
        Ok(config) => {
            info!("reload: configuration reloaded");
            router.reload(config, now);
            notify::reloaded("forwarding (configuration reloaded)");
            Ok(())
        }
        Err(e) => {
            error!(error = %e, "reload: configuration refused, keeping the running one");
            notify::reloaded("forwarding (reload refused: see the log)");
            Err(e)
        }
    }
}

/// Answers one API request of `connection` (whose registration, if any, is in `sessions`);
/// a registration sends the protocol's events to `events`.
pub(super) fn handle<B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    reporting: &mut Reporting<'_>,
    sessions: &mut HashMap<ConnectionId, ProtocolHandle>,
    connection: ConnectionId,
    request: Request,
    events: impl EventSink + 'static,
    now: Instant,
) -> Response {
    let registered = sessions.get(&connection).copied();
    let need_handle = || registered.ok_or_else(|| Response::error(87, "register first"));
    let result: Result<Response, Response> = (|| {
        Ok(match request {
            Request::Status => Response::Status {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                interfaces: router.io().attached(),
                pinned: reporting.pins.dir().is_some(),
                pin_dir: reporting.pins.dir().map(|d| d.display().to_string()),
                pinned_in: reporting.pins.reach().map(ToString::to_string),
            },
            Request::Stats => match router.io().global_stats() {
                Ok(stats) => {
                    let mut counters: std::collections::BTreeMap<String, u64> =
                        stats.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    counters.extend(router.counters());
                    counters.extend(super::pins::counters().map(|(name, n)| (name.into(), n)));
                    counters.extend(router.veth_counters());
                    Response::Stats { counters }
                }
                Err(e) => Response::error(1003, e.to_string()),
            },
            Request::ShowInterfaces => Response::Interfaces {
                rows: router.interfaces(),
            },
            Request::ShowProtocols => Response::Protocols {
                rows: router.protocols(),
            },
            Request::ShowMfe => Response::Mfes {
                rows: reporting.rates.observe(router.mfes(), now),
            },
            Request::ShowGroups => Response::Groups {
                rows: router.groups(),
            },
            Request::ShowIgmp => Response::Igmp {
                snapshot: router.igmp_snapshot(),
            },
            Request::ShowMld => Response::Mld {
                snapshot: router.mld_snapshot(),
            },
            Request::ShowRoutes => Response::Routes {
                routes: router.routes(),
            },
            Request::ShowJoins => Response::Joins {
                joins: router.host_join_lines(),
            },
            Request::Reload => match reload(router, reporting.config.as_mut(), now) {
                Ok(()) => Response::Ok,
                Err(e) => Response::error(
                    87,
                    format!("configuration refused, the running one kept: {e:#}"),
                ),
            },
            Request::Check => match router.check() {
                Ok(report) => Response::Check {
                    entries: report.entries,
                    differences: report.differences,
                },
                Err(e) => Response::error(1003, format!("reading the forwarding maps: {e}")),
            },
            Request::AddRoute { words } => router.add_route(parse_route(&words)?),
            Request::RemoveRoute { words } => router.remove_route(&parse_route(&words)?),
            Request::Join {
                iface,
                group,
                source,
            } => router.host_join(iface, group, source),
            Request::Leave {
                iface,
                group,
                source,
            } => router.host_leave(iface, group, source),
            Request::Register {
                protocol_id,
                component_id,
                callbacks,
                answer_deadline_ms,
                rpf_reject,
            } => {
                if registered.is_some() {
                    return Err(Response::error(
                        183,
                        "this connection is registered already",
                    ));
                }
                let set = callbacks_of(&callbacks)?;
                let options = api_calls::register_options(answer_deadline_ms, rpf_reject)?;
                match router.register_external(protocol_id, component_id, set, options, events) {
                    Ok(h) => {
                        sessions.insert(connection, h);
                        info!(
                            connection,
                            protocol_id, component_id, "external protocol registered"
                        );
                        Response::Registered { handle: h.raw() }
                    }
                    Err(refusal) => refusal,
                }
            }
            Request::Deregister => {
                let h = need_handle()?;
                if router.external_owns_interfaces(h) {
                    return Err(Response::error(
                        1003,
                        "release every interface first (MgmDeRegisterMProtocol, §4.2)",
                    ));
                }
                sessions.remove(&connection);
                router.deregister_external(h);
                Response::Ok
            }
            Request::TakeInterface { ifid } => {
                let h = need_handle()?;
                if !router.io().interface_exists(ifid.ifindex) {
                    return Err(Response::error(
                        87,
                        format!("no interface has ifindex {}", ifid.ifindex),
                    ));
                }
                router.external_take(h, ifid)
            }
            Request::ReleaseInterface { ifid } => router.external_release(need_handle()?, ifid),
            Request::ProtocolOnInterface { ifid } => router.external_protocol_on_interface(ifid),
            Request::AddMembership {
                sg,
                ifid,
                flags,
                masks,
            } => {
                let call = Membership {
                    add: true,
                    sg,
                    ifid,
                    flags,
                    masks,
                };
                let family = call.family()?;
                in_family!(family, membership(router, need_handle()?, call))?
            }
            Request::DeleteMembership {
                sg,
                ifid,
                flags,
                masks,
            } => {
                let call = Membership {
                    add: false,
                    sg,
                    ifid,
                    flags,
                    masks,
                };
                let family = call.family()?;
                in_family!(family, membership(router, need_handle()?, call))?
            }
            Request::Answer(answer) => router.external_answer(need_handle()?, answer),
            Request::GroupEnumerationStart { enum_type, family } => {
                let h = need_handle()?;
                in_family!(
                    family.unwrap_or_default(),
                    enumeration_start(router, h, enum_type)
                )
            }
            Request::GroupEnumerationGetNext {
                handle,
                buffer_size,
            } => {
                let h = need_handle()?;
                in_family!(
                    split_id(handle).0,
                    enumeration(router, h, handle, Some(buffer_size))
                )
            }
            Request::GroupEnumerationEnd { handle } => {
                let h = need_handle()?;
                in_family!(split_id(handle).0, enumeration(router, h, handle, None))
            }
            Request::GetMfe {
                source,
                group,
                buffer_size,
                family,
            } => {
                let family = family_of(&[source, group], family)?;
                let query = Key::One(source, group);
                in_family!(family, get_mfes(router, query, buffer_size, None, now))?
            }
            Request::GetFirstMfe {
                buffer_size,
                family,
            } => {
                let family = family_of(&[], family)?;
                in_family!(family, get_mfes(router, Key::First, buffer_size, None, now))?
            }
            Request::GetNextMfe {
                source,
                group,
                buffer_size,
                family,
            } => {
                let family = family_of(&[source, group], family)?;
                let query = Key::After(source, group);
                in_family!(family, get_mfes(router, query, buffer_size, None, now))?
            }
            Request::GetMfeStats {
                source,
                group,
                buffer_size,
                flags,
                family,
            } => {
                let family = family_of(&[source, group], family)?;
                let query = Key::One(source, group);
                in_family!(
                    family,
                    get_mfes(router, query, buffer_size, Some(flags), now)
                )?
            }
            Request::GetFirstMfeStats {
                buffer_size,
                flags,
                family,
            } => {
                let family = family_of(&[], family)?;
                in_family!(
                    family,
                    get_mfes(router, Key::First, buffer_size, Some(flags), now)
                )?
            }
            Request::GetNextMfeStats {
                source,
                group,
                buffer_size,
                flags,
                family,
            } => {
                let family = family_of(&[source, group], family)?;
                let query = Key::After(source, group);
                in_family!(
                    family,
                    get_mfes(router, query, buffer_size, Some(flags), now)
                )?
            }
            Request::SetMfe {
                source,
                group,
                upstream,
                family,
            } => {
                let h = need_handle()?;
                let family = family_of(&[source, group, upstream], family)?;
                let key = (source, group, upstream);
                in_family!(family, set_mfe(router, h, key))?
            }
            // The API server answers it itself (it owns the monitor subscriptions).
            Request::Monitor => Response::Ok,
        })
    })();
    result.unwrap_or_else(|e| e)
}

/// The connection `connection` closed: the protocol it registered is deregistered.
pub(super) fn closed<B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    sessions: &mut HashMap<ConnectionId, ProtocolHandle>,
    connection: ConnectionId,
) {
    if let Some(h) = sessions.remove(&connection) {
        info!(connection, "external protocol disconnected: deregistered");
        router.deregister_external(h);
    }
}

/// The arguments of a membership call.
struct Membership {
    add: bool,
    sg: ApiSg,
    ifid: ApiIfId,
    flags: u32,
    masks: Option<ApiMasks>,
}

impl Membership {
    /// The family of its addresses (an unspecified next hop belongs to both).
    fn family(&self) -> Result<ApiFamily, Response> {
        let mut addresses = vec![self.sg.source, self.sg.group];
        addresses.extend(
            self.masks
                .iter()
                .flat_map(|m| [m.source_mask, m.group_mask]),
        );
        addresses.extend(Some(self.ifid.next_hop).filter(|a| !a.is_unspecified()));
        family_of(&addresses, None)
    }
}

/// `MgmAddGroupMembershipEntry` / `MgmDeleteGroupMembershipEntry` in the MGM of family `A`.
fn membership<A: ExternalFamily, B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    h: ProtocolHandle,
    call: Membership,
) -> Result<Response, Response> {
    let (sg, ifid, flags) =
        api_calls::membership_args::<A>(call.sg, call.ifid, call.flags, call.masks)?;
    if call.add && flags.contains(MemberFlags::JOIN) {
        if let Some(refusal) = router.membership_refusal::<A>(h, sg, ifid) {
            return Ok(refusal);
        }
    }
    let response = router.external_call_in::<A>(h, |m, ha, now| {
        if call.add {
            m.add_membership(ha, sg, ifid, flags, now)
        } else {
            m.delete_membership(ha, sg, ifid, flags, now)
        }
    });
    Ok(router.naming_the_owner::<A>(h, ifid, response))
}

/// `MgmGroupEnumerationStart` in the MGM of family `A`.
fn enumeration_start<A: ExternalFamily, B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    h: ProtocolHandle,
    enum_type: u32,
) -> Response {
    router.group_enumeration_start_in::<A>(h, enum_type)
}

/// `MgmGroupEnumerationGetNext` (with a `buffer_size`) or `MgmGroupEnumerationEnd` of the API
/// enumeration handle `handle`, in the MGM of family `A` that gave it out.
fn enumeration<A: ExternalFamily, B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    h: ProtocolHandle,
    handle: u64,
    buffer_size: Option<u32>,
) -> Response {
    let raw = split_id(handle).1;
    router.with_mgm_in::<A, _>(Some(h), |m, ha, _| match (ha, buffer_size) {
        (Some(ha), Some(size)) => api_calls::group_enumeration_get_next(m, ha, raw, size),
        (Some(ha), None) => api_calls::group_enumeration_end(m, ha, raw),
        (None, _) => Response::error(87, "register first"),
    })
}

/// `MgmSetMfe` of (source, group, upstream) in the MGM of family `A`.
fn set_mfe<A: ExternalFamily, B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    h: ProtocolHandle,
    (source, group, upstream): (IpAddr, IpAddr, IpAddr),
) -> Result<Response, Response> {
    let sg = api_family::sg::<A>(ApiSg::new(source, group))?;
    let upstream = api_family::addr::<A>(upstream)?;
    Ok(router.with_mgm_in::<A, _>(Some(h), |m, ha, _| match ha {
        Some(ha) => api_calls::set_mfe(m, ha, sg, upstream),
        None => Response::error(87, "register first"),
    }))
}

/// The MFE a `MgmGet*Mfe*` request names, in the API's addresses.
#[derive(Clone, Copy)]
enum Key {
    One(IpAddr, IpAddr),
    First,
    After(IpAddr, IpAddr),
}

/// The MgmGetMfe* calls in the MGM of family `A`; the stats variants (`stats_flags`) first
/// read the counters of the entries the answer can hold.
fn get_mfes<A: ExternalFamily, B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    key: Key,
    buffer_size: u32,
    stats_flags: Option<u32>,
    now: Instant,
) -> Result<Response, Response> {
    let sg = |s, g| api_family::sg::<A>(ApiSg::new(s, g));
    let query = match key {
        Key::One(s, g) => MfeQuery::One(sg(s, g)?),
        Key::First => MfeQuery::First,
        Key::After(s, g) => MfeQuery::After(sg(s, g)?),
    };
    if stats_flags.is_some() {
        router.refresh_answer_stats(query, buffer_size.min(api_calls::MAX_API_BUFFER), now);
    }
    Ok(router.with_mgm_in::<A, _>(None, |m, _, now| {
        api_calls::get_mfes(m, query, buffer_size, stats_flags, now)
    }))
}
