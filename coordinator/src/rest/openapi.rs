//! The OpenAPI 3.1 document of the REST API, built from the tables the handlers use: the
//! routes, the integration types and the protobuf messages (with their `.proto` comments).

use serde_json::{Map, Value, json};

use crate::rest::schema::{Messages, component_ref};
use crate::rest::types::{self, TYPES};
use crate::rest::{Out, Route};

/// The document, served at `/api/v1/openapi.json`.
pub fn document(messages: &Messages, routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for r in routes {
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        if let Value::Object(ops) = entry {
            ops.insert(r.method.as_str().to_ascii_lowercase(), operation(r));
        }
    }
    let mut roots = vec![
        "lookout.v1.Monitor",
        "lookout.v1.Incident",
        "lookout.v1.Delivery",
        "lookout.v1.EventFilter",
    ];
    roots.extend(TYPES.iter().map(|t| t.message));
    let mut schemas = messages.components(&roots);
    schemas.extend(own_schemas(messages));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Lookout REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Lookout's REST API: the Uptinio integrations API (with secrets \
                redacted in responses), monitors and the integrations attached to them, and \
                incidents and deliveries read-only. Every call but this document's and the Telex \
                integration's needs `Authorization: Bearer <project token>` and acts on that \
                token's project only. \
                Errors are JSON: {\"error\": code, \"message\": \"<field>: <reason>\", \"field\"}.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "tags": [
            { "name": "integrations", "description": "Where notifications go." },
            { "name": "monitors", "description": "What is checked, and who is told." },
            { "name": "incidents", "description": "Read-only." },
            { "name": "deliveries", "description": "The delivery log, read-only." },
            { "name": "meta", "description": "This document." },
            { "name": "telex", "description": "The Telex interval integration (docs/telex.md), while telex.enabled." },
        ],
        "security": [ { "bearer": [] } ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A project token (`lookout tokens create`, or the \
                        coordinator's `project_tokens`).",
                },
            },
            "schemas": schemas,
            "responses": error_responses(),
        },
    })
}

fn operation(r: &Route) -> Value {
    let mut parameters: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": { "type": "string", "maxLength": 64 },
            })
        })
        .collect();
    parameters.extend(r.query.iter().map(|(name, description)| {
        let schema = if *name == "page_size" {
            json!({ "type": "integer", "minimum": 0, "maximum": 500 })
        } else {
            json!({ "type": "string" })
        };
        json!({ "name": name, "in": "query", "description": description, "schema": schema })
    }));
    let mut op = json!({
        "operationId": r.operation,
        "summary": r.summary,
        "tags": [r.tag],
        "parameters": parameters,
        "responses": responses(r),
    });
    let Value::Object(m) = &mut op else {
        return op;
    };
    if let Some(body) = r.body {
        m.insert(
            "requestBody".into(),
            json!({
                "required": true,
                "content": { "application/json": { "schema": component_ref(body) } },
            }),
        );
    }
    if r.public {
        m.insert("security".into(), json!([]));
    }
    op
}

fn responses(r: &Route) -> Value {
    let content = |schema: Value| json!({ "application/json": { "schema": schema } });
    let ok = match r.out {
        Out::One(c) => json!({ "description": "OK", "content": content(component_ref(c)) }),
        Out::All(c) => json!({
            "description": "OK",
            "content": content(json!({ "type": "array", "items": component_ref(c) })),
        }),
        Out::Page(c) => json!({
            "description": "One page.",
            "headers": {
                "X-Next-Page-Token": {
                    "description": "Present when more items follow: pass it as page_token.",
                    "schema": { "type": "string" },
                },
            },
            "content": content(json!({ "type": "array", "items": component_ref(c) })),
        }),
        Out::Nothing => json!({ "description": "Done." }),
    };
    let mut out = Map::new();
    out.insert(r.status.to_string(), ok);
    let shared = |name: &str| json!({ "$ref": format!("#/components/responses/{name}") });
    if !r.public {
        out.insert("401".into(), shared("Unauthorized"));
        out.insert("403".into(), shared("Forbidden"));
    }
    if r.telex {
        out.insert("401".into(), shared("WrongTickKey"));
    }
    if r.telex && r.body.is_some() {
        out.insert("503".into(), shared("Busy"));
    }
    if r.path.contains('{') {
        out.insert("404".into(), shared("NotFound"));
    }
    if r.body.is_some() {
        out.insert("413".into(), shared("TooLarge"));
    }
    if r.body.is_some() || !r.query.is_empty() || r.path.contains('{') {
        let unprocessable = if r.operation == "deleteIntegration" {
            json!({
                "description": "A system integration, or one monitors attach.",
                "content": content(json!({
                    "oneOf": [component_ref("Undeletable"), component_ref("Error")],
                })),
            })
        } else {
            shared("Invalid")
        };
        out.insert("422".into(), unprocessable);
    }
    Value::Object(out)
}

fn error_responses() -> Value {
    let err = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": component_ref("Error") } },
        })
    };
    json!({
        "Unauthorized": err("No token, or one that is not valid (error unauthorized)."),
        "Forbidden": err("An operator token (error forbidden): use a project token; or, for \
            an SMS integration or code, a project not on a paid plan (error paid_plan_required)."),
        "NotFound": err("No such item in the token's project (error integration_not_found, \
            monitor_not_found, incident_not_found or delivery_not_found)."),
        "TooLarge": err("The body is over the endpoint's limit: 256 KiB (64 KiB for /tick)."),
        "WrongTickKey": err("The deployment sets a tick_key and the request's key is missing or \
            wrong (error unauthorized)."),
        "Busy": err("Too many ticks are being worked on; try again shortly (error unavailable)."),
        "Invalid": err("The request is refused (error invalid_request naming the field, or \
            unprocessable_entity)."),
    })
}

/// The REST API's own shapes: errors, the integration envelope per type, and the bodies
/// that wrap a message.
fn own_schemas(messages: &Messages) -> Map<String, Value> {
    let mut s = Map::new();
    s.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {
                    "type": "string",
                    "description": "integration_not_found, monitor_not_found, \
                        incident_not_found, delivery_not_found, invalid_request, \
                        unprocessable_entity, unauthorized, forbidden, conflict, not_found, \
                        method_not_allowed, internal_error.",
                },
                "message": { "type": "string", "description": "<field>: <reason> for a refused field." },
                "field": { "type": "string", "description": "The field at fault, as the request names it." },
            },
        }),
    );
    s.insert(
        "Undeletable".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": { "error": { "const": crate::rest::error::UNDELETABLE } },
        }),
    );
    s.extend(telex_schemas());
    s.insert(
        "SmsVerificationRequest".into(),
        json!({
            "type": "object",
            "required": ["phone_number"],
            "properties": {
                "phone_number": {
                    "type": "string",
                    "description": "E.164: + and 8 to 15 digits, the first not 0 (+1234567890).",
                },
            },
        }),
    );
    s.insert(
        "SmsVerificationSent".into(),
        json!({
            "type": "object",
            "required": ["success", "message"],
            "properties": {
                "success": { "const": true },
                "message": { "type": "string" },
            },
        }),
    );
    s.insert(
        "SlackOauthStart".into(),
        json!({
            "type": "object",
            "required": ["oauth_url", "state", "redirect_uri"],
            "properties": {
                "oauth_url": { "type": "string", "description": "Slack's authorize URL." },
                "state": { "type": "string", "description": "Single use, short-lived." },
                "redirect_uri": { "type": "string" },
            },
        }),
    );
    s.insert(
        "OpenAPI".into(),
        json!({ "type": "object", "description": "An OpenAPI 3.1 document." }),
    );
    s.insert(
        "Integration".into(),
        json!({
            "type": "object",
            "required": ["uuid", "type", "name", "settings", "editable", "deletable", "created_at", "updated_at"],
            "properties": {
                "uuid": { "type": "string" },
                "type": { "type": "string", "enum": types::names() },
                "name": { "type": "string" },
                "settings": {
                    "type": "object",
                    "description": "The type's settings; every secret that is set reads \"***\".",
                },
                "editable": { "type": "boolean" },
                "deletable": { "type": "boolean" },
                "system": {
                    "type": "boolean",
                    "description": "Declared in a configuration file: neither editable nor deletable.",
                },
                "events": component_ref("lookout.v1.EventFilter"),
                "rate_limit_per_minute": { "type": "integer" },
                "created_at": { "type": "string", "format": "date-time" },
                "updated_at": { "type": "string", "format": "date-time" },
            },
        }),
    );
    let mut variants = Vec::new();
    for t in TYPES.iter().filter(|t| t.creatable) {
        let base = t.name.replace("::", ".");
        let settings_name = format!("{base}.Settings");
        let request_name = format!("{base}.Request");
        s.insert(settings_name.clone(), settings_schema(messages, t));
        s.insert(
            request_name.clone(),
            json!({
                "type": "object",
                "description": t.summary,
                "additionalProperties": false,
                "required": ["type", "settings"],
                "properties": {
                    "type": { "const": t.name },
                    "settings": component_ref(&settings_name),
                    "name": {
                        "type": "string",
                        "maxLength": lookout_render::validate::MAX_NAME_CHARS,
                        "description": "Derived from the settings when absent.",
                    },
                    "events": component_ref("lookout.v1.EventFilter"),
                    "rate_limit_per_minute": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": lookout_render::validate::MAX_RATE_LIMIT_PER_MINUTE,
                    },
                },
            }),
        );
        variants.push(component_ref(&request_name));
    }
    s.insert(
        "IntegrationRequest".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["integration"],
            "properties": { "integration": { "oneOf": variants } },
        }),
    );
    s.insert(
        "MonitorRequest".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["monitor"],
            "properties": { "monitor": component_ref("lookout.v1.Monitor") },
        }),
    );
    s.insert(
        "AttachRequest".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["integration_id"],
            "properties": { "integration_id": { "type": "string", "maxLength": 64 } },
        }),
    );
    s
}

/// A type's settings: the fields it picks of its message under their API names, or the
/// message itself.
fn settings_schema(messages: &Messages, t: &types::IntegrationType) -> Value {
    if t.settings.is_empty() {
        return json!({ "allOf": [component_ref(t.message)], "required": t.required });
    }
    let properties: Map<String, Value> = t
        .settings
        .iter()
        .filter_map(|(api, field)| {
            Some(((*api).to_string(), messages.field_schema(t.message, field)?))
        })
        .collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": t.required,
        "properties": properties,
    })
}

/// The Telex integration's shapes, as Telex's interval integration document has them.
fn telex_schemas() -> Map<String, Value> {
    let setting = json!({
        "type": "object",
        "required": ["label"],
        "properties": {
            "label": { "type": "string", "maxLength": 128, "description": "site-N (any label starting with \"site\") or interval; others are ignored." },
            "type": { "type": "string", "maxLength": 128 },
            "required": { "type": "boolean" },
            "default": { "description": "The setting's value: a site's http(s) URL, or the interval's 5-field cron expression." },
        },
    });
    let mut s = Map::new();
    s.insert("TelexSetting".into(), setting);
    s.insert(
        "TelexTick".into(),
        json!({
            "type": "object",
            "description": "What Telex posts at each interval. Other keys are ignored.",
            "required": ["channel_id", "return_url", "settings"],
            "properties": {
                "channel_id": { "type": "string", "minLength": 1, "maxLength": 128 },
                "return_url": {
                    "type": "string",
                    "maxLength": lookout_proto::validate::MAX_URL_BYTES,
                    "description": "Where the result message is posted: http(s), a public address unless the deployment allows private destinations.",
                },
                "settings": {
                    "type": "array",
                    "maxItems": crate::telex::MAX_SETTINGS,
                    "items": component_ref("TelexSetting"),
                    "description": "At least one site setting with a URL, at most 20.",
                },
            },
        }),
    );
    s.insert(
        "TelexAccepted".into(),
        json!({
            "type": "object",
            "required": ["status"],
            "properties": { "status": { "const": "accepted" } },
        }),
    );
    s.insert(
        "TelexIntegration".into(),
        json!({
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {
                    "type": "object",
                    "required": ["descriptions", "integration_type", "settings", "tick_url"],
                    "properties": {
                        "descriptions": { "type": "object" },
                        "integration_category": { "type": "string" },
                        "integration_type": { "const": "interval" },
                        "key_features": { "type": "array", "items": { "type": "string" } },
                        "settings": { "type": "array", "items": component_ref("TelexSetting") },
                        "tick_url": { "type": "string" },
                    },
                },
            },
        }),
    );
    s
}
