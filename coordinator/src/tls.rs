//! TLS on the coordinator's gRPC port: the server certificate and key, and the optional
//! client CA that makes every client (agents, the CLI) present a certificate (mTLS).

use std::path::Path;

use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::config::TlsConfig;
use crate::error::CoordinatorError;

/// Reads the configured files and applies them to `server`; errors name the field and file.
pub(crate) async fn apply(server: Server, tls: &TlsConfig) -> Result<Server, CoordinatorError> {
    let cert = read("tls.cert_file", &tls.cert_file).await?;
    let key = read("tls.key_file", &tls.key_file).await?;
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(path) = &tls.client_ca_file {
        let ca = read("tls.client_ca_file", path).await?;
        config = config.client_ca_root(Certificate::from_pem(ca));
    }
    server.tls_config(config).map_err(|e| {
        CoordinatorError::Tls(format!(
            "tls: cannot use certificate {} with key {}: {}",
            tls.cert_file.display(),
            tls.key_file.display(),
            lookout_runtime::causes(&e)
        ))
    })
}

async fn read(field: &str, path: &Path) -> Result<Vec<u8>, CoordinatorError> {
    tokio::fs::read(path)
        .await
        .map_err(|e| CoordinatorError::Tls(format!("{field}: cannot read {}: {e}", path.display())))
}
