//! Answers one API request: the dispatch from each [`Request`] to the router core, the MGM
//! calls of external protocols and the tables of `mgmctl show`. Generic over the core's ports,
//! so that the same dispatch runs in mgmd and over the fakes (the `api` fuzz target).
use super::{
    api_calls,
    api_calls::MfeQuery,
    mfe_rates::MfeRates,
    pins::Pins,
    router::{EventSink, RouterCore, RouterIo},
    server::ConnectionId,
};
use crate::{
    api::proto::{ApiCallback, Request, Response},
    config::StaticRoute,
    dataplane::ForwardingBackend,
    mgm::{CallbackSet, IfId, ProtocolHandle},
};
use std::{collections::HashMap, sync::atomic::Ordering, time::Instant};
use tracing::info;

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

/// What mgmd keeps beside the router for its answers: where it pinned, and the samples the
/// rates of `show mfe` are measured against.
pub(super) struct Reporting {
    /// Where the data plane is pinned.
    pub(super) pins: Pins,
    /// The previous sample of each entry's counters.
    pub(super) rates: MfeRates,
}

/// Answers one API request of `connection` (whose registration, if any, is in `sessions`);
/// a registration sends the protocol's events to `events`.
pub(super) fn handle<B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    reporting: &mut Reporting,
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
                    let refused = api_calls::ENUMERATIONS_REFUSED.load(Ordering::Relaxed);
                    counters.insert("api_enumerations_refused".into(), refused);
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
                    Err(e) => Response::error(e.win32_code(), e.to_string()),
                }
            }
            Request::Deregister => {
                let h = need_handle()?;
                if !router.mgm().owned_interfaces(h).is_empty() {
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
                let ifid = IfId::new(ifid.ifindex, ifid.next_hop);
                router.external_call(h, |m, now| m.take_interface_ownership(h, ifid, now))
            }
            Request::ReleaseInterface { ifid } => {
                let h = need_handle()?;
                let ifid = IfId::new(ifid.ifindex, ifid.next_hop);
                router.external_call(h, |m, now| m.release_interface_ownership(h, ifid, now))
            }
            Request::ProtocolOnInterface { ifid } => {
                match router
                    .mgm()
                    .protocol_on_interface(IfId::new(ifid.ifindex, ifid.next_hop))
                {
                    Ok((protocol_id, component_id)) => Response::Owner {
                        protocol_id,
                        component_id,
                    },
                    Err(e) => Response::error(e.win32_code(), e.to_string()),
                }
            }
            Request::AddMembership {
                sg,
                ifid,
                flags,
                masks,
            } => {
                let h = need_handle()?;
                let (sg, ifid, flags) = api_calls::membership_args(sg, ifid, flags, masks)?;
                router.external_call(h, |m, now| m.add_membership(h, sg, ifid, flags, now))
            }
            Request::DeleteMembership {
                sg,
                ifid,
                flags,
                masks,
            } => {
                let h = need_handle()?;
                let (sg, ifid, flags) = api_calls::membership_args(sg, ifid, flags, masks)?;
                router.external_call(h, |m, now| m.delete_membership(h, sg, ifid, flags, now))
            }
            Request::Answer(answer) => router.external_answer(need_handle()?, answer),
            Request::GroupEnumerationStart { enum_type } => {
                let h = need_handle()?;
                router.with_mgm(|m, _| api_calls::group_enumeration_start(m, h, enum_type))
            }
            Request::GroupEnumerationGetNext {
                handle,
                buffer_size,
            } => {
                let h = need_handle()?;
                router.with_mgm(|m, _| {
                    api_calls::group_enumeration_get_next(m, h, handle, buffer_size)
                })
            }
            Request::GroupEnumerationEnd { handle } => {
                let h = need_handle()?;
                router.with_mgm(|m, _| api_calls::group_enumeration_end(m, h, handle))
            }
            Request::GetMfe {
                source,
                group,
                buffer_size,
            } => get_mfes(router, MfeQuery::One(source, group), buffer_size, None, now),
            Request::GetFirstMfe { buffer_size } => {
                get_mfes(router, MfeQuery::First, buffer_size, None, now)
            }
            Request::GetNextMfe {
                source,
                group,
                buffer_size,
            } => get_mfes(
                router,
                MfeQuery::After(source, group),
                buffer_size,
                None,
                now,
            ),
            Request::GetMfeStats {
                source,
                group,
                buffer_size,
                flags,
            } => get_mfes(
                router,
                MfeQuery::One(source, group),
                buffer_size,
                Some(flags),
                now,
            ),
            Request::GetFirstMfeStats { buffer_size, flags } => {
                get_mfes(router, MfeQuery::First, buffer_size, Some(flags), now)
            }
            Request::GetNextMfeStats {
                source,
                group,
                buffer_size,
                flags,
            } => get_mfes(
                router,
                MfeQuery::After(source, group),
                buffer_size,
                Some(flags),
                now,
            ),
            Request::SetMfe {
                source,
                group,
                upstream,
            } => {
                let h = need_handle()?;
                router.with_mgm(|m, _| api_calls::set_mfe(m, h, source, group, upstream))
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

/// The MgmGetMfe* calls; the stats variants (`stats_flags`) first read the counters if they
/// are older than the core's `STATS_FRESHNESS`.
fn get_mfes<B: ForwardingBackend, I: RouterIo>(
    router: &mut RouterCore<B, I>,
    query: MfeQuery,
    buffer_size: u32,
    stats_flags: Option<u32>,
    now: Instant,
) -> Response {
    if stats_flags.is_some() {
        router.refresh_stale_stats(now);
    }
    router.with_mgm(|m, now| api_calls::get_mfes(m, query, buffer_size, stats_flags, now))
}
