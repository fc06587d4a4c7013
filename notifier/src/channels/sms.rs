//! The SMS channel: the event's text in one SMS segment (`lookout_render::sms`), sent to the
//! integration's number through the deployment's Twilio account (`twilio` in the notifier's
//! config) with `POST .../Messages.json`. Twilio answers like any HTTP API: 2xx is sent, 429
//! and 5xx are retried, other errors (an invalid number, 21211; an unverified one, 21608)
//! are permanent and kept with Twilio's message in the attempt log.

use futures::future::BoxFuture;
use lookout_proto::v1::integration::Kind;
use lookout_render::sms::{PhoneNumber, TwilioConfig, text};

use super::http::{EXCERPT_BYTES, classify, perform};
use super::{Channel, Delivered, Delivery, Prepared, SendError};

pub struct SmsChannel {
    client: reqwest::Client,
    twilio: Option<TwilioConfig>,
}

impl SmsChannel {
    /// `client` calls Twilio's API, the operator's own destination (no destination rules);
    /// without `twilio` every SMS fails permanently, saying so.
    pub fn new(client: reqwest::Client, twilio: Option<TwilioConfig>) -> SmsChannel {
        SmsChannel { client, twilio }
    }
}

impl Channel for SmsChannel {
    fn prepare(&self, d: &Delivery<'_>) -> Result<Prepared, SendError> {
        let Some(Kind::Sms(s)) = &d.integration.kind else {
            return Err(SendError::permanent("not an SMS integration"));
        };
        let account = self.twilio.as_ref().ok_or_else(|| {
            SendError::permanent("SMS is not configured on this notifier (twilio in its config)")
        })?;
        let to = PhoneNumber::parse("sms.phone_number", &s.phone_number)
            .map_err(|e| SendError::permanent(e.to_string()))?;
        Ok(Prepared::Sms(account.request(&to, &text(d.event))))
    }

    fn send<'a>(&'a self, p: &'a Prepared) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Prepared::Sms(r) = p else {
                return Err(SendError::permanent("not an SMS"));
            };
            let (status, retry_after, excerpt) = perform(&self.client, r, EXCERPT_BYTES).await?;
            classify(status, retry_after.as_deref(), excerpt)
        })
    }
}
