//! The standalone terminal view: a live table of monitors per region when stdout is a
//! terminal, plain lines otherwise; incidents are printed as they open and resolve, and a
//! region without data (the coordinator's `NO_DATA` results) shows as `NO_DATA`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use lookout_bus::{InProcConsumer, ResultConsumer};
use lookout_notifier::IncidentEvent;
use lookout_proto::{CheckResult, CheckStatus};
use lookout_store::Store;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Row {
    status: &'static str,
    latency_us: u64,
    consecutive_failures: u32,
    error: String,
}

#[derive(Default)]
struct State {
    /// (monitor id, region) -> last result.
    rows: BTreeMap<(String, String), Row>,
    names: BTreeMap<String, String>,
    events: Vec<String>,
}

impl State {
    /// Applies a result; returns a line when the (monitor, region) changed status.
    fn apply(&mut self, r: &CheckResult) -> Option<String> {
        let status = r.status();
        if status == CheckStatus::Missed {
            return None;
        }
        let row = self
            .rows
            .entry((r.monitor_id.clone(), r.region.clone()))
            .or_default();
        let before = row.status;
        row.status = status.label();
        row.latency_us = r.duration_us;
        row.consecutive_failures = match status {
            CheckStatus::Down => row.consecutive_failures + 1,
            // No data is neither a failure nor a success.
            CheckStatus::NoData => row.consecutive_failures,
            _ => 0,
        };
        row.error = r.error_message.clone();
        (before != row.status).then(|| {
            let name = self
                .names
                .get(&r.monitor_id)
                .cloned()
                .unwrap_or_else(|| r.monitor_id.clone());
            let why = if r.error_message.is_empty() {
                String::new()
            } else {
                format!(": {}", r.error_message)
            };
            if status == CheckStatus::NoData {
                format!("{name} [{}] has NO DATA{why}", r.region)
            } else {
                format!("{name} [{}] is {}{why}", r.region, status.label())
            }
        })
    }

    fn render(&self) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY);
        t.set_header(vec![
            "MONITOR",
            "REGION",
            "STATUS",
            "LATENCY",
            "FAILURES",
            "LAST ERROR",
        ]);
        for ((id, region), row) in &self.rows {
            t.add_row(vec![
                self.names.get(id).cloned().unwrap_or_else(|| id.clone()),
                region.clone(),
                row.status.to_string(),
                if row.status == CheckStatus::NoData.label() {
                    "-".to_string()
                } else {
                    format!("{:.1} ms", row.latency_us as f64 / 1000.0)
                },
                row.consecutive_failures.to_string(),
                row.error.chars().take(60).collect(),
            ]);
        }
        let mut out = format!("\x1b[2J\x1b[Hlookout standalone  (ctrl-c to stop)\n{t}\n");
        for e in self.events.iter().rev().take(10).rev() {
            out.push_str(e);
            out.push('\n');
        }
        out
    }
}

pub async fn run(
    store: Store,
    mut results: InProcConsumer,
    mut incidents: broadcast::Receiver<IncidentEvent>,
    stop: CancellationToken,
) {
    let live = std::io::stdout().is_terminal();
    let mut state = State::default();
    let mut redraw = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            batch = results.poll(1000) => {
                let Ok(batch) = batch else { return };
                if batch.iter().any(|r| !state.names.contains_key(&r.result.monitor_id))
                    && let Ok(monitors) = store.list_monitors().await
                {
                    state.names = monitors.into_iter().map(|m| (m.id, m.name)).collect();
                }
                for r in &batch {
                    if let Some(line) = state.apply(&r.result)
                        && !live
                    {
                        println!("{line}");
                    }
                }
            }
            event = incidents.recv() => match event {
                Ok(e) => {
                    let line = e.to_string();
                    if !live {
                        println!("{line}");
                    }
                    state.events.push(line);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = redraw.tick(), if live => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(state.render().as_bytes());
                let _ = out.flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: CheckStatus, message: &str) -> CheckResult {
        CheckResult {
            monitor_id: "mon_1".into(),
            region: "local".into(),
            status: status as i32,
            duration_us: 1_500,
            error_message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn no_data_is_shown_as_its_own_status() {
        let mut state = State::default();
        state.names.insert("mon_1".into(), "API".into());
        assert_eq!(
            state
                .apply(&result(CheckStatus::Down, "timeout"))
                .as_deref(),
            Some("API [local] is DOWN: timeout")
        );
        let no_data = result(CheckStatus::NoData, "no agent connected in region local");
        assert_eq!(
            state.apply(&no_data).as_deref(),
            Some("API [local] has NO DATA: no agent connected in region local")
        );
        // The coordinator's reminders change nothing on screen.
        assert_eq!(state.apply(&no_data), None);
        let table = state.render();
        let row = table
            .lines()
            .find(|l| l.contains("API"))
            .expect("a row for API");
        assert!(row.contains("NO_DATA"), "{row}");
        assert!(row.contains(" - "), "no latency without data: {row}");
        assert!(
            row.contains(" 1 "),
            "the failure before the gap stays: {row}"
        );
        assert_eq!(
            state.apply(&result(CheckStatus::Up, "")).as_deref(),
            Some("API [local] is UP")
        );
    }
}
