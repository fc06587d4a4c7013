//! Mails the verification codes of new project members (the coordinator registers them; the
//! notifier owns the SMTP settings): each pending code once, through the deployment's
//! `email.smtp` server, retried with a growing delay when the server fails; the outcome is in
//! the member's row, which `lookout users list` shows.

use std::sync::Arc;
use std::time::Duration;

use lookout_store::members::{CODE_VALID_HOURS, PendingCode};
use lookout_store::{Store, now_ms};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::channels::SendError;
use crate::mail::{Mail, Mailer};

/// Time between two looks for codes to mail.
const SCAN: Duration = Duration::from_secs(1);
/// Codes mailed per look.
const BATCH: u32 = 20;
/// Tries before a code is given up on (the member can be added again for a new one).
const MAX_TRIES: u32 = 8;

/// Delay before try `n + 1` after `n` failed ones: 30 s, doubling, at most an hour.
fn retry_delay_ms(tries: u32) -> i64 {
    (30_000_i64 << tries.min(7)).min(3_600_000)
}

pub(crate) async fn run(store: Store, mailer: Arc<Mailer>, stop: CancellationToken) {
    loop {
        match store.due_member_codes(now_ms(), BATCH).await {
            Ok(due) => {
                for p in due {
                    mail_one(&store, &mailer, p).await;
                }
            }
            Err(e) => warn!(error = %e, "reading verification codes to mail failed"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SCAN) => {}
        }
    }
}

async fn mail_one(store: &Store, mailer: &Mailer, p: PendingCode) {
    let content = lookout_render::email::verification(&p.member.email, &p.code, CODE_VALID_HOURS);
    let sent = mailer
        .send(&Mail {
            to: &p.member.email,
            from: "",
            server: None,
            content: &content,
            message_id: &format!("{}-{}", p.member.id, p.send_attempts),
        })
        .await;
    let recorded = match sent {
        Ok(_) => {
            info!(member_id = %p.member.id, "verification code mailed");
            store.member_code_sent(&p.member.id).await
        }
        Err(e) => {
            let tries = p.send_attempts.saturating_add(1);
            let next = match &e {
                SendError::Retryable { .. } if tries < MAX_TRIES => {
                    Some(now_ms() + retry_delay_ms(tries))
                }
                // No server configured yet: look again once in a while, the operator may
                // add one and restart.
                SendError::Permanent { .. } if !mailer.has_server() => Some(now_ms() + 300_000),
                _ => None,
            };
            warn!(member_id = %p.member.id, error = %e, retry = next.is_some(), "mailing a verification code failed");
            store
                .member_code_failed(&p.member.id, &e.to_string(), next)
                .await
        }
    };
    if let Err(e) = recorded {
        warn!(member_id = %p.member.id, error = %e, "recording a verification mail failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_delay_ms(1), 60_000);
        assert_eq!(retry_delay_ms(2), 120_000);
        assert_eq!(retry_delay_ms(7), 3_600_000);
        assert_eq!(retry_delay_ms(40), 3_600_000);
    }
}
