//! Destination policy: unless private destinations are allowed, webhooks may only reach public
//! addresses. Names are checked where they are resolved (reqwest's resolver hook), so a name
//! cannot pass a check and then connect somewhere else (DNS rebinding).

use std::io;
use std::net::SocketAddr;

pub use lookout_proto::address::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Refusal of a destination that is loopback, private, link-local or otherwise not public.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not a public address (set delivery.allow_private_destinations to allow it)")]
pub struct PrivateDestination(pub String);

/// Resolves with the system resolver and keeps only public addresses.
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = if all.is_empty() {
                    Box::new(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{host} has no address"),
                    ))
                } else {
                    Box::new(PrivateDestination(host))
                };
                return Err(err);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolver_refuses_names_of_local_addresses() {
        let name: Name = "localhost".parse().expect("valid name");
        let err = PublicOnlyResolver
            .resolve(name)
            .await
            .err()
            .expect("localhost is refused");
        assert!(err.downcast_ref::<PrivateDestination>().is_some(), "{err}");
    }
}
