//! The REST API's endpoints, one table: how each is routed, and what the OpenAPI document
//! says of it (summary, parameters, body, answers).

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::rest::{RestState, deliveries, incidents, integrations, monitors, openapi_json, telex};

/// What a route answers on success.
pub(crate) enum Out {
    /// One object of this schema component.
    One(&'static str),
    /// A JSON array of them; more pages announced by `X-Next-Page-Token`.
    Page(&'static str),
    /// A JSON array of them, all at once.
    All(&'static str),
    /// No body (204).
    Nothing,
}

/// One endpoint: how it is routed and how the OpenAPI document describes it.
pub(crate) struct Route {
    pub method: Method,
    pub path: &'static str,
    pub operation: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Query parameters (name, description); `page_size` is an integer, the rest strings.
    pub query: &'static [(&'static str, &'static str)],
    /// The schema component of the request body.
    pub body: Option<&'static str>,
    pub status: u16,
    pub out: Out,
    /// Served without a token.
    pub public: bool,
    /// The Telex integration's: served (and documented) only while `telex.enabled`.
    pub telex: bool,
    /// `None`: routed by its own module with its own state (the SMS verification and the
    /// Slack app endpoints: `sms::routes`, `slack_app::routes`, merged into the same router),
    /// and described here so that the OpenAPI document has every endpoint of the port.
    handler: Option<fn(MethodFilter) -> MethodRouter<RestState>>,
}

impl Route {
    /// The handler, routed for `filter` (the route's own method), when the table routes it.
    pub fn method_router(&self, filter: MethodFilter) -> Option<MethodRouter<RestState>> {
        self.handler.map(|h| h(filter))
    }
}

const PAGING: [(&str, &str); 2] = [
    ("page_size", "Items per page, 1..=500 (default 100)."),
    (
        "page_token",
        "X-Next-Page-Token of the previous page; absent for the first.",
    ),
];

const TICK_KEY: [(&str, &str); 1] = [(
    "key",
    "The deployment's tick_key, when it sets one (or Authorization: Bearer).",
)];

const SLACK_CALLBACK: [(&str, &str); 4] = [
    ("project_uuid", "The project, as redirect_uri carries it."),
    ("code", "Slack's authorization code."),
    ("state", "The state initiate answered."),
    (
        "error",
        "Set by Slack instead of code when the user declined.",
    ),
];

const INTEGRATION: &str = "Integration";
const MONITOR: &str = "lookout.v1.Monitor";

/// A route answering 200 without a body, no query, no request body: the base the table
/// below changes.
fn route(
    method: Method,
    path: &'static str,
    ops: (&'static str, &'static str, &'static str),
    handler: fn(MethodFilter) -> MethodRouter<RestState>,
) -> Route {
    base(method, path, ops, Some(handler))
}

/// [`route`] for an endpoint its own module serves (see [`Route::handler`]).
fn elsewhere(
    method: Method,
    path: &'static str,
    ops: (&'static str, &'static str, &'static str),
) -> Route {
    base(method, path, ops, None)
}

fn base(
    method: Method,
    path: &'static str,
    (operation, tag, summary): (&'static str, &'static str, &'static str),
    handler: Option<fn(MethodFilter) -> MethodRouter<RestState>>,
) -> Route {
    Route {
        method,
        path,
        operation,
        tag,
        summary,
        query: &[],
        body: None,
        status: 200,
        out: Out::Nothing,
        public: false,
        telex: false,
        handler,
    }
}

/// Every endpoint of the REST API.
pub(crate) fn routes() -> Vec<Route> {
    let mut all = vec![
        Route {
            query: &PAGING,
            out: Out::Page(INTEGRATION),
            ..route(
                Method::GET,
                "/api/v1/integrations",
                (
                    "listIntegrations",
                    "integrations",
                    "List the project's integrations.",
                ),
                |m| on(m, integrations::list),
            )
        },
        Route {
            body: Some("IntegrationRequest"),
            status: 201,
            out: Out::One(INTEGRATION),
            ..route(
                Method::POST,
                "/api/v1/integrations",
                (
                    "createIntegration",
                    "integrations",
                    "Create an integration of one of the types.",
                ),
                |m| on(m, integrations::create),
            )
        },
        Route {
            out: Out::One(INTEGRATION),
            ..route(
                Method::GET,
                "/api/v1/integrations/{id}",
                ("getIntegration", "integrations", "Show one integration."),
                |m| on(m, integrations::get),
            )
        },
        Route {
            body: Some("IntegrationRequest"),
            out: Out::One(INTEGRATION),
            ..route(
                Method::PUT,
                "/api/v1/integrations/{id}",
                (
                    "updateIntegration",
                    "integrations",
                    "Replace an integration's type and settings; secrets sent back as \"***\" \
                     keep their stored values. System integrations are refused.",
                ),
                |m| on(m, integrations::update),
            )
        },
        Route {
            status: 204,
            ..route(
                Method::DELETE,
                "/api/v1/integrations/{id}",
                (
                    "deleteIntegration",
                    "integrations",
                    "Delete an integration no monitor attaches. A system integration answers \
                     422 {\"error\": \"This integration cannot be deleted.\"}.",
                ),
                |m| on(m, integrations::delete),
            )
        },
        Route {
            status: 202,
            out: Out::One("lookout.v1.Delivery"),
            ..route(
                Method::POST,
                "/api/v1/integrations/{id}/test",
                (
                    "testIntegration",
                    "integrations",
                    "Queue a test event to the integration; answers its delivery, pending.",
                ),
                |m| on(m, integrations::test),
            )
        },
        Route {
            query: &PAGING,
            out: Out::Page(MONITOR),
            ..route(
                Method::GET,
                "/api/v1/monitors",
                ("listMonitors", "monitors", "List the project's monitors."),
                |m| on(m, monitors::list),
            )
        },
        Route {
            body: Some("MonitorRequest"),
            status: 201,
            out: Out::One(MONITOR),
            ..route(
                Method::POST,
                "/api/v1/monitors",
                ("createMonitor", "monitors", "Create a monitor."),
                |m| on(m, monitors::create),
            )
        },
        Route {
            out: Out::One(MONITOR),
            ..route(
                Method::GET,
                "/api/v1/monitors/{id}",
                (
                    "getMonitor",
                    "monitors",
                    "Show one monitor, with its regions' status.",
                ),
                |m| on(m, monitors::get),
            )
        },
        Route {
            body: Some("MonitorRequest"),
            out: Out::One(MONITOR),
            ..route(
                Method::PUT,
                "/api/v1/monitors/{id}",
                (
                    "updateMonitor",
                    "monitors",
                    "Replace a monitor's definition; credentials sent back blank keep their \
                     stored values.",
                ),
                |m| on(m, monitors::update),
            )
        },
        Route {
            status: 204,
            ..route(
                Method::DELETE,
                "/api/v1/monitors/{id}",
                (
                    "deleteMonitor",
                    "monitors",
                    "Delete a monitor; its open incident resolves.",
                ),
                |m| on(m, monitors::delete),
            )
        },
    ];
    // The Uptinio document attaches integrations to servers; Lookout's are monitors, served
    // under both names.
    all.extend(attaching(
        "/api/v1/monitors/{id}/integrations",
        "/api/v1/monitors/{id}/integrations/{integration_id}",
        [
            "listMonitorIntegrations",
            "attachMonitorIntegration",
            "detachMonitorIntegration",
        ],
    ));
    all.extend(attaching(
        "/api/v1/servers/{id}/integrations",
        "/api/v1/servers/{id}/integrations/{integration_id}",
        [
            "listServerIntegrations",
            "attachServerIntegration",
            "detachServerIntegration",
        ],
    ));
    all.extend([
        Route {
            query: &[
                ("state", "open or resolved; both when absent."),
                ("monitor_id", "Only this monitor's incidents."),
                PAGING[0],
                PAGING[1],
            ],
            out: Out::Page("lookout.v1.Incident"),
            ..route(
                Method::GET,
                "/api/v1/incidents",
                (
                    "listIncidents",
                    "incidents",
                    "List the project's incidents, newest first.",
                ),
                |m| on(m, incidents::list),
            )
        },
        Route {
            out: Out::One("lookout.v1.Incident"),
            ..route(
                Method::GET,
                "/api/v1/incidents/{id}",
                ("getIncident", "incidents", "Show one incident."),
                |m| on(m, incidents::get),
            )
        },
        Route {
            query: &[
                (
                    "state",
                    "pending, delivered or dead; every state when absent.",
                ),
                ("integration_id", "Only deliveries to this integration."),
                PAGING[0],
                PAGING[1],
            ],
            out: Out::Page("lookout.v1.Delivery"),
            ..route(
                Method::GET,
                "/api/v1/deliveries",
                (
                    "listDeliveries",
                    "deliveries",
                    "List the delivery log, newest first.",
                ),
                |m| on(m, deliveries::list),
            )
        },
        Route {
            out: Out::One("lookout.v1.Delivery"),
            ..route(
                Method::GET,
                "/api/v1/deliveries/{id}",
                (
                    "getDelivery",
                    "deliveries",
                    "Show one delivery with its event and every attempt.",
                ),
                |m| on(m, deliveries::get),
            )
        },
        Route {
            public: true,
            out: Out::One("OpenAPI"),
            ..route(
                Method::GET,
                "/api/v1/openapi.json",
                ("getOpenApi", "meta", "This document (no token needed)."),
                |m| on(m, openapi_json),
            )
        },
        Route {
            body: Some("SmsVerificationRequest"),
            out: Out::One("SmsVerificationSent"),
            ..elsewhere(
                Method::POST,
                "/api/v1/integrations/sms/send_verification_code",
                (
                    "sendSmsVerificationCode",
                    "integrations",
                    "Text a verification code to phone_number (E.164), for creating an \
                     Integrations::SmsIntegration with it. Needs a paid plan (403 \
                     paid_plan_required); codes expire, attempts and sends per number are \
                     limited (429 with Retry-After).",
                ),
            )
        },
        Route {
            out: Out::One("SlackOauthStart"),
            ..elsewhere(
                Method::POST,
                "/api/v1/integrations/slack/initiate",
                (
                    "initiateSlackOauth",
                    "integrations",
                    "Start installing Lookout's Slack app for the project: send the user to \
                     oauth_url; Slack's redirect to redirect_uri creates the \
                     Integrations::SlackIntegration. 503 slack_unavailable when the \
                     deployment has no slack_app.",
                ),
            )
        },
        Route {
            public: true,
            query: &SLACK_CALLBACK,
            out: Out::One("Integration"),
            ..elsewhere(
                Method::GET,
                "/auth/slack/callback",
                (
                    "slackOauthCallback",
                    "integrations",
                    "Where Slack sends the browser after authorisation: checks state (once, \
                     within its lifetime), exchanges code with oauth.v2.access and creates the \
                     integration; redirects to the deployment's installed_url when set, else \
                     answers the integration.",
                ),
            )
        },
        Route {
            public: true,
            ..elsewhere(
                Method::POST,
                "/slack/interactivity",
                (
                    "slackInteractivity",
                    "integrations",
                    "Slack's interactivity requests (application/x-www-form-urlencoded, \
                     payload=...): the Resolve button. Signed by Slack (X-Slack-Signature v0 \
                     with the signing secret, X-Slack-Request-Timestamp within 5 minutes); \
                     401 otherwise.",
                ),
            )
        },
        Route {
            public: true,
            telex: true,
            query: &TICK_KEY,
            out: Out::One("TelexIntegration"),
            ..route(
                Method::GET,
                "/integration.json",
                (
                    "getTelexIntegration",
                    "telex",
                    "The Telex interval integration's spec: register this URL in Telex (with \
                     ?key= when the deployment sets a tick_key).",
                ),
                |m| on(m, telex::integration),
            )
        },
        Route {
            public: true,
            telex: true,
            query: &TICK_KEY,
            body: Some("TelexTick"),
            status: 202,
            out: Out::One("TelexAccepted"),
            ..route(
                Method::POST,
                "/tick",
                (
                    "telexTick",
                    "telex",
                    "Telex's tick: accepted at once; each site-N setting is checked now by an \
                     agent and one message saying which are up and which are down is posted \
                     to return_url.",
                ),
                |m| {
                    on(m, telex::tick)
                        .layer(DefaultBodyLimit::max(crate::telex::MAX_TICK_BODY_BYTES))
                },
            )
        },
    ]);
    all
}

/// Listing (`list`), attaching (`list`) and detaching (`one`) a monitor's integrations, with
/// those three operation ids.
fn attaching(list: &'static str, one: &'static str, ops: [&'static str; 3]) -> [Route; 3] {
    [
        Route {
            out: Out::All(INTEGRATION),
            ..route(
                Method::GET,
                list,
                (
                    ops[0],
                    "monitors",
                    "List the integrations the monitor attaches.",
                ),
                |m| on(m, monitors::integrations),
            )
        },
        Route {
            body: Some("AttachRequest"),
            status: 201,
            out: Out::One(INTEGRATION),
            ..route(
                Method::POST,
                list,
                (
                    ops[1],
                    "monitors",
                    "Attach an integration of the project to the monitor (again: no change); \
                     answers the integration.",
                ),
                |m| on(m, monitors::attach),
            )
        },
        Route {
            status: 204,
            ..route(
                Method::DELETE,
                one,
                (
                    ops[2],
                    "monitors",
                    "Detach an integration from the monitor.",
                ),
                |m| on(m, monitors::detach),
            )
        },
    ]
}
