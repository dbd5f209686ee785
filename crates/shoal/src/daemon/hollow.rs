//! Hollow nodes: many simulated nodes in one process, each with its own identity and
//! certificate, speaking the real dispatcher protocol (session, heartbeats, assignments,
//! status reports) and running its tasks on the simulated executor. For scale tests and
//! benchmarks: `shoal agent --hollow 1000 --join-token … --join-addr …`.

use std::sync::Arc;

use agent::{Agent, AgentEvent};
use anyhow::Context;
use rpc::Pool;
use tokio::sync::mpsc;
use types::Clock;

/// A running hollow node (dropping it does not stop it; the process exit does).
struct Hollow {
    _agent: Agent,
}

async fn start_one(
    i: usize,
    prefix: &str,
    token: &ca::JoinToken,
    token_text: &str,
    addr: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Hollow> {
    let started = agent::start(
        agent::ExecutorConfig::Sim(Default::default()),
        super::network_layer::hollow(),
        None,
        clock,
        agent::describe_host(Some(&format!("{prefix}-{i:05}")), Default::default()),
    )
    .await?;
    let (issued, key_pem) =
        super::join::request_certificate(addr, token, token_text, started.description.clone(), "", None)
            .await
            .with_context(|| format!("hollow node {i} joining"))?;
    let client = ca::tls::client_config(&issued.cert_pem, &key_pem, &issued.ca_cert_pem)?;
    let (events, mut rx) = mpsc::channel::<AgentEvent>(16);
    // Hollow nodes do not change roles; their events only need draining.
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let agent = started.session(Pool::new(client), vec![addr.to_string()], events);
    Ok(Hollow { _agent: agent })
}

/// Joins `count` hollow nodes through the manager at `addr` (a few at a time) and runs them
/// until the process is told to stop.
pub async fn run(
    count: usize,
    prefix: &str,
    token_text: &str,
    addr: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let token = ca::JoinToken::parse(token_text.trim())?;
    let mut nodes = Vec::with_capacity(count);
    let started = tokio::time::Instant::now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(32) {
        let joins = chunk
            .iter()
            .map(|&i| start_one(i, prefix, &token, token_text.trim(), addr, clock.clone()));
        for hollow in futures::future::join_all(joins).await {
            nodes.push(hollow?);
        }
    }
    println!(
        "{} hollow nodes joined in {} ms",
        nodes.len(),
        started.elapsed().as_millis()
    );
    super::wait_for_signal().await;
    Ok(())
}
