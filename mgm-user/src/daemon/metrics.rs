//! The opt-in Prometheus endpoint (`[metrics]` in the configuration): `GET /metrics` over
//! HTTP/1.1 on a loopback address by default.
//!
//! Each scrape asks mgmd through its own API socket, as any client would (status, counters,
//! interfaces, forwarding entries, IGMP, MLD), so the exposition always agrees with
//! `mgmctl --json show …` and the router loop is never touched from here. Bounds: at most
//! [`MAX_SCRAPES`] scrapes at once (others get 503), per-entry series for at most
//! `max_entries` entries (the rest are summed in the per-interface series and counted in
//! `mgm_metrics_entries_omitted`).
use super::interface_totals::InterfaceTotals;
use crate::{
    api::{
        client::Client,
        proto::{MfeRow, Request, Response},
    },
    igmp, mld,
};
use anyhow::{bail, Result};
use http_body_util::Full;
use hyper::{body::Bytes, server::conn::http1, service::service_fn, Method, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::{
    net::TcpListener,
    sync::{Mutex, Semaphore},
    task::JoinHandle,
};
use tracing::{info, warn};

/// Scrapes answered at once.
pub const MAX_SCRAPES: usize = 4;

/// Starts the endpoint on `listen`; each scrape queries the API at `api`.
pub async fn serve(listen: SocketAddr, api: PathBuf, max_entries: usize) -> Result<JoinHandle<()>> {
    let listener = TcpListener::bind(listen).await?;
    info!(%listen, "metrics endpoint listening (GET /metrics)");
    let api = Arc::new(api);
    let slots = Arc::new(Semaphore::new(MAX_SCRAPES));
    let totals = Arc::new(Mutex::new(InterfaceTotals::default()));
    Ok(tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or memory: wait instead of spinning on the error.
                    warn!(error = %e, "metrics accept failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let (api, slots, totals) = (api.clone(), slots.clone(), totals.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (api, slots, totals) = (api.clone(), slots.clone(), totals.clone());
                    async move {
                        let scraper = Scraper {
                            api: &api,
                            max_entries,
                            totals: &totals,
                        };
                        Ok::<_, std::convert::Infallible>(answer(&request, &slots, scraper).await)
                    }
                });
                let served = http1::Builder::new()
                    .header_read_timeout(Duration::from_secs(5))
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(error = %e, "metrics connection");
                }
            });
        }
    }))
}

/// What a scrape needs: the API socket, the bound of per-entry series and the per-interface
/// totals kept between scrapes.
struct Scraper<'a> {
    api: &'a PathBuf,
    max_entries: usize,
    totals: &'a Mutex<InterfaceTotals>,
}

async fn answer<B>(
    request: &hyper::Request<B>,
    slots: &Semaphore,
    scraper: Scraper<'_>,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if request.method() != Method::GET || request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "only GET /metrics is served\n".into(),
        );
    }
    let Ok(_slot) = slots.try_acquire() else {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many scrapes at once\n".into(),
        );
    };
    match scrape(scraper).await {
        Ok(text) => {
            let mut response = reply(StatusCode::OK, text);
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        Err(e) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("mgmd did not answer: {e}\n"),
        ),
    }
}

/// mgmd's state through the API.
struct State {
    counters: BTreeMap<String, u64>,
    interfaces: Vec<crate::api::proto::InterfaceRow>,
    mfes: Vec<MfeRow>,
    igmp: Option<igmp::Snapshot>,
    mld: Option<mld::Snapshot>,
}

async fn fetch(api: &PathBuf) -> Result<State> {
    let mut client = Client::connect(api).await?;
    let Response::Stats { counters } = client.call(&Request::Stats).await? else {
        bail!("unexpected answer to stats");
    };
    let Response::Interfaces { rows: interfaces } = client.call(&Request::ShowInterfaces).await?
    else {
        bail!("unexpected answer to show interfaces");
    };
    let Response::Mfes { rows } = client.call(&Request::ShowMfe).await? else {
        bail!("unexpected answer to show mfe");
    };
    let mfes = rows.into_iter().map(|r| r.entry).collect();
    let igmp = match client.call(&Request::ShowIgmp).await? {
        Response::Igmp { snapshot } => serde_json::from_value(snapshot).ok(),
        _ => None,
    };
    let mld = match client.call(&Request::ShowMld).await? {
        Response::Mld { snapshot } => serde_json::from_value(snapshot).ok(),
        _ => None,
    };
    Ok(State {
        counters,
        interfaces,
        mfes,
        igmp,
        mld,
    })
}

/// The families of one scrape, registered as they are made.
struct Families(Registry);

impl Families {
    fn counter(&self, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec> {
        let family = IntCounterVec::new(Opts::new(name, help), labels)?;
        self.0.register(Box::new(family.clone()))?;
        Ok(family)
    }

    fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec> {
        let family = IntGaugeVec::new(Opts::new(name, help), labels)?;
        self.0.register(Box::new(family.clone()))?;
        Ok(family)
    }
}

/// One scrape: the exposition text (Prometheus text format 0.0.4). Scrapes take turns, so
/// that the per-interface totals follow the entries in the order mgmd answered.
async fn scrape(scraper: Scraper<'_>) -> Result<String> {
    let mut totals = scraper.totals.lock().await;
    let state = fetch(scraper.api).await?;
    let per_interface = totals.update(&state.mfes);
    drop(totals);
    let max_entries = scraper.max_entries;
    let f = Families(Registry::new_custom(Some("mgm".into()), None)?);

    let events = f.counter(
        "dataplane_events_total",
        "Data-plane and hold-queue events by counter name: every drop, punt and report reason",
        &["counter"],
    )?;
    let queued = f.gauge(
        "hold_queued",
        "Packets held now for entries being created",
        &[],
    )?;
    let levels = f.gauge(
        "state",
        "Sizes and waits now by counter name: the show stats names ending in _now (entries, \
         retries waiting, unserved queues)",
        &["counter"],
    )?;
    let veths = f.gauge(
        "veth",
        "veths in service: peer_ready (1/0), xdp_lost (copies counted as sent the veth never \
         handed on, a lower bound)",
        &["interface", "counter"],
    )?;
    let veth_drops = f.counter(
        "veth_dropped_total",
        "veths in service: their own tx_dropped and rx_dropped (by direction)",
        &["interface", "direction"],
    )?;
    for (name, value) in &state.counters {
        if name == "hold_queued_now" {
            queued.with_label_values(&[] as &[&str]).set(gauge(*value));
        } else if name.ends_with("_now") {
            levels.with_label_values(&[name]).set(gauge(*value));
        } else if let Some((interface, counter)) = veth_counter(name) {
            match counter.strip_suffix("_dropped") {
                Some(direction) => veth_drops
                    .with_label_values(&[interface, direction])
                    .inc_by(*value),
                None => veths
                    .with_label_values(&[interface, counter])
                    .set(gauge(*value)),
            }
        } else {
            events.with_label_values(&[name]).inc_by(*value);
        }
    }

    let up = f.gauge("interface_up", "Interface up with carrier", &["interface"])?;
    let xdp = f.gauge(
        "interface_xdp_attached",
        "XDP attached (in service)",
        &["interface"],
    )?;
    for row in &state.interfaces {
        up.with_label_values(&[&row.name]).set(i64::from(row.up));
        xdp.with_label_values(&[&row.name])
            .set(i64::from(row.xdp.is_some()));
    }

    let entries = f.gauge("mfe_entries", "Forwarding entries, by kind", &["kind"])?;
    let negative = state.mfes.iter().filter(|m| m.oifs.is_empty()).count();
    entries
        .with_label_values(&["forwarding"])
        .set(gauge((state.mfes.len() - negative) as u64));
    entries
        .with_label_values(&["negative"])
        .set(gauge(negative as u64));
    f.gauge(
        "metrics_entries_omitted",
        "Entries without per-entry series (over [metrics] max_entries)",
        &[],
    )?
    .with_label_values(&[] as &[&str])
    .set(gauge(state.mfes.len().saturating_sub(max_entries) as u64));
    let entry = ["source", "group", "iif"];
    let entry_oif = ["source", "group", "iif", "oif"];
    let in_packets = f.counter(
        "mfe_in_packets_total",
        "Packets accepted by an entry",
        &entry,
    )?;
    let in_bytes = f.counter("mfe_in_bytes_total", "Bytes accepted by an entry", &entry)?;
    let wrong_if = f.counter(
        "mfe_wrong_if_packets_total",
        "Packets of an entry that arrived on another interface",
        &entry,
    )?;
    let out_packets = f.counter(
        "mfe_out_packets_total",
        "Copies sent, per entry and outgoing interface",
        &entry_oif,
    )?;
    let out_bytes = f.counter(
        "mfe_out_bytes_total",
        "Bytes sent, per entry and outgoing interface",
        &entry_oif,
    )?;
    let out_drops = f.counter(
        "mfe_out_drops_total",
        "Copies dropped by the TTL threshold or MTU, per entry and outgoing interface",
        &entry_oif,
    )?;
    let iface = ["interface"];
    let if_in = f.counter(
        "interface_in_packets_total",
        "Packets the forwarding entries accepted on the interface (entries gone included)",
        &iface,
    )?;
    let if_in_bytes = f.counter(
        "interface_in_bytes_total",
        "Bytes the forwarding entries accepted on the interface",
        &iface,
    )?;
    let if_out = f.counter(
        "interface_out_packets_total",
        "Copies sent on the interface (entries gone included)",
        &iface,
    )?;
    let if_out_bytes = f.counter(
        "interface_out_bytes_total",
        "Bytes sent on the interface",
        &iface,
    )?;
    for (name, counts) in &per_interface {
        let (inbound, outbound) = (counts.inbound, counts.outbound);
        for (family, value) in [
            (&if_in, inbound.packets),
            (&if_in_bytes, inbound.bytes),
            (&if_out, outbound.packets),
            (&if_out_bytes, outbound.bytes),
        ] {
            family.with_label_values(&[name.as_str()]).inc_by(value);
        }
    }
    for m in state.mfes.iter().take(max_entries) {
        let (source, group) = (m.source.to_string(), m.group.to_string());
        let labels = [source.as_str(), group.as_str(), m.iif.as_str()];
        in_packets.with_label_values(&labels).inc_by(m.packets);
        in_bytes.with_label_values(&labels).inc_by(m.bytes);
        wrong_if.with_label_values(&labels).inc_by(m.wrong_if);
        for o in &m.oifs {
            let labels = [
                source.as_str(),
                group.as_str(),
                m.iif.as_str(),
                o.iface.as_str(),
            ];
            out_packets.with_label_values(&labels).inc_by(o.packets);
            out_bytes.with_label_values(&labels).inc_by(o.bytes);
            out_drops.with_label_values(&labels).inc_by(o.drops);
        }
    }

    let names: BTreeMap<u32, &str> = state
        .interfaces
        .iter()
        .map(|row| (row.ifindex, row.name.as_str()))
        .collect();
    let named = |ifindex: u32| names.get(&ifindex).copied().unwrap_or("");
    let igmp = state.igmp.iter().flat_map(|s| &s.interfaces).map(|i| {
        let sources = i.groups.iter().map(|g| g.sources.len()).sum();
        let labels = [named(i.ifindex).to_owned(), i.ifindex.to_string()];
        (labels, i.groups.len(), sources, i.querier.is_self)
    });
    listener_series(&f, "igmp", "IGMP", igmp)?;
    let mld = state.mld.iter().flat_map(|s| &s.interfaces).map(|i| {
        let sources = i.groups.iter().map(|g| g.sources.len()).sum();
        let labels = [named(i.ifindex).to_owned(), i.ifindex.to_string()];
        (labels, i.groups.len(), sources, i.querier.is_self)
    });
    listener_series(&f, "mld", "MLD", mld)?;
    Ok(TextEncoder::new().encode_to_string(&f.0.gather())?)
}

/// The series of a listener protocol (`name`: `igmp` or `mld`, `shown` in the help texts) from
/// its interfaces: (labels: name and ifindex, groups, source records, whether this router is
/// the querier).
fn listener_series(
    f: &Families,
    name: &str,
    shown: &str,
    interfaces: impl Iterator<Item = ([String; 2], usize, usize, bool)>,
) -> Result<()> {
    let ifindex = ["interface", "ifindex"];
    let groups = f.gauge(
        &format!("{name}_groups"),
        &format!("Groups with receivers, by {shown} interface"),
        &ifindex,
    )?;
    let sources = f.gauge(
        &format!("{name}_sources"),
        &format!("Source records, by {shown} interface"),
        &ifindex,
    )?;
    let querier = f.gauge(
        &format!("{name}_querier_is_self"),
        &format!("1 where this router is the {shown} querier"),
        &ifindex,
    )?;
    for (labels, group_count, source_count, is_self) in interfaces {
        groups
            .with_label_values(&labels)
            .set(gauge(group_count as u64));
        sources
            .with_label_values(&labels)
            .set(gauge(source_count as u64));
        querier.with_label_values(&labels).set(i64::from(is_self));
    }
    Ok(())
}

/// (interface, counter) of a veth counter of `show stats` (`veth_<interface>_<counter>`).
fn veth_counter(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("veth_")?;
    ["peer_ready", "xdp_lost", "tx_dropped", "rx_dropped"]
        .into_iter()
        .find_map(|counter| {
            let interface = rest.strip_suffix(counter)?.strip_suffix('_')?;
            (!interface.is_empty()).then_some((interface, counter))
        })
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::veth_counter;

    #[test]
    fn veth_counters_are_split_into_interface_and_counter() {
        assert_eq!(
            veth_counter("veth_rcv_1_peer_ready"),
            Some(("rcv_1", "peer_ready"))
        );
        assert_eq!(veth_counter("veth_up0_xdp_lost"), Some(("up0", "xdp_lost")));
        assert_eq!(veth_counter("veth__tx_dropped"), None);
        assert_eq!(veth_counter("hold_wrong_if"), None);
        assert_eq!(veth_counter("veth_up0_other"), None);
    }
}
