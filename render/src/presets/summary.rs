//! What every chat and paging preset says about an event: a tone (the colour of its
//! severity), a title and a list of facts, in the same words on every service. Values are
//! plain text, bounded here; each service escapes them for its own markup.

use lookout_proto::v1::{EventKind, NotificationEvent};

use crate::native::rfc3339_seconds;

/// A fact's value at most, in characters (an error message gets [`MAX_ERROR_CHARS`]).
pub(crate) const MAX_FACT_CHARS: usize = 300;
pub(crate) const MAX_ERROR_CHARS: usize = 1000;
/// A title at most, in characters (a monitor's name is at most 200).
pub(crate) const MAX_TITLE_CHARS: usize = 250;

/// How bad the event is, which picks its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// A monitor down.
    Critical,
    /// Degraded, no data, a certificate close to expiry, flapping.
    Warning,
    /// Whatever was wrong is over.
    Resolved,
    /// A test.
    Info,
}

impl Tone {
    /// `#RRGGBB` (Slack's own palette).
    pub(crate) fn hex(self) -> &'static str {
        match self {
            Tone::Critical => "#E01E5A",
            Tone::Warning => "#ECB22E",
            Tone::Resolved => "#2EB67D",
            Tone::Info => "#439FE0",
        }
    }

    /// The colour as a 24-bit integer (Discord).
    pub(crate) fn rgb(self) -> u32 {
        u32::from_str_radix(&self.hex()[1..], 16).unwrap_or(0)
    }

    pub(crate) fn emoji(self) -> &'static str {
        match self {
            Tone::Critical => "🔴",
            Tone::Warning => "🟠",
            Tone::Resolved => "✅",
            Tone::Info => "ℹ️",
        }
    }
}

/// An event in words.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub tone: Tone,
    /// `Sample API is down`, at most [`MAX_TITLE_CHARS`].
    pub title: String,
    /// (label, value), in the order shown; no value is empty.
    pub facts: Vec<(&'static str, String)>,
    /// The error of the triggering result (or the incident's cause), when there is one.
    pub error: Option<String>,
    /// The monitor's target when it is an http(s) URL: a link to what is down.
    pub link: Option<String>,
    /// When it happened, RFC 3339.
    pub timestamp: String,
}

impl Summary {
    pub(crate) fn of(ev: &NotificationEvent) -> Summary {
        let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
        let monitor = ev.monitor.clone().unwrap_or_default();
        let incident = ev.incident.clone().unwrap_or_default();
        let result = ev.result.clone().unwrap_or_default();
        let name = if monitor.name.is_empty() {
            monitor.id.as_str()
        } else {
            monitor.name.as_str()
        };
        let warning_incident = incident.severity == "warning";
        let tone = match kind {
            EventKind::Incident | EventKind::Escalation | EventKind::Reminder => {
                if warning_incident {
                    Tone::Warning
                } else {
                    Tone::Critical
                }
            }
            EventKind::Degraded
            | EventKind::NoData
            | EventKind::CertExpiring
            | EventKind::Flapping => Tone::Warning,
            EventKind::Recovery
            | EventKind::DegradedRecovery
            | EventKind::DataResumed
            | EventKind::CertRenewed
            | EventKind::FlappingEnded => Tone::Resolved,
            EventKind::Test | EventKind::Unspecified => Tone::Info,
        };
        let region = if result.region.is_empty() {
            ev.regions
                .iter()
                .find(|r| r.status == "NO_DATA")
                .map(|r| r.region.clone())
                .unwrap_or_default()
        } else {
            result.region.clone()
        };
        let cert = ev.certificate.clone().unwrap_or_default();
        let down = if warning_incident { "degraded" } else { "down" };
        let title = match kind {
            EventKind::Incident => format!("{name} is {down}"),
            EventKind::Escalation => {
                format!("{name} is still {down} (escalated to level {})", ev.level)
            }
            EventKind::Reminder => format!("{name} is still {down} (reminder {})", ev.reminder + 1),
            EventKind::Recovery if !ev.resolved_reason.is_empty() => {
                format!("{name}: incident resolved ({})", ev.resolved_reason)
            }
            EventKind::Recovery => format!("{name} is up again"),
            EventKind::Degraded => format!("{name} is degraded"),
            EventKind::DegradedRecovery => format!("{name} is no longer degraded"),
            EventKind::NoData if region.is_empty() => format!("{name}: no data"),
            EventKind::NoData => format!("{name}: no data from {region}"),
            EventKind::DataResumed if region.is_empty() => format!("{name}: data flows again"),
            EventKind::DataResumed => format!("{name}: data flows again from {region}"),
            EventKind::CertExpiring => match cert.days_left {
                d if d < 0 => format!("{name}: the certificate has expired"),
                1 => format!("{name}: the certificate expires in 1 day"),
                d => format!("{name}: the certificate expires in {d} days"),
            },
            EventKind::CertRenewed => format!("{name}: the certificate was renewed"),
            EventKind::Flapping => format!("{name} is flapping"),
            EventKind::FlappingEnded => format!("{name} stopped flapping"),
            EventKind::Test => format!("Test notification from Lookout ({name})"),
            EventKind::Unspecified => format!("{name} is {}", ev.status),
        };

        let mut facts: Vec<(&'static str, String)> = Vec::new();
        let mut fact = |label: &'static str, value: String| {
            if !value.trim().is_empty() {
                facts.push((label, clip(&value, MAX_FACT_CHARS)));
            }
        };
        fact("Target", monitor.target.clone());
        if !ev.previous_status.is_empty() && !ev.status.is_empty() {
            fact("Status", format!("{} → {}", ev.previous_status, ev.status));
        } else {
            fact("Status", ev.status.clone());
        }
        let down_regions: Vec<&str> = ev
            .regions
            .iter()
            .filter(|r| r.down)
            .map(|r| r.region.as_str())
            .collect();
        if !down_regions.is_empty() {
            fact("Regions down", down_regions.join(", "));
        } else if !region.is_empty() {
            fact("Region", region.clone());
        }
        if let Some(code) = result.status_code {
            fact("Status code", code.to_string());
        }
        if !result.id.is_empty() {
            fact("Response time", format!("{} ms", result.duration_us / 1000));
        }
        if ev.consecutive_failures > 0 {
            fact("Consecutive failures", ev.consecutive_failures.to_string());
        }
        if ev.level > 1 {
            fact("Level", ev.level.to_string());
        }
        if incident.opened_at_ms > 0 {
            if incident.resolved_at_ms > 0 {
                fact(
                    "Down for",
                    duration(
                        incident
                            .resolved_at_ms
                            .saturating_sub(incident.opened_at_ms),
                    ),
                );
            } else {
                fact("Down since", rfc3339_seconds(incident.opened_at_ms));
            }
        }
        fact("Resolved by", ev.resolved_reason.clone());
        if ev.certificate.is_some() {
            fact("Certificate", cert.subject.clone());
            if cert.not_after_ms > 0 {
                fact("Expires", rfc3339_seconds(cert.not_after_ms));
            }
            if kind == EventKind::CertRenewed && cert.previous_not_after_ms > 0 {
                fact(
                    "Previously expiring",
                    rfc3339_seconds(cert.previous_not_after_ms),
                );
            }
        }
        fact("Caused by monitor", ev.caused_by_monitor_id.clone());
        fact("Incident", incident.id.clone());
        fact("Monitor", monitor.id.clone());

        let error = [result.error_message.as_str(), incident.cause.as_str()]
            .into_iter()
            .find(|e| !e.trim().is_empty())
            // A recovery's result carries no error; the incident's cause is history then.
            .filter(|_| tone != Tone::Resolved)
            .map(|e| clip(e.trim(), MAX_ERROR_CHARS));
        let link = Some(monitor.target.clone())
            .filter(|t| t.starts_with("https://") || t.starts_with("http://"))
            .filter(|t| t.len() <= 512);
        Summary {
            tone,
            title: clip(&title, MAX_TITLE_CHARS),
            facts,
            error,
            link,
            timestamp: rfc3339_seconds(if ev.at_ms > 0 {
                ev.at_ms
            } else {
                result.started_at_ms
            }),
        }
    }

    /// Title, facts and error as plain-text lines, `Label: value`.
    pub(crate) fn plain_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .facts
            .iter()
            .map(|(l, v)| format!("{l}: {v}"))
            .collect();
        if let Some(e) = &self.error {
            lines.push(format!("Error: {e}"));
        }
        lines
    }
}

/// `s` cut to at most `max` characters, an ellipsis marking the cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `1h 2m 3s` (days when longer).
pub(crate) fn duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_on_characters_not_bytes() {
        assert_eq!(clip("héllo", 5), "héllo");
        assert_eq!(clip("héllo wörld", 5), "héll…");
        assert_eq!(clip("", 3), "");
    }

    #[test]
    fn durations_read_as_people_write_them() {
        for (ms, want) in [
            (0, "0s"),
            (59_999, "59s"),
            (61_000, "1m 1s"),
            (3_723_000, "1h 2m 3s"),
            (90_061_000, "1d 1h 1m"),
            (-5, "0s"),
        ] {
            assert_eq!(duration(ms), want, "{ms}");
        }
    }

    #[test]
    fn every_kind_has_a_title_and_tone() {
        let mut ev = crate::sample_event();
        for (kind, tone, title) in [
            (EventKind::Incident, Tone::Critical, "Sample API is down"),
            (
                EventKind::Recovery,
                Tone::Resolved,
                "Sample API is up again",
            ),
            (EventKind::Degraded, Tone::Warning, "Sample API is degraded"),
            (
                EventKind::Test,
                Tone::Info,
                "Test notification from Lookout (Sample API)",
            ),
            (
                EventKind::Reminder,
                Tone::Critical,
                "Sample API is still down (reminder 1)",
            ),
        ] {
            ev.kind = kind as i32;
            let s = Summary::of(&ev);
            assert_eq!((s.tone, s.title.as_str()), (tone, title));
            assert!(s.facts.iter().all(|(_, v)| !v.is_empty()));
        }
    }
}
