//! Twilio's Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic
//! auth with the account SID and auth token, a form with `To`, `From` or
//! `MessagingServiceSid`, and `Body`; `201 Created` with the message resource, or Twilio's
//! error body (`code`, `message`, `more_info`, `status`).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lookout_proto::Secret;
use lookout_render::sms::TwilioConfig;
use serde_json::json;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "twilio-auth-token-for-tests";
pub const FROM: &str = "+15005550006";

/// One message Twilio accepted.
#[derive(Debug, Clone)]
pub struct Sms {
    pub to: String,
    pub from: String,
    pub body: String,
    /// Segments Twilio counts (GSM-7 160 / UCS-2 70 per single segment, 153 / 67 joined).
    pub segments: usize,
}

#[derive(Default)]
struct Inner {
    messages: Mutex<Vec<Sms>>,
    refuse_next: Mutex<Option<(u16, i64, String)>>,
}

#[derive(Clone)]
pub struct Twilio {
    pub url: String,
    inner: Arc<Inner>,
}

fn error(status: u16, code: i64, message: &str) -> Response {
    let s = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        s,
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        })),
    )
        .into_response()
}

fn segments(body: &str) -> usize {
    const GSM: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€";
    let gsm = body.chars().all(|c| GSM.contains(c));
    let (units, single, joined) = if gsm {
        let n: usize = body
            .chars()
            .map(|c| if "^{}\\[~]|€".contains(c) { 2 } else { 1 })
            .sum();
        (n, 160, 153)
    } else {
        (body.encode_utf16().count(), 70, 67)
    };
    if units <= single {
        1
    } else {
        units.div_ceil(joined)
    }
}

async fn messages(
    State(inner): State<Arc<Inner>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if sid != ACCOUNT_SID {
        return error(404, 20404, "The requested resource was not found");
    }
    match super::basic_auth(&headers) {
        Some((user, password)) if user == ACCOUNT_SID && password == AUTH_TOKEN => {}
        _ => return error(401, 20003, "Authentication Error - invalid username"),
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return error(
            400,
            20001,
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    if let Some((status, code, message)) = inner.refuse_next.lock().expect("lock").take() {
        return error(status, code, &message);
    }
    let form = super::form(&body);
    let to = super::field(&form, "To").unwrap_or("");
    let e164 = to.len() > 8
        && to.starts_with('+')
        && to[1..].bytes().all(|b| b.is_ascii_digit())
        && to.len() <= 16;
    if !e164 {
        return error(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    let from = super::field(&form, "From")
        .or(super::field(&form, "MessagingServiceSid"))
        .unwrap_or("");
    if from.is_empty() {
        return error(400, 21603, "A 'From' phone number is required.");
    }
    let text = super::field(&form, "Body").unwrap_or("");
    if text.is_empty() {
        return error(400, 21602, "Message body is required.");
    }
    if text.chars().count() > 1600 {
        return error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    let sms = Sms {
        to: to.into(),
        from: from.into(),
        body: text.into(),
        segments: segments(text),
    };
    let mut all = inner.messages.lock().expect("lock");
    all.push(sms.clone());
    let sid = format!("SM{:032x}", all.len());
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "account_sid": ACCOUNT_SID,
            "api_version": "2010-04-01",
            "body": sms.body,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": sms.from,
            "num_segments": sms.segments.to_string(),
            "sid": sid,
            "status": "queued",
            "to": sms.to,
            "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"),
        })),
    )
        .into_response()
}

impl Twilio {
    pub async fn start() -> Twilio {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
            .with_state(inner.clone());
        Twilio {
            url: super::serve(app).await,
            inner,
        }
    }

    /// The account Lookout sends with: this stand-in's.
    pub fn config(&self) -> TwilioConfig {
        TwilioConfig {
            account_sid: ACCOUNT_SID.into(),
            auth_token: Secret::new(AUTH_TOKEN),
            from: FROM.into(),
            messaging_service_sid: String::new(),
            api_url: self.url.clone(),
        }
    }

    pub fn messages(&self) -> Vec<Sms> {
        self.inner.messages.lock().expect("lock").clone()
    }

    /// The next request is refused with Twilio's error `code`.
    pub fn refuse_next(&self, status: u16, code: i64, message: &str) {
        *self.inner.refuse_next.lock().expect("lock") = Some((status, code, message.into()));
    }

    /// Waits until `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Sms> {
        super::until(&format!("{n} SMS at Twilio"), || async {
            self.messages().len() >= n
        })
        .await;
        self.messages()
    }
}
