//! A whole Lookout cluster on loopback: the coordinator, one agent per region and the
//! notifier as separate processes, on a fresh topic and consumer group of the shared broker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lookout_bus::{KafkaConfig, KafkaConsumer, ResultConsumer};
use lookout_proto::CheckResult;
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_store::testing::TestDb;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::procs::{Proc, free_port};
use crate::{kafka_brokers, unique};

pub const PROJECT_TOKEN: &str = "test-project-token";
/// `operator_tokens` of the cluster's coordinator.
pub const OPERATOR_TOKEN: &str = "test-operator-token";

pub struct Cluster {
    pub grpc_port: u16,
    /// `kafka.brokers` of every process.
    pub brokers: String,
    /// The coordinator's and the notifier's database (SQLite or PostgreSQL).
    store_url: String,
    pub topic: String,
    pub group: String,
    pub regions: Vec<String>,
    /// `kafka.properties` of the coordinator (see [`Cluster::with_producer_property`]).
    producer_properties: Vec<(String, String)>,
    pub coordinator: Option<Proc>,
    pub agents: BTreeMap<String, Proc>,
    pub notifier: Option<Proc>,
    /// Last, so the processes (which print their logs on a failure) are dropped before it.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Writes the configuration files for a cluster on `db` (which must outlive it); starts
    /// nothing.
    pub fn new(db: &TestDb, regions: &[&str]) -> Cluster {
        Cluster::on_broker(db, regions, &kafka_brokers())
    }

    /// [`Cluster::new`] on the broker at `brokers` (a test's own [`crate::broker::Broker`]).
    pub fn on_broker(db: &TestDb, regions: &[&str], brokers: &str) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster = Cluster {
            grpc_port: free_port(),
            brokers: brokers.to_string(),
            store_url: db.url.clone(),
            topic: unique("lookout.results.test"),
            group: unique("lookout-notifier-test"),
            regions: regions.iter().map(|r| r.to_string()).collect(),
            producer_properties: Vec::new(),
            dir,
            coordinator: None,
            agents: BTreeMap::new(),
            notifier: None,
        };
        // The test database's own key, so the test can read what the processes stored.
        write(&cluster.key_file(), &format!("{}\n", db.key));
        cluster.write_configs();
        cluster
    }

    /// Sets librdkafka property `key` of the coordinator's producer (`kafka.properties`).
    pub fn with_producer_property(mut self, key: &str, value: &str) -> Cluster {
        self.producer_properties
            .push((key.to_string(), value.to_string()));
        self.write_configs();
        self
    }

    /// The key file both the coordinator and the notifier seal secrets with.
    pub fn key_file(&self) -> PathBuf {
        self.path().join("lookout.key")
    }

    /// The keys of the cluster's store, to open it from the test.
    pub fn keyring(&self) -> lookout_store::Keyring {
        lookout_store::Keyring::read(&self.key_file()).expect("cluster key file")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    pub fn store_url(&self) -> String {
        self.store_url.clone()
    }

    /// The coordinator's configuration, serving gRPC on `port`.
    fn coordinator_yaml(&self, port: u16) -> String {
        let tokens: String = self
            .regions
            .iter()
            // A spare agent per region (`agent-<region>-b`), for tests that move monitors.
            .map(|r| {
                format!(
                    "  agent-{r}: {{region: {r}, token: agent-token-{r}}}\n  agent-{r}-b: {{region: {r}, token: agent-token-{r}-b}}\n"
                )
            })
            .collect();
        format!(
            "grpc_addr: 127.0.0.1:{port}\nregions: [{regions}]\nproject_tokens: [{PROJECT_TOKEN}]\noperator_tokens: [{OPERATOR_TOKEN}]\n\
             agent_tokens:\n{tokens}heartbeat_interval_ms: 1000\nstore_url: {store}\n\
             kafka:\n  brokers: {brokers}\n  topic: {topic}\n  partitions: 3\n{properties}secret_key_file: {key}\n",
            brokers = self.brokers,
            properties = if self.producer_properties.is_empty() {
                String::new()
            } else {
                let p: Vec<String> = self
                    .producer_properties
                    .iter()
                    .map(|(k, v)| format!("{k}: {v:?}"))
                    .collect();
                format!("  properties: {{{}}}\n", p.join(", "))
            },
            key = self.key_file().display(),
            regions = self.regions.join(", "),
            store = self.store_url(),
            topic = self.topic,
        )
    }

    /// Starts coordinator replica `name` on `port`, beside any other on the same store (which
    /// must be PostgreSQL for more than one); `lease_ms` is its `leader_lease_ms`.
    pub fn start_replica(&mut self, name: &str, port: u16, lease_ms: u32) -> Proc {
        let config = format!(
            "{}advertise_url: http://127.0.0.1:{port}\ninstance_id: {name}\nleader_lease_ms: {lease_ms}\n",
            self.coordinator_yaml(port)
        );
        let path = self.path().join(format!("{name}.yaml"));
        write(&path, &config);
        Proc::start(
            name,
            "lookout-coordinator",
            &["--config", &path.display().to_string()],
            &[],
            self.dir.path(),
        )
    }

    /// Starts agent `id` of `region` (see [`Cluster::start_agent_as`]) given every URL of
    /// `urls` (replicas), the first as `coordinator_url`, the others as `coordinator_urls`.
    pub fn start_agent_with(&mut self, id: &str, region: &str, urls: &[String]) {
        let token = format!("agent-token-{}", id.trim_start_matches("agent-"));
        let others = match &urls[1..] {
            [] => String::new(),
            rest => format!("coordinator_urls: [{}]\n", rest.join(", ")),
        };
        let agent = format!(
            "coordinator_url: {first}\n{others}agent_id: {id}\nregion: {region}\ntoken: {token}\nbatch_linger_ms: 100\nallow_private_targets: true\n",
            first = urls[0],
        );
        let path = self.path().join(format!("{id}.yaml"));
        write(&path, &agent);
        let p = Proc::start(
            id,
            "lookout-agent",
            &["--config", &path.display().to_string()],
            &[],
            self.dir.path(),
        );
        self.agents.insert(id.to_string(), p);
    }

    fn write_configs(&self) {
        let brokers = &self.brokers;
        let coordinator = self.coordinator_yaml(self.grpc_port);
        write(&self.path().join("coordinator.yaml"), &coordinator);
        for r in &self.regions {
            let agent = format!(
                "coordinator_url: {addr}\nagent_id: agent-{r}\nregion: {r}\ntoken: agent-token-{r}\nbatch_linger_ms: 100\nallow_private_targets: true\n",
                addr = self.addr()
            );
            write(&self.path().join(format!("agent-{r}.yaml")), &agent);
        }
        let notifier = format!(
            "store_url: {store}\nkafka:\n  brokers: {brokers}\n  topic: {topic}\n  group_id: {group}\n  instance_id: notifier-1\n\
             delivery:\n  allow_private_destinations: true\n  backoff_base_ms: 200\n  backoff_max_ms: 2000\n  timeout_ms: 5000\n\
             secret_key_file: {key}\n",
            key = self.key_file().display(),
            store = self.store_url(),
            topic = self.topic,
            group = self.group,
        );
        write(&self.path().join("notifier.yaml"), &notifier);
    }

    pub fn start_coordinator(&mut self) {
        let config = self.config("coordinator.yaml");
        self.coordinator = Some(Proc::start(
            "coordinator",
            "lookout-coordinator",
            &["--config", &config],
            &[],
            self.dir.path(),
        ));
    }

    pub fn start_agent(&mut self, region: &str) {
        let config = self.config(&format!("agent-{region}.yaml"));
        let p = Proc::start(
            &format!("agent-{region}"),
            "lookout-agent",
            &["--config", &config],
            &[],
            self.dir.path(),
        );
        self.agents.insert(region.to_string(), p);
    }

    /// Starts agent `id` (`agent-<region>` or the spare `agent-<region>-b`) in `region`,
    /// reaching the coordinator at `coordinator_url` (a proxy in front of it, say).
    pub fn start_agent_as(&mut self, id: &str, region: &str, coordinator_url: &str) {
        self.start_agent_with(id, region, &[coordinator_url.to_string()]);
    }

    pub fn start_notifier(&mut self) {
        let config = self.config("notifier.yaml");
        self.notifier = Some(Proc::start(
            "notifier",
            "lookout-notifier",
            &["--config", &config],
            &[],
            self.dir.path(),
        ));
    }

    /// Coordinator, every agent, notifier.
    pub fn start_all(&mut self) {
        self.start_coordinator();
        for r in self.regions.clone() {
            self.start_agent(&r);
        }
        self.start_notifier();
    }

    fn config(&self, name: &str) -> String {
        self.path().join(name).display().to_string()
    }

    /// An admin client authenticated with `token`, once the coordinator accepts connections.
    pub async fn admin_with(
        &self,
        token: &str,
    ) -> MonitorServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>
    {
        let channel = self.channel().await;
        let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("ascii token");
        MonitorServiceClient::with_interceptor(channel, Bearer(value))
    }

    pub async fn admin(
        &self,
    ) -> MonitorServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>
    {
        self.admin_with(PROJECT_TOKEN).await
    }

    /// A channel to the coordinator, once it accepts connections.
    pub async fn channel(&self) -> Channel {
        let addr = self.addr();
        crate::eventually(
            std::time::Duration::from_secs(60),
            "the coordinator to accept connections",
            || {
                let addr = addr.clone();
                async move { Channel::from_shared(addr).ok()?.connect().await.ok() }
            },
        )
        .await
    }

    /// Creates a webhook integration posting the native body to `url`, signed with `secret`
    /// (`lookout` scheme), through the admin API; returns its id.
    pub async fn create_webhook(&self, url: &str, secret: &str) -> String {
        use lookout_proto::v1::integration::Kind;
        use lookout_proto::v1::integration_service_client::IntegrationServiceClient;
        use lookout_proto::v1::{CreateIntegrationRequest, Integration, WebhookIntegration};
        let value: MetadataValue<_> = format!("Bearer {PROJECT_TOKEN}").parse().expect("ascii");
        let mut api =
            IntegrationServiceClient::with_interceptor(self.channel().await, Bearer(value));
        let request = CreateIntegrationRequest {
            integration: Some(Integration {
                kind: Some(Kind::Webhook(WebhookIntegration {
                    url: url.into(),
                    secret: secret.into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        };
        api.create_integration(request)
            .await
            .expect("create integration")
            .into_inner()
            .id
    }

    /// Creates `monitor` through the admin API and returns it as stored. Webhooks written in
    /// `monitor.webhooks` (a test's shorthand; the API refuses that field) are first created as
    /// webhook integrations and attached by id.
    pub async fn create_monitor(
        &self,
        mut monitor: lookout_proto::Monitor,
    ) -> lookout_proto::Monitor {
        for w in std::mem::take(&mut monitor.webhooks) {
            let id = self.create_webhook(&w.url, &w.secret).await;
            monitor.integration_ids.push(id);
        }
        let request = lookout_proto::v1::CreateMonitorRequest {
            monitor: Some(monitor),
        };
        self.admin()
            .await
            .create_monitor(request)
            .await
            .expect("create monitor")
            .into_inner()
    }

    /// Reads the cluster's topic from the start, in the background, into a shared list.
    pub fn watch_results(&self) -> ResultLog {
        let config = KafkaConfig {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            group_id: unique("lookout-test-reader"),
            partitions: 3,
            ..KafkaConfig::default()
        };
        let log = ResultLog::default();
        let sink = log.0.clone();
        tokio::spawn(async move {
            // Subscribing to a topic that does not exist yet would wait for a metadata refresh.
            lookout_bus::ensure_topic(&config)
                .await
                .expect("create the results topic");
            let mut consumer = KafkaConsumer::new(&config).expect("a Kafka consumer");
            while let Ok(batch) = consumer.poll(1000).await {
                sink.lock()
                    .expect("log lock")
                    .extend(batch.into_iter().map(|r| r.result));
            }
        });
        log
    }
}

/// Results read from Kafka so far.
#[derive(Clone, Default)]
pub struct ResultLog(Arc<Mutex<Vec<CheckResult>>>);

impl ResultLog {
    pub fn all(&self) -> Vec<CheckResult> {
        self.0.lock().expect("log lock").clone()
    }

    /// Results of `monitor_id` in `region`, in log order.
    pub fn of(&self, monitor_id: &str, region: &str) -> Vec<CheckResult> {
        self.all()
            .into_iter()
            .filter(|r| r.monitor_id == monitor_id && r.region == region)
            .collect()
    }
}

#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl Bearer {
    /// `authorization: Bearer <token>` on every call.
    pub fn new(token: &str) -> Bearer {
        Bearer(format!("Bearer {token}").parse().expect("ascii token"))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

fn write(path: &PathBuf, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
