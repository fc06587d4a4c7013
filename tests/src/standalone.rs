//! `lookout standalone` in a temporary directory: the config header every test shares (a SQLite
//! file, free ports for gRPC and REST, region `local`, a project token), the monitors a test adds, and the
//! process started, or restarted, on the same database.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::procs::{Proc, free_port};

pub struct Standalone {
    dir: TempDir,
    config: PathBuf,
    port: u16,
    rest_port: u16,
}

impl Standalone {
    /// Writes `lookout.yaml`: the shared header with project token `token`, then `body`
    /// (options and monitors, as YAML).
    pub fn new(token: &str, body: &str) -> Standalone {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let rest_port = free_port();
        let header = format!(
            "store_url: sqlite://{}\ngrpc_addr: 127.0.0.1:{port}\nrest_addr: 127.0.0.1:{rest_port}\n\
             region: local\nproject_token: {token}\n",
            dir.path().join("standalone.db").display()
        );
        let config = dir.path().join("lookout.yaml");
        std::fs::write(&config, header + body).expect("write config");
        Standalone {
            dir,
            config,
            port,
            rest_port,
        }
    }

    /// The folder holding the config, the database and each run's `<name>.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn store_url(&self) -> String {
        format!("sqlite://{}", self.dir().join("standalone.db").display())
    }

    /// The keys standalone created beside its database on its first start.
    pub fn keyring(&self) -> lookout_store::Keyring {
        lookout_store::Keyring::read(&self.dir().join("standalone.key")).expect("standalone key")
    }

    /// The admin API, for `LOOKOUT_ADDR` or a gRPC client.
    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The REST API's base URL (`http://127.0.0.1:<port>`).
    pub fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    /// Starts `lookout standalone` on the config; the log goes to `<name>.log`.
    pub fn start(&self, name: &str, env: &[(&str, &str)]) -> Proc {
        Proc::start(
            name,
            "lookout",
            &["standalone", "--config", &self.config.display().to_string()],
            env,
            self.dir(),
        )
    }
}

/// Webhooks to the test's loopback receiver, and the `shop` monitor: `url` checked every
/// second, down after two failures, notifying the webhook integration `hook` (to `hook`,
/// signed with `secret`, as written in the YAML, so `${VAR}` works).
pub fn shop_with_webhook(url: &str, hook: &str, secret: &str) -> String {
    format!(
        "allow_private_webhooks: true\nintegrations:\n  - id: hook\n    webhook:\n      url: {hook}\n\
         \x20     secret: {secret}\nmonitors:\n  - id: shop\n    name: Shop\n    regions: [local]\n\
         \x20   interval_secs: 1\n    failure_threshold: 2\n    http:\n      url: {url}\n\
         \x20   integration_ids: [hook]\n"
    )
}
