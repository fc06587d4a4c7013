//! How the admin client reaches the coordinator: `http://` in the clear, `https://` with the
//! system roots plus an optional private CA, and a client certificate where mTLS is required.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

#[derive(Args)]
pub struct TlsArgs {
    /// PEM file with a private CA trusted for an https:// coordinator (the system roots stay
    /// trusted).
    #[arg(long, env = "LOOKOUT_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a coordinator that requires one (mTLS).
    #[arg(
        long,
        env = "LOOKOUT_CLIENT_CERT_FILE",
        global = true,
        requires = "client_key_file"
    )]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(
        long,
        env = "LOOKOUT_CLIENT_KEY_FILE",
        global = true,
        requires = "client_cert_file"
    )]
    pub client_key_file: Option<PathBuf>,
}

/// Connects to `addr`; the error names the address and, through its causes, why.
pub async fn channel(addr: &str, tls: &TlsArgs) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(addr.to_string())
        .with_context(|| format!("--addr {addr:?} is not a valid URI"))?;
    let endpoint = if addr.starts_with("https://") {
        let mut config = ClientTlsConfig::new().with_native_roots();
        if let Some(path) = &tls.ca_file {
            config = config.ca_certificate(Certificate::from_pem(read("--ca-file", path)?));
        }
        if let (Some(cert), Some(key)) = (&tls.client_cert_file, &tls.client_key_file) {
            config = config.identity(Identity::from_pem(
                read("--client-cert-file", cert)?,
                read("--client-key-file", key)?,
            ));
        }
        endpoint
            .tls_config(config)
            .context("TLS settings for the coordinator")?
    } else if tls.ca_file.is_some() || tls.client_cert_file.is_some() {
        bail!("--ca-file and --client-cert-file need an https:// --addr (got {addr:?})");
    } else {
        endpoint
    };
    endpoint
        .connect()
        .await
        .with_context(|| format!("cannot reach the coordinator at {addr}"))
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag}: cannot read {}", path.display()))
}
