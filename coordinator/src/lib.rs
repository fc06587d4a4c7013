//! The Lookout coordinator: admin API over projects, their tokens, monitors, incidents and delivery log, the agent
//! gateway that assigns (monitor, region) pairs to connected agents, the bridge from agent
//! result batches to the result bus, and the no-data watch that reports (monitor, region)
//! pairs without results; beside the gRPC port, the REST API (`rest`). `main.rs` wires it to
//! Kafka; `lookout standalone` and tests call [`serve`] or [`serve_with_rest`].

pub mod assign;
pub mod auth;
pub mod bench;
pub mod config;
pub mod deliveries;
pub mod destinations;
pub mod error;
mod grpc;
pub mod hub;
pub mod incidents;
pub mod intake;
pub mod integrations;
pub mod leader;
pub mod lifecycle;
pub mod members;
pub mod monitors;
pub mod no_data;
pub mod paging;
pub mod projects;
mod publish;
pub mod region_status;
pub mod rest;
pub mod rest_util;
pub mod run_now;
pub mod session;
pub mod slack_app;
pub mod sms;
pub mod telex;
mod tls;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use lookout_bus::ResultPublisher;
use lookout_proto::bounds::MAX_GATEWAY_MESSAGE_BYTES;
use lookout_proto::v1::agent_gateway_server::AgentGatewayServer;
use lookout_proto::v1::agent_service_server::AgentServiceServer;
use lookout_proto::v1::delivery_service_server::DeliveryServiceServer;
use lookout_proto::v1::incident_service_server::IncidentServiceServer;
use lookout_proto::v1::integration_service_server::IntegrationServiceServer;
use lookout_proto::v1::member_service_server::MemberServiceServer;
use lookout_proto::v1::monitor_service_server::MonitorServiceServer;
use lookout_proto::v1::project_service_server::ProjectServiceServer;
use lookout_proto::v1::token_service_server::TokenServiceServer;
use lookout_proto::v1::variable_service_server::VariableServiceServer;
use lookout_store::Store;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

pub use config::{ConfigError, CoordinatorConfig, Secret, TlsConfig};
pub use destinations::DestinationRules;
pub use error::{CoordinatorError, DomainError};
pub use integrations::apply_declared_integrations;
pub use monitors::apply_declared_monitors;
pub use rest::RestServer;

use auth::{AdminAuth, AgentTokens};
use deliveries::DeliveryDomain;
use grpc::admin::AdminService;
use grpc::agents::AgentApi;
use grpc::deliveries::DeliveryApi;
use grpc::gateway::GatewayService;
use grpc::incidents::IncidentApi;
use grpc::integrations::{IntegrationApi, VariableApi};
use grpc::members::MemberApi;
use grpc::projects::{ProjectApi, TokenApi};
use hub::Hub;
use incidents::IncidentDomain;
use integrations::IntegrationDomain;
use leader::Leadership;
use lifecycle::LifecycleEvents;
use members::MemberDomain;
use monitors::MonitorDomain;
use no_data::NoDataWatch;
use projects::ProjectDomain;
use session::{Gateway, Timing};

/// Serves the admin API, the agent gateway, gRPC health and reflection on `listener` until `shutdown`
/// resolves; then each agent session publishes and acknowledges the batches it accepted
/// (within `shutdown_timeout_ms`), ends with UNAVAILABLE, and the server drains.
/// The configuration is validated first; with `tls` set, the port serves only TLS.
pub async fn serve(
    config: CoordinatorConfig,
    store: Store,
    publisher: Arc<dyn ResultPublisher>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CoordinatorError> {
    serve_with_rest(config, store, publisher, listener, None, shutdown).await
}

/// [`serve`], and with `rest` the REST API on its own listener (plus its `extra` routes),
/// over the same domain layer. Both stop on `shutdown` (REST calls in flight finish), and
/// the REST API stops too whenever the gRPC server ends.
pub async fn serve_with_rest(
    config: CoordinatorConfig,
    store: Store,
    publisher: Arc<dyn ResultPublisher>,
    listener: tokio::net::TcpListener,
    rest: Option<RestServer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CoordinatorError> {
    config.validate()?;
    let regions: Arc<[String]> = config.regions.clone().into();
    let hub = Hub::follower(store.clone());
    let stop = CancellationToken::new();
    let no_data = Arc::new(NoDataWatch::new(
        store.clone(),
        hub.clone(),
        publisher.clone(),
    ));
    tokio::spawn(no_data.clone().run(stop.clone()));
    let (reporter, health) = tonic_health::server::health_reporter();
    let leadership = Arc::new(Leadership::new(
        store.clone(),
        hub.clone(),
        no_data.clone(),
        reporter.clone(),
        config.instance(),
        config.advertised(),
        Duration::from_millis(u64::from(config.leader_lease_ms)),
    ));
    let mut lock = store.leader_lock()?;
    let leading = leadership.start(&mut lock).await?;
    let leader_task = tokio::spawn(leadership.clone().run(lock, leading, stop.clone()));
    let lifecycle = Arc::new(LifecycleEvents::new(publisher.clone()));
    lifecycle.announce_unresolved(&store).await?;
    tokio::spawn(lifecycle.clone().run(stop.clone()));
    let publisher: Arc<dyn ResultPublisher> = Arc::new(no_data.observing(publisher));
    let deliveries = Arc::new(DeliveryDomain::new(store.clone()));
    let sms = Arc::new(sms::SmsVerification::new(
        store.clone(),
        config.twilio.clone(),
        config.production,
    )?);
    let integrations = Arc::new(IntegrationDomain::new(
        store.clone(),
        sms.clone(),
        DestinationRules {
            allow_private: config.allow_private_destinations,
        },
    ));
    let members = Arc::new(MemberDomain::new(store.clone()));
    let projects = Arc::new(ProjectDomain::new(store.clone()));
    let incidents = Arc::new(IncidentDomain::new(store.clone()));
    let auth = Arc::new(AdminAuth::new(
        &config.operator_tokens,
        &config.project_tokens,
        store.clone(),
    ));
    let slack_app = Arc::new(slack_app::SlackAppEndpoints::new(
        config.slack_app.clone(),
        store.clone(),
        auth.clone(),
        integrations.clone(),
        incidents.clone(),
    )?);
    let monitors = Arc::new(MonitorDomain::new(
        store.clone(),
        regions.clone(),
        hub.clone(),
        no_data,
        lifecycle,
    ));
    let timing = Timing {
        heartbeat: Duration::from_millis(u64::from(config.heartbeat_interval_ms.max(1))),
        shutdown_drain: Duration::from_millis(u64::from(config.shutdown_timeout_ms)),
    };
    let run_now = Arc::new(run_now::RunNowBroker::new(hub.clone()));
    let telex = match (config.telex.enabled, rest.is_some()) {
        (false, _) => None,
        (true, false) => {
            return Err(ConfigError::Invalid {
                field: "telex.enabled".into(),
                reason: "needs the REST API (rest_addr): /integration.json and /tick are served \
                         on its port"
                    .into(),
            }
            .into());
        }
        (true, true) => Some(Arc::new(telex::Telex::new(
            &config.telex,
            &config.regions,
            run_now.clone(),
            DestinationRules {
                allow_private: config.allow_private_destinations,
            },
        )?)),
    };
    let agent_api =
        AgentServiceServer::new(AgentApi::new(hub.clone(), store.clone(), auth.clone()));
    let gateway = Arc::new(Gateway::new(
        hub,
        run_now.clone(),
        AgentTokens::new(&config.agent_tokens),
        regions,
        publisher,
        timing,
        stop.clone(),
    ));

    // Each admin service authenticates its calls itself: a created project token is looked
    // up in the store, which a (synchronous) interceptor cannot do.
    // Sized for the largest ListMonitors page; requests hold one bounded monitor.
    let rest = match rest {
        Some(RestServer { listener, extra }) => {
            let state = rest::RestState::new(
                auth.clone(),
                integrations.clone(),
                monitors.clone(),
                incidents.clone(),
                deliveries.clone(),
                telex,
            );
            let addr = listener
                .local_addr()
                .map_err(|e| CoordinatorError::Io(e.to_string()))?;
            tracing::info!(%addr, "REST API listening");
            // The SMS verification and Slack app endpoints, beside the resources'.
            let extra = extra
                .merge(sms::routes(sms, auth.clone()))
                .merge(slack_app::routes(slack_app));
            let app = rest::router(state, extra);
            Some(axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned()))
        }
        None => None,
    };
    let admin = MonitorServiceServer::new(AdminService::new(monitors, auth.clone()))
        .max_encoding_message_size(lookout_proto::validate::MAX_ADMIN_MESSAGE_BYTES);
    let delivery_api = DeliveryServiceServer::new(DeliveryApi::new(deliveries, auth.clone()));
    let incident_api = IncidentServiceServer::new(IncidentApi::new(incidents, auth.clone()));
    let project_api = ProjectServiceServer::new(ProjectApi::new(projects.clone(), auth.clone()));
    let integration_api =
        IntegrationServiceServer::new(IntegrationApi::new(integrations.clone(), auth.clone()));
    let variable_api = VariableServiceServer::new(VariableApi::new(integrations, auth.clone()));
    let member_api = MemberServiceServer::new(MemberApi::new(members, auth.clone()));
    let token_api = TokenServiceServer::new(TokenApi::new(projects, auth));
    // Explicit on both ends (the agent's client uses the same bound): a larger message is
    // refused with OUT_OF_RANGE, which the session logs and ends with.
    let agents = AgentGatewayServer::new(GatewayService::new(gateway, leadership))
        .max_decoding_message_size(MAX_GATEWAY_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GATEWAY_MESSAGE_BYTES);
    // The agent gateway's status is the leadership's to set.
    reporter
        .set_serving::<MonitorServiceServer<AdminService>>()
        .await;
    reporter
        .set_serving::<DeliveryServiceServer<DeliveryApi>>()
        .await;
    reporter
        .set_serving::<ProjectServiceServer<ProjectApi>>()
        .await;
    reporter
        .set_serving::<IncidentServiceServer<IncidentApi>>()
        .await;
    reporter.set_serving::<TokenServiceServer<TokenApi>>().await;
    reporter
        .set_serving::<IntegrationServiceServer<IntegrationApi>>()
        .await;
    reporter
        .set_serving::<VariableServiceServer<VariableApi>>()
        .await;
    reporter
        .set_serving::<MemberServiceServer<MemberApi>>()
        .await;
    reporter.set_serving::<AgentServiceServer<AgentApi>>().await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(lookout_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let addr = listener
        .local_addr()
        .map_err(|e| CoordinatorError::Io(e.to_string()))?;
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        server = tls::apply(server, tls).await?;
    }
    tracing::info!(%addr, tls = config.tls.is_some(), "coordinator listening");
    let rest_stop = stop.clone();
    let leader_stop = stop.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("coordinator shutting down");
        stop.cancel();
    };
    let grpc = server
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(admin)
        .add_service(delivery_api)
        .add_service(incident_api)
        .add_service(project_api)
        .add_service(token_api)
        .add_service(integration_api)
        .add_service(variable_api)
        .add_service(member_api)
        .add_service(agent_api)
        .add_service(agents)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);
    let grpc = async move {
        let served = grpc.await;
        rest_stop.cancel();
        served
    };
    let outcome = match rest {
        None => grpc.await.map_err(CoordinatorError::from),
        Some(rest) => {
            let (grpc, rest) = tokio::join!(grpc, rest.into_future());
            grpc.map_err(CoordinatorError::from)
                .and_then(|()| rest.map_err(|e| CoordinatorError::Io(format!("REST API: {e}"))))
        }
    };
    // Every session has published what it accepted: the next leader may take over now.
    leader_stop.cancel();
    if let Ok(mut lock) = leader_task.await {
        lock.release().await;
    }
    outcome
}
