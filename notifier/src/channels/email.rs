//! The email channel: renders the mail about the event (`lookout-render`: subject, text and
//! HTML parts) and sends it through the integration's SMTP server or the deployment's
//! (`mail`). A recipient who is a member of the project and has not verified the address is
//! refused, permanently, before anything is sent.

use std::sync::Arc;

use futures::future::BoxFuture;
use lookout_proto::v1::SmtpServer;
use lookout_proto::v1::integration::Kind;
use lookout_render::email::EmailContent;
use lookout_store::Store;

use super::{Channel, Delivered, Delivery, Prepared, SendError};
use crate::mail::{Mail, Mailer};

/// One rendered mail.
#[derive(Debug, Clone)]
pub struct EmailRequest {
    pub project_id: String,
    pub to: String,
    pub from: String,
    pub server: Option<SmtpServer>,
    pub content: EmailContent,
    pub delivery_id: String,
}

pub struct EmailChannel {
    mailer: Arc<Mailer>,
    store: Store,
}

impl EmailChannel {
    pub fn new(mailer: Arc<Mailer>, store: Store) -> EmailChannel {
        EmailChannel { mailer, store }
    }
}

impl Channel for EmailChannel {
    fn prepare(&self, d: &Delivery<'_>) -> Result<Prepared, SendError> {
        let Some(Kind::Email(e)) = &d.integration.kind else {
            return Err(SendError::permanent("not an email integration"));
        };
        Ok(Prepared::Email(EmailRequest {
            project_id: d.integration.project_id.clone(),
            to: e.email.clone(),
            from: e.from.clone(),
            server: e.smtp.clone(),
            content: lookout_render::email::render(d.event),
            delivery_id: d.id.to_string(),
        }))
    }

    fn send<'a>(&'a self, p: &'a Prepared) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Prepared::Email(r) = p else {
                return Err(SendError::permanent("not an email"));
            };
            let unverified = self
                .store
                .is_unverified_member(&r.project_id, &r.to)
                .await
                .map_err(|e| SendError::retryable(format!("reading the project's members: {e}")))?;
            if unverified {
                return Err(SendError::permanent(format!(
                    "{} belongs to a member of this project who has not verified it yet: \
                     nothing is mailed to it until then (lookout users verify)",
                    r.to
                )));
            }
            self.mailer
                .send(&Mail {
                    to: &r.to,
                    from: &r.from,
                    server: r.server.as_ref(),
                    content: &r.content,
                    message_id: &r.delivery_id,
                })
                .await
        })
    }
}
