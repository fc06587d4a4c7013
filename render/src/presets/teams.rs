//! Microsoft Teams workflow webhooks: a `message` carrying one Adaptive Card (title in the
//! severity's colour, a fact set, the error), the shape the "Post to a channel when a
//! webhook request is received" workflow accepts.

use lookout_proto::v1::TeamsWebhook;
use lookout_proto::validate::FieldError;
use serde_json::{Value, json};

use super::summary::{Summary, Tone};
use crate::{Context, RenderError, Request};

pub(super) fn validate(s: &mut TeamsWebhook) -> Result<(), FieldError> {
    // Workflow URLs live on several Azure hosts (logic.azure.com, powerplatform.com, ...).
    super::webhook_url(
        "teams.url",
        &mut s.url,
        &[],
        "/",
        "an https URL (the workflow's)",
    )
}

pub(super) fn render(s: &TeamsWebhook, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let sum = Summary::of(ctx.event);
    let color = match sum.tone {
        Tone::Critical => "Attention",
        Tone::Warning => "Warning",
        Tone::Resolved => "Good",
        Tone::Info => "Accent",
    };
    let facts: Vec<Value> = sum
        .facts
        .iter()
        .map(|(label, value)| json!({"title": label, "value": value}))
        .collect();
    let mut card_body = vec![
        json!({
            "type": "TextBlock",
            "text": format!("{} {}", sum.tone.emoji(), sum.title),
            "size": "Medium",
            "weight": "Bolder",
            "color": color,
            "wrap": true,
        }),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if let Some(e) = &sum.error {
        card_body
            .push(json!({"type": "TextBlock", "text": e, "wrap": true, "fontType": "Monospace"}));
    }
    card_body.push(json!({
        "type": "TextBlock",
        "text": format!("Lookout · {}", sum.timestamp),
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": card_body,
        "msteams": {"width": "Full"},
    });
    if let Some(link) = &sum.link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open target", "url": link}]);
    }
    let body = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    });
    Ok(super::json_request("POST", s.url.clone(), vec![], &body))
}
