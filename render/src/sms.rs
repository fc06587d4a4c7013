//! SMS through Twilio's Messages API: the E.164 phone number an SMS integration holds, the
//! deployment's Twilio account (`twilio` in the coordinator's and the notifier's config), the
//! text of an event fitted into one SMS segment, and the `POST
//! {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` request that sends it.

use base64::Engine as _;
use lookout_proto::Secret;
use lookout_proto::v1::{NotificationEvent, SmsIntegration};
use lookout_proto::validate::FieldError;
use serde::Deserialize;

use crate::Request;
use crate::presets::summary::Summary;
use crate::validate::err;

/// Twilio's API when `api_url` is not set.
pub const DEFAULT_API_URL: &str = "https://api.twilio.com";
/// Characters of one SMS segment: GSM-7 septets, or UTF-16 units when the text needs
/// Unicode (UCS-2).
pub const GSM_SEGMENT: usize = 160;
pub const UCS2_SEGMENT: usize = 70;
/// Bytes of a verification code as typed.
pub const MAX_CODE_BYTES: usize = 16;

/// A phone number in E.164: `+`, then 8..=15 digits, the first not 0. Only [`PhoneNumber::parse`]
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// `raw` as E.164, surrounding spaces ignored; the error names `field`.
    pub fn parse(field: &str, raw: &str) -> Result<PhoneNumber, FieldError> {
        let v = raw.trim();
        if v.is_empty() {
            return Err(err(field, "is required"));
        }
        let digits = v.strip_prefix('+').ok_or_else(|| {
            err(
                field,
                "must be in E.164 format: + and the country code, e.g. +1234567890",
            )
        })?;
        if !(8..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(err(
                field,
                format!(
                    "{} is not an E.164 number: + and 8 to 15 digits, the first not 0 (e.g. \
                     +1234567890)",
                    lookout_proto::bounds::quote(v)
                ),
            ));
        }
        Ok(PhoneNumber(v.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks an SMS integration's settings; the verification code is the coordinator's business
/// and is checked there.
pub(crate) fn validate(s: &mut SmsIntegration) -> Result<(), FieldError> {
    s.phone_number = PhoneNumber::parse("sms.phone_number", &s.phone_number)?.0;
    if s.verification_code.len() > MAX_CODE_BYTES {
        return Err(err(
            "sms.verification_code",
            format!("is longer than {MAX_CODE_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The deployment's Twilio account: who sends every SMS (verification codes and alerts).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// `AC` and 32 hexadecimal digits.
    pub account_sid: String,
    /// The account's auth token (HTTP basic auth password).
    pub auth_token: Secret,
    /// Sender: an E.164 number of the account, or an alphanumeric sender id (1-11 letters,
    /// digits and spaces). Set this or `messaging_service_sid`.
    #[serde(default)]
    pub from: String,
    /// A Messaging Service (`MG` and 32 hexadecimal digits) that picks the sender.
    #[serde(default)]
    pub messaging_service_sid: String,
    /// Base URL of the API: `https://api.twilio.com` when empty; http only on a loopback
    /// host (a test server, a local relay).
    #[serde(default)]
    pub api_url: String,
}

fn twilio_sid(field: &str, v: &str, prefix: &str) -> Result<(), FieldError> {
    let ok =
        v.len() == 34 && v.starts_with(prefix) && v[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(err(
            field,
            format!("must be {prefix} and 32 hexadecimal digits"),
        ))
    }
}

impl TwilioConfig {
    /// Refuses an account that cannot send; fields are named under `prefix` (`twilio`).
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        let f = |name: &str| format!("{prefix}.{name}");
        twilio_sid(&f("account_sid"), &self.account_sid, "AC")?;
        let token = self.auth_token.expose();
        if token.is_empty() || token.len() > 128 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(err(
                f("auth_token"),
                "must be 1-128 printable ASCII characters",
            ));
        }
        match (self.from.is_empty(), self.messaging_service_sid.is_empty()) {
            (true, true) => {
                return Err(err(f("from"), "set from or messaging_service_sid"));
            }
            (false, false) => {
                return Err(err(
                    f("messaging_service_sid"),
                    "set either from or messaging_service_sid, not both",
                ));
            }
            (false, true) => {
                let alphanumeric = (1..=11).contains(&self.from.len())
                    && self
                        .from
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b' ')
                    && self.from.bytes().any(|b| b.is_ascii_alphabetic());
                if !alphanumeric {
                    PhoneNumber::parse(&f("from"), &self.from)?;
                }
            }
            (true, false) => twilio_sid(
                &f("messaging_service_sid"),
                &self.messaging_service_sid,
                "MG",
            )?,
        }
        crate::presets::api_base(&f("api_url"), &mut self.api_url.clone())
    }

    /// The Messages API request sending `body` to `to`.
    pub fn request(&self, to: &PhoneNumber, body: &str) -> Request {
        let base = if self.api_url.is_empty() {
            DEFAULT_API_URL
        } else {
            self.api_url.trim_end_matches('/')
        };
        let url = format!(
            "{base}/2010-04-01/Accounts/{}/Messages.json",
            self.account_sid
        );
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", to.as_str());
        if self.messaging_service_sid.is_empty() {
            form.append_pair("From", &self.from);
        } else {
            form.append_pair("MessagingServiceSid", &self.messaging_service_sid);
        }
        form.append_pair("Body", body);
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.account_sid,
            self.auth_token.expose()
        ));
        Request {
            method: "POST".into(),
            url,
            headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("authorization".into(), format!("Basic {credentials}")),
            ],
            body: form.finish().into_bytes(),
        }
    }
}

/// Whether `c` is in the GSM 03.38 default alphabet, and the septets it takes (2 for the
/// extension table); `None` when the text must go as UCS-2.
fn gsm_septets(c: char) -> Option<usize> {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "^{}\\[~]|€\u{c}";
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// `text` fitted into one SMS segment: 160 GSM-7 septets, or 70 UTF-16 units when any
/// character is outside GSM-7; a cut is marked with `...`.
pub fn fit_segment(text: &str) -> String {
    let gsm = text.chars().all(|c| gsm_septets(c).is_some());
    let (cost, limit): (fn(char) -> usize, usize) = if gsm {
        (|c| gsm_septets(c).unwrap_or(1), GSM_SEGMENT)
    } else {
        (char::len_utf16, UCS2_SEGMENT)
    };
    if text.chars().map(cost).sum::<usize>() <= limit {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + cost(c) > limit - 3 {
            break;
        }
        used += cost(c);
        out.push(c);
    }
    let mut out = out.trim_end().to_string();
    out.push_str("...");
    out
}

/// The SMS an event sends: `Lookout: <title>`, the error and the target, in one segment.
pub fn text(ev: &NotificationEvent) -> String {
    let sum = Summary::of(ev);
    let mut t = format!("Lookout: {}", sum.title);
    if let Some(e) = &sum.error {
        t.push_str(". ");
        t.push_str(e);
    }
    if let Some((_, target)) = sum.facts.iter().find(|(l, _)| *l == "Target") {
        t.push_str(" (");
        t.push_str(target);
        t.push(')');
    }
    fit_segment(&t.replace(['\n', '\r'], " "))
}

/// The SMS carrying a verification code.
pub fn verification_text(code: &str, valid_minutes: u32) -> String {
    format!(
        "Your Lookout verification code is {code}. It is valid for {valid_minutes} minutes. \
         If you did not ask for it, ignore this message."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change that makes a valid value invalid.
    type Change = fn(&mut TwilioConfig);

    #[test]
    fn e164_numbers() {
        for ok in [
            "+1234567890",
            " +4915112345678 ",
            "+12345678",
            "+123456789012345",
        ] {
            let p = PhoneNumber::parse("phone_number", ok).expect(ok);
            assert_eq!(p.as_str(), ok.trim());
        }
        for (bad, why) in [
            ("", "is required"),
            ("1234567890", "E.164"),
            ("+0123456789", "E.164"),
            ("+1234567", "E.164"),
            ("+1234567890123456", "E.164"),
            ("+1 234 567 890", "E.164"),
            ("+12345abc90", "E.164"),
            ("++1234567890", "E.164"),
        ] {
            let e = PhoneNumber::parse("phone_number", bad).expect_err(bad);
            assert_eq!(e.field, "phone_number");
            assert!(e.reason.contains(why), "{bad}: {}", e.reason);
        }
    }

    #[test]
    fn segments() {
        let short = "Lookout: API is down";
        assert_eq!(fit_segment(short), short);
        let gsm = "a".repeat(200);
        let fitted = fit_segment(&gsm);
        assert_eq!(fitted.chars().count(), 160);
        assert!(fitted.ends_with("..."));
        // Extension characters take two septets.
        let braces = "{".repeat(100);
        let fitted = fit_segment(&braces);
        assert_eq!(fitted.chars().filter(|c| *c == '{').count(), 78);
        assert_eq!(fit_segment(&"{".repeat(80)), "{".repeat(80));
        // One character outside GSM-7 makes the whole text UCS-2: 70 units.
        let unicode = format!("✓{}", "b".repeat(100));
        let fitted = fit_segment(&unicode);
        assert_eq!(fitted.encode_utf16().count(), 70);
        // A character outside the BMP takes two units and is never split.
        let emoji = "🔴".repeat(40);
        let fitted = fit_segment(&emoji);
        assert!(fitted.encode_utf16().count() <= 70);
        assert!(fitted.ends_with("..."));
    }

    #[test]
    fn event_text_fits_one_segment() {
        let mut ev = crate::sample_event();
        let t = text(&ev);
        assert!(
            t.starts_with("Lookout: Sample API is down. connection timed out"),
            "{t}"
        );
        assert!(t.chars().count() <= GSM_SEGMENT, "{t}");
        ev.kind = lookout_proto::v1::EventKind::Recovery as i32;
        let t = text(&ev);
        assert_eq!(
            t,
            "Lookout: Sample API is up again (https://api.example.com/health)"
        );
        if let Some(m) = &mut ev.monitor {
            m.name = "x\n".repeat(300);
        }
        let t = text(&ev);
        assert!(!t.contains('\n'));
        assert!(t.chars().count() <= GSM_SEGMENT);
    }

    fn account() -> TwilioConfig {
        TwilioConfig {
            account_sid: format!("AC{}", "a1".repeat(16)),
            auth_token: Secret::new("tok"),
            from: "+15005550006".into(),
            messaging_service_sid: String::new(),
            api_url: String::new(),
        }
    }

    #[test]
    fn accounts() {
        account().validate("twilio").expect("valid");
        let mut named = account();
        named.from = "Lookout".into();
        named.validate("twilio").expect("alphanumeric sender");
        let cases: [(Change, &str); 6] = [
            (|c| c.account_sid = "AC123".into(), "twilio.account_sid"),
            (|c| c.auth_token = Secret::new(""), "twilio.auth_token"),
            (|c| c.from.clear(), "twilio.from"),
            (
                |c| c.messaging_service_sid = format!("MG{}", "0".repeat(32)),
                "twilio.messaging_service_sid",
            ),
            (|c| c.from = "0049151".into(), "twilio.from"),
            (
                |c| c.api_url = "http://api.twilio.com".into(),
                "twilio.api_url",
            ),
        ];
        for (change, field) in cases {
            let mut c = account();
            change(&mut c);
            assert_eq!(c.validate("twilio").expect_err(field).field, field);
        }
    }

    #[test]
    fn messages_request() {
        let mut c = account();
        c.api_url = "http://127.0.0.1:9/".into();
        let to = PhoneNumber::parse("to", "+1234567890").expect("number");
        let r = c.request(&to, "Hi & bye");
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.url,
            format!(
                "http://127.0.0.1:9/2010-04-01/Accounts/{}/Messages.json",
                c.account_sid
            )
        );
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            "To=%2B1234567890&From=%2B15005550006&Body=Hi+%26+bye"
        );
        let auth = &r.headers[1].1;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim_start_matches("Basic "))
            .expect("base64");
        assert_eq!(decoded, format!("{}:tok", c.account_sid).into_bytes());
        c.from.clear();
        c.messaging_service_sid = format!("MG{}", "b".repeat(32));
        let r = c.request(&to, "x");
        assert!(String::from_utf8_lossy(&r.body).contains("MessagingServiceSid=MG"));
    }
}
