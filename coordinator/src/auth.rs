//! Bearer-token checks: tokens are kept only as SHA-256 hashes and compared in constant time.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AgentToken, Secret};
use crate::error::DomainError;

type Hash = [u8; 32];

fn hash(token: &str) -> Hash {
    Sha256::digest(token.as_bytes()).into()
}

/// The bearer token of a request's `authorization` metadata, if present and well-formed.
pub fn bearer(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Project tokens accepted by the admin API.
#[derive(Clone)]
pub struct ProjectTokens {
    hashes: Vec<Hash>,
}

impl ProjectTokens {
    pub fn new(tokens: &[Secret]) -> ProjectTokens {
        ProjectTokens {
            hashes: tokens.iter().map(|t| hash(t.expose())).collect(),
        }
    }

    /// Accepts a request whose bearer token is one of the project tokens.
    pub fn check(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), DomainError> {
        let given = hash(bearer(metadata).ok_or(DomainError::Unauthenticated)?);
        // Compare against every token so the time taken does not reveal which one matched.
        let matched = self
            .hashes
            .iter()
            .fold(0u8, |acc, h| acc | h.ct_eq(&given).unwrap_u8());
        if matched == 1 {
            Ok(())
        } else {
            Err(DomainError::Unauthenticated)
        }
    }
}

/// The token of each agent and the region it is bound to, by agent id.
#[derive(Clone)]
pub struct AgentTokens {
    agents: HashMap<String, (Hash, String)>,
}

impl AgentTokens {
    pub fn new<'a>(tokens: impl IntoIterator<Item = (&'a String, &'a AgentToken)>) -> AgentTokens {
        AgentTokens {
            agents: tokens
                .into_iter()
                .map(|(id, t)| (id.clone(), (hash(t.token.expose()), t.region.clone())))
                .collect(),
        }
    }

    /// Accepts `token` only if it is the token configured for `agent_id`; returns the region
    /// the token is bound to.
    pub fn check(&self, agent_id: &str, token: Option<&str>) -> Result<&str, DomainError> {
        let given = hash(token.ok_or(DomainError::Unauthenticated)?);
        // An unknown agent id still costs one comparison, against a hash nobody knows the input of.
        let (expected, bound) = self
            .agents
            .get(agent_id)
            .map_or(([0xff; 32], None), |(h, r)| (*h, Some(r)));
        bound
            .filter(|_| bool::from(expected.ct_eq(&given)))
            .map(String::as_str)
            .ok_or(DomainError::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataMap;

    fn md(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().expect("ascii"));
        m
    }

    #[test]
    fn project_tokens() {
        let t = ProjectTokens::new(&[Secret::new("one"), Secret::new("two")]);
        assert!(t.check(&md("Bearer two")).is_ok());
        assert!(t.check(&md("bearer one")).is_ok());
        assert!(t.check(&md("Bearer three")).is_err());
        assert!(t.check(&md("Basic two")).is_err());
        assert!(t.check(&md("Bearer ")).is_err());
        assert!(t.check(&MetadataMap::new()).is_err());
    }

    #[test]
    fn agent_tokens() {
        let token = |region: &str, t: &str| AgentToken {
            region: region.into(),
            token: Secret::new(t),
        };
        let cfg = [
            ("a".to_string(), token("eu", "ta")),
            ("b".to_string(), token("us", "tb")),
        ];
        let t = AgentTokens::new(cfg.iter().map(|(k, v)| (k, v)));
        assert_eq!(t.check("a", Some("ta")).expect("a's token"), "eu");
        assert_eq!(t.check("b", Some("tb")).expect("b's token"), "us");
        assert!(t.check("a", Some("tb")).is_err());
        assert!(t.check("c", Some("ta")).is_err());
        assert!(t.check("a", None).is_err());
    }
}
