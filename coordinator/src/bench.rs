//! `lookout-coordinator bench-assign`: the assignment at scale, in this process. Monitors in
//! every region, agents joining at once, each played by a task that does what a session and
//! its agent do with an assignment (write it, apply it, report it applied); then one agent
//! leaves. Prints the time until the first complete assignment (every (monitor, region) pair
//! with exactly one agent, every move finished), the process's memory, and the share of pairs
//! that moved when the agent left, each beside its goal; exits non-zero when one is missed.
//! Copying each snapshot out (part by part, as a session writes it) runs meanwhile and is
//! timed on its own; encoding for the wire is the sessions' work and not measured here.

pub mod ingest;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lookout_proto::Monitor;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{Heartbeat, TcpCheck};
use lookout_store::{Keyring, Store};

use crate::hub::{Hub, Joined, OutboxItem};

#[derive(Debug, clap::Args)]
pub struct AssignArgs {
    /// Monitors, each in every region.
    #[arg(long, default_value_t = 1_000_000)]
    pub monitors: usize,
    #[arg(long, default_value_t = 3)]
    pub regions: usize,
    /// Agents in all, spread evenly over the regions.
    #[arg(long, default_value_t = 30)]
    pub agents: usize,
}

const GOAL_FIRST_ASSIGNMENT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(5);

/// One agent as the bench plays it: monitors received in deltas after its snapshot.
struct Played {
    id: String,
    region: String,
    session: u64,
    received: Arc<AtomicU64>,
    /// Its snapshot has been copied out.
    copied: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

pub async fn assign(args: AssignArgs) -> Result<(), String> {
    if args.monitors == 0 || args.regions == 0 || args.agents < args.regions {
        return Err("needs monitors, regions, and at least one agent per region".into());
    }
    let regions: Vec<String> = (0..args.regions).map(|r| format!("region-{r}")).collect();
    let monitors: Vec<Monitor> = (0..args.monitors).map(|i| monitor(i, &regions)).collect();
    let keyring = Keyring::generate("bench").map_err(|e| e.to_string())?;
    let store = Store::open("sqlite::memory:", keyring)
        .await
        .map_err(|e| e.to_string())?;
    let hub = Hub::new(store, monitors);
    let (loaded_rss, _) = lookout_runtime::memory_mib("self");
    let pairs = args.monitors * args.regions;
    println!(
        "{} monitors x {} regions = {pairs} pairs over {} agents; hub loaded, RSS {loaded_rss:.0} MiB",
        args.monitors, args.regions, args.agents
    );

    let started = Instant::now();
    let joins: Vec<_> = (0..args.agents)
        .map(|a| {
            let hub = Arc::clone(&hub);
            let region = regions[a % regions.len()].clone();
            tokio::spawn(async move {
                let id = format!("agent-{a:03}");
                let joined = hub
                    .join(&id, &region, "bench", 1, 0)
                    .await
                    .expect("the hub leads");
                play(hub, id, region, joined)
            })
        })
        .collect();
    let mut agents = Vec::with_capacity(joins.len());
    for j in joins {
        agents.push(j.await.map_err(|e| e.to_string())?);
    }
    let joined_in = started.elapsed();
    settled(&hub, pairs, args.agents).await;
    let complete_in = started.elapsed();
    let (rss, peak) = lookout_runtime::memory_mib("self");
    println!(
        "first complete assignment: {:.2} s (all joined after {:.2} s; goal <= {:.1} s) {}",
        complete_in.as_secs_f64(),
        joined_in.as_secs_f64(),
        GOAL_FIRST_ASSIGNMENT.as_secs_f64(),
        verdict(complete_in <= GOAL_FIRST_ASSIGNMENT)
    );
    println!("coordinator RSS {rss:.0} MiB (peak {peak:.0} MiB)");
    // The sessions' share, beside the assignment: every snapshot copied out for the wire.
    while !agents.iter().all(|a| a.copied.load(Ordering::SeqCst)) {
        tokio::time::sleep(POLL).await;
    }
    println!(
        "every snapshot copied out for its session after {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let leaver = agents.remove(0);
    let had = hub
        .agents(&leaver.region)
        .await
        .iter()
        .find(|a| a.agent_id == leaver.id)
        .map_or(0, |a| u64::from(a.assigned_monitors));
    let received = || -> u64 {
        agents
            .iter()
            .map(|a| a.received.load(Ordering::SeqCst))
            .sum()
    };
    let before = received();
    let left = Instant::now();
    hub.leave(&leaver.id, &leaver.region, leaver.session).await;
    leaver.task.abort();
    settled(&hub, pairs, args.agents - 1).await;
    // Every pair the leaver had must reach another agent; anything more moved needlessly.
    // The deltas are taken by the agents' tasks: wait until they are in, then until no more
    // arrive for a few polls.
    let mut moved = received() - before;
    let mut still = 0;
    while moved < had || still < 4 {
        tokio::time::sleep(POLL).await;
        let now = received() - before;
        still = if now == moved { still + 1 } else { 0 };
        moved = now;
    }
    let share = moved as f64 / pairs as f64;
    let goal = 1.0 / args.agents as f64 + 0.01;
    println!(
        "one agent left: {moved} pairs moved ({:.2}% of all; goal <= {:.2}%) in {:.2} s {}",
        share * 100.0,
        goal * 100.0,
        left.elapsed().as_secs_f64(),
        verdict(share <= goal)
    );
    for a in agents {
        a.task.abort();
    }
    if complete_in > GOAL_FIRST_ASSIGNMENT || share > goal {
        return Err("a goal was missed".into());
    }
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "[met]" } else { "[MISSED]" }
}

fn monitor(i: usize, regions: &[String]) -> Monitor {
    Monitor {
        id: format!("mon_{:026}", i),
        name: format!("port {i}"),
        regions: regions.to_vec(),
        interval_secs: 60,
        timeout_ms: 5000,
        version: 1,
        check: Some(Check::Tcp(TcpCheck {
            address: format!("10.{}.{}.{}:443", i >> 16 & 255, i >> 8 & 255, i & 255),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Plays a session and its agent: every assignment is written and reported applied at once.
fn play(hub: Arc<Hub>, id: String, region: String, joined: Joined) -> Played {
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let copied = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&copied);
    let (agent, place, session) = (id.clone(), region.clone(), joined.session);
    let task = tokio::spawn(async move {
        // What the session does first: copy the snapshot out of the shared monitors, part
        // by part as it writes them.
        let mut applied = joined.version;
        for part in joined.snapshot_parts(lookout_proto::chunk::MAX_ASSIGNMENT_BYTES) {
            applied = part.version;
            // Where a session waits for its stream to take the part.
            tokio::task::yield_now().await;
        }
        done.store(true, Ordering::SeqCst);
        loop {
            joined.outbox.sent(applied);
            let beat = Heartbeat {
                applied_assignment_version: applied,
                ..Default::default()
            };
            hub.heartbeat(&agent, &place, session, &beat).await;
            match joined.outbox.next().await {
                OutboxItem::Delta(a) => {
                    counter.fetch_add(a.upserts.len() as u64, Ordering::SeqCst);
                    applied = a.version;
                }
                OutboxItem::RunNow(_) | OutboxItem::Drained(_) => {}
                OutboxItem::Closed(_) => return,
            }
        }
    });
    Played {
        id,
        region,
        session,
        received,
        copied,
        task,
    }
}

/// Waits until `agents` agents hold `pairs` monitors in all: every pair has exactly one agent
/// and no move is still waiting for its new owner.
async fn settled(hub: &Hub, pairs: usize, agents: usize) {
    loop {
        let listed = hub.agents("").await;
        let held: usize = listed.iter().map(|a| a.assigned_monitors as usize).sum();
        if listed.len() == agents && held == pairs {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}
