//! `bench processing`: healthy results of many monitors in several regions, encoded as they
//! come from Kafka, through the notifier's consumer loop on a SQLite store; results per second
//! of the process's CPU time, after a warm-up round that first sees every monitor.

use std::sync::Arc;

use clap::Args;
use lookout_proto::CheckStatus;
use tokio::sync::oneshot;

use super::feed::EncodedLog;
use super::{BenchError, Goal, Report};

const GOAL_PER_CORE: f64 = 200_000.0;

#[derive(Debug, Args)]
pub struct ProcessingArgs {
    #[arg(long, default_value_t = 10_000)]
    pub monitors: usize,
    #[arg(long, default_value_t = 3)]
    pub regions: usize,
    /// Results per monitor and region; the first round is the warm-up.
    #[arg(long, default_value_t = 11)]
    pub rounds: usize,
}

pub(super) async fn run(a: ProcessingArgs) -> Result<Report, BenchError> {
    let dir = tempfile::tempdir().map_err(|e| BenchError::setup("temp dir", e))?;
    let store = super::sqlite_store(dir.path()).await?;
    let hook = super::webhook(&store, "int_bench", "http://127.0.0.1:9/unused").await?;
    let regions = super::regions(a.regions);
    let ids = super::monitors(&store, "p", a.monitors, &regions, 3, &hook.id).await?;
    let interval_ms = 30_000;
    let first = lookout_store::now_ms() - (a.rounds as i64) * interval_ms;
    let mut results = Vec::with_capacity(a.rounds * ids.len() * regions.len());
    for round in 0..a.rounds {
        let at = first + round as i64 * interval_ms;
        for id in &ids {
            for region in &regions {
                results.push(super::result(id, region, CheckStatus::Up, at));
            }
        }
    }
    let total = results.len() as u64;
    let log = EncodedLog::new(&results, (ids.len() * regions.len()) as u64);
    drop(results);
    let progress = Arc::clone(&log.progress);
    let (stop, stopped) = oneshot::channel::<()>();
    let notifier = tokio::spawn(crate::run(
        super::notifier_config("bench-processing"),
        store.clone(),
        Box::new(log),
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let (end, cpu_end) = progress.wait_drained().await;
    let _ = stop.send(());
    match notifier.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(BenchError::setup("notifier", e)),
        Err(e) => return Err(BenchError::setup("notifier task", e)),
    }
    let Some(&(start, cpu_start, warm)) = progress.warm.get() else {
        return Err(BenchError::Setup("the warm-up never finished".into()));
    };
    let measured = (total - warm) as f64;
    let cpu = (cpu_end - cpu_start).max(0.01);
    let wall = end.duration_since(start).as_secs_f64().max(0.001);
    let mut r = Report::new();
    r.info(format!(
        "{} monitors x {} regions, {} results after a warm-up of {warm}: {:.2} s wall, {:.2} s CPU ({} results/s wall)",
        a.monitors,
        a.regions,
        measured,
        wall,
        cpu,
        super::figure(measured / wall)
    ));
    r.goal(
        "processing",
        measured / cpu,
        "results/s per core",
        Goal::AtLeast,
        GOAL_PER_CORE,
    );
    store.close().await;
    Ok(r)
}
