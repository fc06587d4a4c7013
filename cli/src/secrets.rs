//! `lookout secrets rotate`: re-seals every stored secret under the current key, with the
//! coordinator's configuration (`store_url`, `secret_key_file`, `LOOKOUT_*` overrides) or a
//! standalone one (whose key may be the file beside its database).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use lookout_coordinator::CoordinatorConfig;
use lookout_store::{Keyring, Store};

#[derive(Subcommand)]
pub enum SecretsCmd {
    /// Re-seal every row not sealed with the current (first) key; afterwards the older keys
    /// can be removed from LOOKOUT_SECRET_KEY or secret_key_file. Safe to run again.
    Rotate {
        /// The coordinator's YAML configuration; `LOOKOUT_*` variables override it.
        #[arg(long, env = "LOOKOUT_CONFIG", conflicts_with = "standalone")]
        config: Option<PathBuf>,
        /// A `lookout standalone` configuration instead (stop standalone first).
        #[arg(long)]
        standalone: Option<PathBuf>,
    },
}

pub async fn run(cmd: SecretsCmd) -> Result<()> {
    match cmd {
        SecretsCmd::Rotate { config, standalone } => {
            let (store_url, keyring) = match standalone {
                Some(path) => {
                    let config = crate::standalone::load(&path)?;
                    let (keyring, _) = crate::secret_key::standalone_keyring(
                        &config.store_url,
                        config.secret_key_file.as_deref(),
                    )?;
                    (config.store_url, keyring)
                }
                None => {
                    let config = CoordinatorConfig::load(config.as_deref())?;
                    let keyring = Keyring::from_process(config.secret_key_file.as_deref())
                        .context("secret key")?;
                    (config.store_url, keyring)
                }
            };
            let current = keyring.current_id().to_string();
            let store = Store::open(&store_url, keyring)
                .await
                .context("opening the store")?;
            let n = store.rotate_secrets().await.context("re-sealing")?;
            store.close().await;
            println!("re-sealed {n} rows under key {current:?}");
            Ok(())
        }
    }
}
