//! Certificate expiry: an https or tls monitor notifies once when its certificate comes
//! within `days` of expiry, and once more when a later certificate replaces it. Results of
//! several regions may see different certificates (a rollout in progress): only a later
//! expiry than the newest seen counts, so they never flip-flop.

use lookout_proto::Monitor;
use lookout_proto::v1::CertificateFacts;
use lookout_proto::validate::notify::{DEFAULT_CERT_DAYS, has_certificate};

/// What the notifier keeps per monitor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertState {
    /// Expiry of the newest certificate seen (Unix ms); 0 before the first.
    pub not_after_ms: i64,
    /// Its coming expiry was announced.
    pub warned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertEvent {
    Expiring { days_left: i32 },
    Renewed { previous_not_after_ms: i64 },
}

/// The threshold in days, or `None` when the monitor does not watch its certificate.
pub fn threshold_days(m: &Monitor) -> Option<u32> {
    if !has_certificate(m) {
        return None;
    }
    match &m.certificate_expiry {
        Some(c) if c.enabled == Some(false) => None,
        Some(c) if c.days != 0 => Some(c.days),
        _ => Some(DEFAULT_CERT_DAYS),
    }
}

/// Whole days from `now_ms` to `not_after_ms`, negative once expired.
pub fn days_left(not_after_ms: i64, now_ms: i64) -> i32 {
    let days = not_after_ms.saturating_sub(now_ms).div_euclid(86_400_000);
    i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX })
}

/// Applies one result's certificate; returns the events it raises (a renewal and, when the
/// new certificate is itself close to expiry, its warning) and whether the state changed.
pub fn observe(
    state: &mut CertState,
    facts: &CertificateFacts,
    days: u32,
    now_ms: i64,
) -> (Vec<CertEvent>, bool) {
    let mut events = Vec::new();
    if facts.not_after_ms <= 0 || facts.not_after_ms < state.not_after_ms {
        return (events, false);
    }
    let before = *state;
    if facts.not_after_ms > state.not_after_ms {
        if state.warned {
            events.push(CertEvent::Renewed {
                previous_not_after_ms: state.not_after_ms,
            });
        }
        *state = CertState {
            not_after_ms: facts.not_after_ms,
            warned: false,
        };
    }
    let left = days_left(state.not_after_ms, now_ms);
    if !state.warned && i64::from(left) < i64::from(days) {
        state.warned = true;
        events.push(CertEvent::Expiring { days_left: left });
    }
    (events, *state != before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::v1::{CertificateExpiry, HttpCheck, TcpCheck, monitor::Check};

    const DAY: i64 = 86_400_000;

    fn cert(not_after_ms: i64) -> CertificateFacts {
        CertificateFacts {
            not_after_ms,
            ..Default::default()
        }
    }

    #[test]
    fn warns_once_then_renews_once() {
        let now = 1_000 * DAY;
        // (certificate expiry, now, expected events)
        let steps: Vec<(i64, i64, Vec<CertEvent>)> = vec![
            (now + 60 * DAY, now, vec![]),
            (now + 60 * DAY, now + 29 * DAY, vec![]),
            (
                now + 60 * DAY,
                now + 31 * DAY,
                vec![CertEvent::Expiring { days_left: 29 }],
            ),
            (now + 60 * DAY, now + 40 * DAY, vec![]),
            // An older certificate still served by one region changes nothing.
            (now + 50 * DAY, now + 41 * DAY, vec![]),
            (
                now + 150 * DAY,
                now + 42 * DAY,
                vec![CertEvent::Renewed {
                    previous_not_after_ms: now + 60 * DAY,
                }],
            ),
            (now + 150 * DAY, now + 43 * DAY, vec![]),
            // A later certificate close to expiry, the old one never warned about: a warning.
            (
                now + 200 * DAY,
                now + 180 * DAY,
                vec![CertEvent::Expiring { days_left: 20 }],
            ),
            // Renewed again, to one that expires soon too: both.
            (
                now + 205 * DAY,
                now + 181 * DAY,
                vec![
                    CertEvent::Renewed {
                        previous_not_after_ms: now + 200 * DAY,
                    },
                    CertEvent::Expiring { days_left: 24 },
                ],
            ),
        ];
        let mut s = CertState::default();
        for (i, (not_after, at, want)) in steps.into_iter().enumerate() {
            let (got, _) = observe(&mut s, &cert(not_after), 30, at);
            assert_eq!(got, want, "step {i}");
        }
    }

    #[test]
    fn healthy_certificates_change_nothing_after_the_first() {
        let mut s = CertState::default();
        assert!(observe(&mut s, &cert(400 * DAY), 30, 0).1);
        assert!(!observe(&mut s, &cert(400 * DAY), 30, DAY).1);
        assert!(!observe(&mut s, &cert(0), 30, DAY).1, "no certificate");
    }

    #[test]
    fn which_monitors_watch_their_certificate() {
        let http = |url: &str, c: Option<CertificateExpiry>| Monitor {
            check: Some(Check::Http(HttpCheck {
                url: url.into(),
                ..Default::default()
            })),
            certificate_expiry: c,
            ..Default::default()
        };
        assert_eq!(threshold_days(&http("https://a.b", None)), Some(30));
        assert_eq!(
            threshold_days(&http(
                "https://a.b",
                Some(CertificateExpiry {
                    days: 7,
                    enabled: None
                })
            )),
            Some(7)
        );
        assert_eq!(
            threshold_days(&http(
                "https://a.b",
                Some(CertificateExpiry {
                    days: 7,
                    enabled: Some(false)
                })
            )),
            None
        );
        assert_eq!(threshold_days(&http("http://a.b", None)), None);
        let tcp = Monitor {
            check: Some(Check::Tcp(TcpCheck::default())),
            ..Default::default()
        };
        assert_eq!(threshold_days(&tcp), None);
        assert_eq!(days_left(DAY - 1, 0), 0);
        assert_eq!(days_left(-1, 0), -1);
    }
}
