//! The REST API's integration types: one row per `type`, mapping it to a kind of
//! `lookout.v1.Integration` both ways. The Uptinio document's types come first
//! (`Integrations::WebhookIntegration`: a webhook sent the Uptinio payload, with the
//! document's setting names), then Lookout's own (`Lookout::*`: the kind's protobuf message
//! as its settings, under the message's field names). The handlers, the request checks and
//! the OpenAPI document all read this one table; a new kind is one more row.

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{BodyFormat, SignatureMode, TemplateSyntax, WebhookIntegration};
use lookout_render::validate::MAX_NAME_CHARS;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::rest::error::ApiError;
use crate::rest::input::{self, Object};
use crate::rest::schema::Messages;

/// A decoding failure of settings, with the path inside them.
pub type DecodeError = serde_path_to_error::Error<serde_json::Error>;

/// One integration type of the REST API.
pub struct IntegrationType {
    /// As requests and responses name it.
    pub name: &'static str,
    /// What it sends, for the OpenAPI document.
    pub summary: &'static str,
    /// The protobuf message of its settings.
    pub message: &'static str,
    /// The settings it takes and shows, as (API name, field of `message`); empty: every
    /// field of the message, under its own name.
    pub settings: &'static [(&'static str, &'static str)],
    /// Settings a request must give (API names).
    pub required: &'static [&'static str],
    /// Whether a request may create one from settings; false for a type that its own flow
    /// creates (the summary says which).
    pub creatable: bool,
    /// Whether an integration of this type may be changed once created (system ones never).
    pub editable: bool,
    /// The kind from the settings, as JSON of `message` (fields under their own names).
    pub decode: fn(Value) -> Result<Kind, DecodeError>,
    /// The settings of `kind` as JSON of `message`, when it shows as this type.
    pub shows: fn(&Kind) -> Option<Value>,
    /// The integration's name when a request gives none.
    pub name_of: fn(&Kind) -> String,
}

/// Every type, in the order they are tried when showing a stored integration (the first
/// whose `shows` takes it).
pub static TYPES: &[IntegrationType] = &[
    IntegrationType {
        name: "Integrations::WebhookIntegration",
        summary: "HTTP POST of the Uptinio payload (resource_name, resource_url, resource_type, \
                  incident_type, incident_status, incident_duration, incident_message) to \
                  webhook_url; signed with x-lookout-signature when a secret is set.",
        message: "lookout.v1.WebhookIntegration",
        settings: &[("webhook_url", "url"), ("secret", "secret")],
        required: &["webhook_url"],
        creatable: true,
        editable: true,
        decode: |v| {
            let mut w: WebhookIntegration = message(v)?;
            w.body = BodyFormat::Uptinio as i32;
            Ok(Kind::Webhook(w))
        },
        shows: |k| match k {
            Kind::Webhook(w) if uptinio_shaped(w) => json(w),
            _ => None,
        },
        name_of: webhook_name,
    },
    IntegrationType {
        name: "Integrations::EmailIntegration",
        summary: "A mail with a text and an HTML part about the event, through the \
                  notifier's SMTP server or the integration's own (smtp). A recipient that \
                  is a member of the project must have verified the address first.",
        message: "lookout.v1.EmailIntegration",
        settings: &[],
        required: &["email"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Email),
        shows: |k| match k {
            Kind::Email(e) => json(e),
            _ => None,
        },
        name_of: |k| match k {
            Kind::Email(e) => e.email.clone(),
            _ => "email".into(),
        },
    },
    IntegrationType {
        name: "Integrations::SshServerRestartIntegration",
        summary: "Runs command (sudo reboot by default) on the server over SSH when an \
                  incident opens, at most once per cooldown_secs; never on recovery. The \
                  server's host key is pinned on create (trust on first use) and shown as \
                  host_key and host_key_fingerprint; a server presenting another key is refused.",
        message: "lookout.v1.SshRestart",
        settings: &[],
        required: &["ip", "username"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::SshRestart),
        shows: |k| match k {
            Kind::SshRestart(s) => json(s),
            _ => None,
        },
        name_of: |k| match k {
            Kind::SshRestart(s) => format!("{} ({})", s.ip, s.username),
            _ => "SSH restart".into(),
        },
    },
    IntegrationType {
        name: "Integrations::SmsIntegration",
        summary: "A text message through the deployment's Twilio account. Needs a paid plan and \
                  the code POST /api/v1/integrations/sms/send_verification_code sent to the \
                  number (verification_code; not checked on a non-production deployment).",
        message: "lookout.v1.SmsIntegration",
        settings: &[
            ("phone_number", "phone_number"),
            ("verification_code", "verification_code"),
        ],
        required: &["phone_number"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Sms),
        shows: |k| match k {
            Kind::Sms(s) => json(s),
            _ => None,
        },
        name_of: |k| match k {
            Kind::Sms(s) => format!("SMS {}", s.phone_number),
            _ => "SMS".into(),
        },
    },
    IntegrationType {
        name: "Integrations::SlackIntegration",
        summary: "A Slack channel through Lookout's Slack app (messages with a Resolve button, \
                  updated on resolution). Created by the OAuth flow \
                  (POST /api/v1/integrations/slack/initiate), not by this request; not editable.",
        message: "lookout.v1.SlackApp",
        settings: &[
            ("bot_token", "bot_token"),
            ("user_token", "user_token"),
            ("channel_id", "channel_id"),
            ("webhook_url", "webhook_url"),
            ("bot_user_id", "bot_user_id"),
        ],
        required: &[],
        creatable: false,
        editable: false,
        decode: |v| message(v).map(Kind::SlackApp),
        shows: |k| match k {
            Kind::SlackApp(s) => json(s),
            _ => None,
        },
        name_of: |k| match k {
            Kind::SlackApp(s) => format!("{} #{}", s.team_name, s.channel_name),
            _ => "Slack".into(),
        },
    },
    IntegrationType {
        name: "Lookout::WebhookIntegration",
        summary: "Lookout's webhook: any method, headers, basic auth, signature mode \
                  (Lookout, Checkly, StatusPageOne), and the native, Uptinio or templated body.",
        message: "lookout.v1.WebhookIntegration",
        settings: &[],
        required: &["url"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Webhook),
        shows: |k| match k {
            Kind::Webhook(w) => json(w),
            _ => None,
        },
        name_of: webhook_name,
    },
    IntegrationType {
        name: "Lookout::SlackWebhookIntegration",
        summary: "A Slack incoming webhook (Block Kit message).",
        message: "lookout.v1.SlackWebhook",
        settings: &[],
        required: &["url"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Slack),
        shows: |k| match k {
            Kind::Slack(s) => json(s),
            _ => None,
        },
        name_of: |k| match k {
            Kind::Slack(s) if !s.channel.is_empty() => format!("Slack {}", s.channel),
            _ => "Slack webhook".into(),
        },
    },
    IntegrationType {
        name: "Lookout::DiscordIntegration",
        summary: "A Discord channel webhook (embed).",
        message: "lookout.v1.DiscordWebhook",
        settings: &[],
        required: &["url"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Discord),
        shows: |k| match k {
            Kind::Discord(s) => json(s),
            _ => None,
        },
        name_of: |_| "Discord webhook".into(),
    },
    IntegrationType {
        name: "Lookout::TelegramIntegration",
        summary: "Telegram Bot API sendMessage to a chat.",
        message: "lookout.v1.TelegramBot",
        settings: &[],
        required: &["bot_token", "chat_id"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Telegram),
        shows: |k| match k {
            Kind::Telegram(s) => json(s),
            _ => None,
        },
        name_of: |k| match k {
            Kind::Telegram(s) => format!("Telegram {}", s.chat_id),
            _ => "Telegram".into(),
        },
    },
    IntegrationType {
        name: "Lookout::MattermostIntegration",
        summary: "A Mattermost incoming webhook.",
        message: "lookout.v1.MattermostWebhook",
        settings: &[],
        required: &["url"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Mattermost),
        shows: |k| match k {
            Kind::Mattermost(s) => json(s),
            _ => None,
        },
        name_of: |k| match k {
            Kind::Mattermost(s) if !s.channel.is_empty() => format!("Mattermost {}", s.channel),
            _ => "Mattermost webhook".into(),
        },
    },
    IntegrationType {
        name: "Lookout::TeamsIntegration",
        summary: "A Microsoft Teams incoming webhook (workflow), sent an Adaptive Card.",
        message: "lookout.v1.TeamsWebhook",
        settings: &[],
        required: &["url"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Teams),
        shows: |k| match k {
            Kind::Teams(s) => json(s),
            _ => None,
        },
        name_of: |_| "Microsoft Teams webhook".into(),
    },
    IntegrationType {
        name: "Lookout::PagerDutyIntegration",
        summary: "PagerDuty Events API v2: incidents trigger an alert, recoveries resolve it.",
        message: "lookout.v1.PagerDutyEvents",
        settings: &[],
        required: &["routing_key"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Pagerduty),
        shows: |k| match k {
            Kind::Pagerduty(s) => json(s),
            _ => None,
        },
        name_of: |_| "PagerDuty".into(),
    },
    IntegrationType {
        name: "Lookout::OpsgenieIntegration",
        summary: "Opsgenie Alert API: incidents create an alert, recoveries close it.",
        message: "lookout.v1.Opsgenie",
        settings: &[],
        required: &["api_key"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Opsgenie),
        shows: |k| match k {
            Kind::Opsgenie(s) => json(s),
            _ => None,
        },
        name_of: |_| "Opsgenie".into(),
    },
    IntegrationType {
        name: "Lookout::PushoverIntegration",
        summary: "Pushover messages API.",
        message: "lookout.v1.Pushover",
        settings: &[],
        required: &["token", "user_key"],
        creatable: true,
        editable: true,
        decode: |v| message(v).map(Kind::Pushover),
        shows: |k| match k {
            Kind::Pushover(s) => json(s),
            _ => None,
        },
        name_of: |_| "Pushover".into(),
    },
];

/// The type named `name`.
pub fn by_name(name: &str) -> Option<&'static IntegrationType> {
    TYPES.iter().find(|t| t.name == name)
}

/// The type `kind` shows as, and its settings as the API shows them.
pub fn shown(kind: &Kind) -> Option<(&'static IntegrationType, Map<String, Value>)> {
    TYPES
        .iter()
        .find_map(|t| (t.shows)(kind).map(|v| (t, t.settings_out(v))))
}

/// The names of every type, for messages and the OpenAPI document.
pub fn names() -> Vec<&'static str> {
    TYPES.iter().map(|t| t.name).collect()
}

impl IntegrationType {
    /// The kind from a request's `settings` object: unknown and missing settings refused by
    /// name, then decoded (a wrong type named by its path).
    pub fn settings_in(&self, messages: &Messages, settings: Object) -> Result<Kind, ApiError> {
        let (path, map) = settings.into_map();
        for key in self.required {
            if map.get(*key).is_none_or(Value::is_null) {
                return Err(ApiError::invalid(format!("{path}.{key}"), "is required"));
            }
        }
        let value = if self.settings.is_empty() {
            let value = Value::Object(map);
            messages
                .check_fields(self.message, &value, &path)
                .map_err(ApiError::field)?;
            value
        } else {
            let mut renamed = Map::new();
            for (key, v) in map {
                let Some((_, field)) = self.settings.iter().find(|(api, _)| *api == key) else {
                    let known: Vec<&str> = self.settings.iter().map(|(api, _)| *api).collect();
                    return Err(ApiError::invalid(
                        format!("{path}.{key}"),
                        format!(
                            "is not a setting of {}; its settings are {}",
                            self.name,
                            known.join(", ")
                        ),
                    ));
                };
                renamed.insert((*field).to_string(), v);
            }
            Value::Object(renamed)
        };
        (self.decode)(value).map_err(|e| {
            let at = self.api_path(&e.path().to_string());
            ApiError::invalid(format!("{path}.{at}"), e.into_inner())
        })
    }

    /// The settings as responses show them, from the JSON of `message`.
    fn settings_out(&self, full: Value) -> Map<String, Value> {
        let Value::Object(mut map) = full else {
            return Map::new();
        };
        if self.settings.is_empty() {
            return map;
        }
        self.settings
            .iter()
            .filter_map(|(api, field)| Some(((*api).to_string(), map.remove(*field)?)))
            .collect()
    }

    /// A path inside the settings message (`url`, `headers[0].name`) as the API names it.
    pub fn api_path(&self, path: &str) -> String {
        let split = path.find(['.', '[']).unwrap_or(path.len());
        let (head, rest) = path.split_at(split);
        match self.settings.iter().find(|(_, field)| *field == head) {
            Some((api, _)) => format!("{api}{rest}"),
            None => path.to_string(),
        }
    }
}

/// A domain field of an integration (`webhook.url`, `name`) as a request names it
/// (`integration.settings.webhook_url`, `integration.name`).
pub fn request_field(ty: &IntegrationType, kind_name: &str, field: &str) -> String {
    if let Some(inner) = field
        .strip_prefix(kind_name)
        .and_then(|r| r.strip_prefix('.'))
    {
        return format!("integration.settings.{}", ty.api_path(inner));
    }
    match field {
        "kind" => "integration.type".into(),
        "id" => "id".into(),
        f => format!("integration.{f}"),
    }
}

fn message<T: DeserializeOwned>(v: Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(v)
}

fn json<T: Serialize>(t: &T) -> Option<Value> {
    serde_json::to_value(t).ok()
}

/// A webhook that only the Uptinio type's settings describe.
fn uptinio_shaped(w: &WebhookIntegration) -> bool {
    w.body == BodyFormat::Uptinio as i32
        && matches!(w.method.as_str(), "" | "POST")
        && w.headers.is_empty()
        && w.basic_auth.is_none()
        && matches!(
            w.signature(),
            SignatureMode::Unspecified | SignatureMode::Lookout
        )
        && w.syntax() == TemplateSyntax::Unspecified
        && w.template.is_empty()
        && !w.template_is_json
}

/// The document's name of a webhook, its URL, with credentials in it redacted (the name is
/// shown as it is), cut to the longest name.
fn webhook_name(k: &Kind) -> String {
    let Kind::Webhook(w) = k else {
        return "webhook".into();
    };
    let url = lookout_proto::redact_url_credentials(&w.url).unwrap_or_else(|| w.url.clone());
    url.chars().take(MAX_NAME_CHARS).collect()
}

/// Checks a request's `events` against `lookout.v1.EventFilter` and decodes it.
pub fn events(
    messages: &Messages,
    o: &mut Object,
) -> Result<Option<lookout_proto::v1::EventFilter>, ApiError> {
    let path = o.path_of("events");
    let Some(v) = o.take("events") else {
        return Ok(None);
    };
    messages
        .check_fields("lookout.v1.EventFilter", &v, &path)
        .map_err(ApiError::field)?;
    input::decode(v, &path).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::v1::{
        DiscordWebhook, MattermostWebhook, Opsgenie, PagerDutyEvents, Pushover, SlackWebhook,
        TeamsWebhook, TelegramBot,
    };

    #[test]
    fn every_row_names_fields_of_its_message() {
        let messages = Messages::load();
        for t in TYPES {
            let fields = messages.field_names(t.message);
            assert!(!fields.is_empty(), "{}: no message {}", t.name, t.message);
            for (_, f) in t.settings {
                assert!(
                    fields.contains(f),
                    "{}: {f} is not in {}",
                    t.name,
                    t.message
                );
            }
            for r in t.required {
                let known = if t.settings.is_empty() {
                    fields.contains(r)
                } else {
                    t.settings.iter().any(|(api, _)| api == r)
                };
                assert!(known, "{}: required {r} is not a setting", t.name);
            }
        }
    }

    #[test]
    fn every_kind_shows_as_a_type_and_comes_back_the_same() {
        let kinds = [
            Kind::Webhook(WebhookIntegration {
                url: "https://h/x".into(),
                body: BodyFormat::Uptinio as i32,
                ..Default::default()
            }),
            Kind::Email(lookout_proto::v1::EmailIntegration {
                email: "alerts@example.com".into(),
                ..Default::default()
            }),
            Kind::SshRestart(lookout_proto::v1::SshRestart {
                ip: "192.168.1.100".into(),
                username: "admin".into(),
                port: 22,
                ..Default::default()
            }),
            Kind::Sms(lookout_proto::v1::SmsIntegration {
                phone_number: "+1234567890".into(),
                ..Default::default()
            }),
            Kind::SlackApp(lookout_proto::v1::SlackApp {
                team_name: "Acme".into(),
                channel_name: "alerts".into(),
                ..Default::default()
            }),
            Kind::Webhook(WebhookIntegration {
                url: "https://h/x".into(),
                method: "PUT".into(),
                ..Default::default()
            }),
            Kind::Slack(SlackWebhook::default()),
            Kind::Discord(DiscordWebhook::default()),
            Kind::Telegram(TelegramBot::default()),
            Kind::Mattermost(MattermostWebhook::default()),
            Kind::Teams(TeamsWebhook::default()),
            Kind::Pagerduty(PagerDutyEvents::default()),
            Kind::Opsgenie(Opsgenie::default()),
            Kind::Pushover(Pushover::default()),
        ];
        let mut names = Vec::new();
        for k in kinds {
            let (t, _) = shown(&k).expect("every kind has a type");
            let full = (t.shows)(&k).expect("shows");
            assert_eq!((t.decode)(full).expect("decodes"), k, "{}", t.name);
            names.push(t.name);
        }
        names.dedup();
        assert_eq!(names, super::names(), "each row shows one kind");
    }

    #[test]
    fn uptinio_names_map_to_message_fields_and_back() {
        let t = by_name("Integrations::WebhookIntegration").expect("row");
        assert_eq!(t.api_path("url"), "webhook_url");
        assert_eq!(t.api_path("secret"), "secret");
        assert_eq!(
            request_field(t, "webhook", "webhook.url"),
            "integration.settings.webhook_url"
        );
        assert_eq!(request_field(t, "webhook", "name"), "integration.name");
        let full = by_name("Lookout::WebhookIntegration").expect("row");
        assert_eq!(
            request_field(full, "webhook", "webhook.headers[0].name"),
            "integration.settings.headers[0].name"
        );
        let k = Kind::Webhook(WebhookIntegration {
            url: "https://hooks.slack.com/services/T0/B0/XXXX".into(),
            ..Default::default()
        });
        assert_eq!(webhook_name(&k), "https://hooks.slack.com/services/***");
    }
}
