//! The Lookout coordinator: admin API over the monitor store, the agent gateway that assigns
//! (monitor, region) pairs to connected agents, and the bridge from agent result batches to
//! the result bus. `main.rs` wires it to Kafka; `lookout standalone` and tests call [`serve`].

pub mod assign;
pub mod auth;
pub mod chunk;
pub mod config;
pub mod error;
mod grpc;
pub mod hub;
pub mod monitors;
pub mod session;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lookout_bus::ResultPublisher;
use lookout_proto::v1::agent_gateway_server::AgentGatewayServer;
use lookout_proto::v1::monitor_service_server::MonitorServiceServer;
use lookout_store::Store;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

pub use config::{ConfigError, CoordinatorConfig, Secret};
pub use error::{CoordinatorError, DomainError};
pub use monitors::apply_declared_monitors;

use auth::{AgentTokens, ProjectTokens};
use grpc::admin::AdminService;
use grpc::gateway::GatewayService;
use hub::Hub;
use monitors::MonitorDomain;
use session::Gateway;

/// Serves the admin API, the agent gateway, gRPC health and reflection on `listener` until `shutdown`
/// resolves; then open agent sessions end with UNAVAILABLE and the server drains.
/// The configuration is validated first.
pub async fn serve(
    config: CoordinatorConfig,
    store: Store,
    publisher: Arc<dyn ResultPublisher>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CoordinatorError> {
    config.validate()?;
    let regions: Arc<[String]> = config.regions.clone().into();
    let hub = Arc::new(Hub::load(store.clone()).await?);
    let stop = CancellationToken::new();
    let domain = Arc::new(MonitorDomain::new(store, regions.clone(), hub.clone()));
    let heartbeat = Duration::from_millis(u64::from(config.heartbeat_interval_ms.max(1)));
    let gateway = Arc::new(Gateway::new(
        hub,
        AgentTokens::new(&config.agent_tokens),
        regions,
        publisher,
        heartbeat,
        stop.clone(),
    ));

    let project_tokens = ProjectTokens::new(&config.project_tokens);
    // Sized for the largest ListMonitors response; requests hold one bounded monitor.
    let admin = MonitorServiceServer::new(AdminService::new(domain))
        .max_encoding_message_size(lookout_proto::validate::MAX_ADMIN_MESSAGE_BYTES);
    let admin = tonic::service::interceptor::InterceptedService::new(
        admin,
        move |req: tonic::Request<()>| {
            project_tokens.check(req.metadata())?;
            Ok(req)
        },
    );
    let agents = AgentGatewayServer::new(GatewayService::new(gateway));
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<MonitorServiceServer<AdminService>>()
        .await;
    reporter
        .set_serving::<AgentGatewayServer<GatewayService>>()
        .await;

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
    tracing::info!(%addr, "coordinator listening");
    let signal = async move {
        shutdown.await;
        tracing::info!("coordinator shutting down");
        stop.cancel();
    };
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(admin)
        .add_service(agents)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal)
        .await?;
    Ok(())
}
