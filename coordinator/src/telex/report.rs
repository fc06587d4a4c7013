//! A tick's work once it was accepted: each site checked now by an agent, one message saying
//! which are up and which are down, and that message posted to the tick's `return_url` in
//! the document's shape (`event_name`, `message`, `status`, `username`) with a timeout and a
//! few retries.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::join_all;
use lookout_proto::CheckStatus;
use lookout_proto::bounds::{excerpt, truncate_bytes};
use serde_json::{Value, json};

use super::tick::{Site, Tick};
use super::{APP_NAME, EVENT_NAME};
use crate::run_now::{Answer, RunNowBroker, RunNowError};

/// Bytes of a message at most (20 sites with long reasons fit).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Attempts at posting one message, the wait before each retry, and each attempt's timeout.
const ATTEMPTS: usize = 3;
const RETRY_AFTER: [Duration; ATTEMPTS - 1] = [Duration::from_secs(1), Duration::from_secs(3)];
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of one site.
pub struct Outcome<'a> {
    pub site: &'a Site,
    pub answer: Result<Answer, RunNowError>,
}

/// Every site, checked at once.
pub async fn check<'a>(
    run_now: &RunNowBroker,
    regions: &[String],
    named: &str,
    sites: &'a [Site],
) -> Vec<Outcome<'a>> {
    join_all(sites.iter().map(|site| async move {
        let answer = run_now.run(regions, named, site.monitor.clone()).await;
        Outcome { site, answer }
    }))
    .await
}

/// The message (`message`, `status`) a tick's outcomes make: a summary line, then one line
/// per site in the tick's order. `status` is `success` when every site is up and `error`
/// otherwise; `named` names the regions asked for, for "no agent".
pub fn message(outcomes: &[Outcome<'_>], named: &str) -> (String, &'static str) {
    if outcomes
        .iter()
        .all(|o| matches!(o.answer, Err(RunNowError::NoAgent(_))))
    {
        let sites: Vec<String> = outcomes
            .iter()
            .map(|o| excerpt(&o.site.url).into_owned())
            .collect();
        let text = format!(
            "Lookout could not check {}: no agent is connected in {named}. Start an agent there \
             (or set telex.region to a region that has one).",
            sites.join(", ")
        );
        return (
            truncate_bytes(&text, MAX_MESSAGE_BYTES).into_owned(),
            "error",
        );
    }
    let mut lines = Vec::with_capacity(outcomes.len() + 1);
    let mut up = 0;
    let mut region = None;
    for o in outcomes {
        let url = excerpt(&o.site.url);
        let line = match &o.answer {
            Err(e) => format!("{url} was not checked: {e}"),
            Ok(a) => {
                region.get_or_insert_with(|| a.target.region.clone());
                let r = &a.result;
                let why = excerpt(&r.error_message);
                match CheckStatus::try_from(r.status) {
                    Ok(CheckStatus::Up) => {
                        up += 1;
                        let code = r
                            .status_code
                            .map(|c| format!("HTTP {c}, "))
                            .unwrap_or_default();
                        format!("{url} is up ({code}{} ms)", r.duration_us / 1000)
                    }
                    Ok(CheckStatus::Down) => format!("{url} is down: {why}"),
                    Ok(CheckStatus::Degraded) => format!("{url} is degraded: {why}"),
                    _ if why.is_empty() => {
                        format!("{url} was not checked: the agent gave no result")
                    }
                    _ => format!("{url} was not checked: {why}"),
                }
            }
        };
        lines.push(line);
    }
    let n = outcomes.len();
    let summary = match (up, region) {
        (1, Some(r)) if n == 1 => format!("The site is up (checked from region {r})."),
        (_, Some(r)) if n == 1 => format!("The site is not up (checked from region {r})."),
        (u, Some(r)) if u == n => format!("All {n} sites are up (checked from region {r})."),
        (u, Some(r)) => format!(
            "{} of {n} sites are not up (checked from region {r}).",
            n - u
        ),
        (_, None) if n == 1 => "The site could not be checked.".to_string(),
        (_, None) => format!("None of the {n} sites could be checked."),
    };
    lines.insert(0, summary);
    let status = if up == n { "success" } else { "error" };
    (
        truncate_bytes(&lines.join("\n"), MAX_MESSAGE_BYTES).into_owned(),
        status,
    )
}

/// One message of the messages of several regions (each a summary and its lines, in the
/// order the tick named them): `success` only when each is.
pub fn combine(parts: Vec<(String, &'static str)>) -> (String, &'static str) {
    let status = if parts.iter().all(|(_, s)| *s == "success") {
        "success"
    } else {
        "error"
    };
    let texts: Vec<String> = parts.into_iter().map(|(t, _)| t).collect();
    (
        truncate_bytes(&texts.join("\n\n"), MAX_MESSAGE_BYTES).into_owned(),
        status,
    )
}

/// The body posted to `return_url`.
pub fn body(message: &str, status: &str) -> Value {
    json!({
        "event_name": EVENT_NAME,
        "message": message,
        "status": status,
        "username": APP_NAME,
    })
}

/// Posts the message to the tick's `return_url` at `pinned` (the address resolved when the
/// tick was accepted), retrying a failed connection, a timeout, a 429 or a 5xx. Logged with
/// the channel id and the outcome, never the URL (it is the channel's webhook).
pub async fn deliver(tick: &Tick, pinned: SocketAddr, (message, status): &(String, &'static str)) {
    let channel_id = excerpt(&tick.channel_id);
    let host = tick.return_url.host_str().unwrap_or_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
        .timeout(POST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if host.parse::<std::net::IpAddr>().is_err() {
        builder = builder.resolve(host, pinned);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%channel_id, error = %e, "telex: no HTTP client for the result");
            return;
        }
    };
    let payload = body(message, status);
    for attempt in 1..=ATTEMPTS {
        let outcome = client
            .post(tick.return_url.clone())
            .json(&payload)
            .send()
            .await;
        let retry = match outcome {
            Ok(r) if r.status().is_success() => {
                tracing::info!(%channel_id, attempt, result = status, "telex: result delivered");
                return;
            }
            Ok(r) => {
                let code = r.status();
                let retry = code.is_server_error() || code.as_u16() == 429;
                tracing::warn!(%channel_id, attempt, status = code.as_u16(), retry, "telex: return_url refused the result");
                retry
            }
            Err(e) => {
                tracing::warn!(%channel_id, attempt, error = %e.without_url(), "telex: could not post the result");
                true
            }
        };
        match RETRY_AFTER.get(attempt - 1) {
            Some(wait) if retry => tokio::time::sleep(*wait).await,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use lookout_proto::CheckResult;

    use super::*;
    use crate::hub::RunNowTarget;

    fn site(url: &str) -> Site {
        Site {
            url: url.into(),
            monitor: lookout_proto::Monitor::default(),
        }
    }

    fn answer(status: CheckStatus, code: Option<u32>, why: &str) -> Result<Answer, RunNowError> {
        Ok(Answer {
            target: RunNowTarget {
                region: "eu".into(),
                agent_id: "a1".into(),
                session: 1,
            },
            result: CheckResult {
                status: status as i32,
                status_code: code,
                error_message: why.into(),
                duration_us: 12_345,
                ..CheckResult::default()
            },
        })
    }

    #[test]
    fn says_which_sites_are_up_and_which_are_down() {
        let (a, b, c) = (
            site("https://a.example"),
            site("https://b.example"),
            site("https://c.example"),
        );
        let outcomes = [
            Outcome {
                site: &a,
                answer: answer(CheckStatus::Up, Some(200), ""),
            },
            Outcome {
                site: &b,
                answer: answer(CheckStatus::Down, None, "connection refused"),
            },
            Outcome {
                site: &c,
                answer: Err(RunNowError::NoAnswer {
                    agent_id: "a1".into(),
                    secs: 25,
                }),
            },
        ];
        let (text, status) = message(&outcomes, "region eu");
        assert_eq!(status, "error");
        assert_eq!(
            text,
            "2 of 3 sites are not up (checked from region eu).\n\
             https://a.example is up (HTTP 200, 12 ms)\n\
             https://b.example is down: connection refused\n\
             https://c.example was not checked: agent a1 did not answer within 25 s"
        );
        let (text, status) = message(&outcomes[..1], "region eu");
        assert_eq!(
            (status, text.lines().next()),
            ("success", Some("The site is up (checked from region eu)."))
        );
    }

    #[test]
    fn no_agent_says_so_and_long_messages_are_bounded() {
        let a = site("https://a.example");
        let outcomes = [Outcome {
            site: &a,
            answer: Err(RunNowError::NoAgent("region eu".into())),
        }];
        let (text, status) = message(&outcomes, "region eu");
        assert_eq!(status, "error");
        assert!(
            text.contains("no agent is connected in region eu"),
            "{text}"
        );
        let sites: Vec<Site> = (0..20)
            .map(|i| site(&format!("https://{i}.{}", "x".repeat(2000))))
            .collect();
        let outcomes: Vec<Outcome<'_>> = sites
            .iter()
            .map(|s| Outcome {
                site: s,
                answer: answer(CheckStatus::Down, None, &"e".repeat(5000)),
            })
            .collect();
        let (text, _) = message(&outcomes, "region eu");
        assert!(text.len() <= MAX_MESSAGE_BYTES, "{}", text.len());
        assert_eq!(
            body("m", "error"),
            json!({"event_name": "Uptime Check", "message": "m", "status": "error", "username": APP_NAME})
        );
    }
}
