//! Bearer-token checks: tokens are kept only as SHA-256 hashes; configured ones are compared in
//! constant time, created project tokens are found by hash in the store.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use lookout_store::Store;
use lookout_store::projects::DEFAULT_PROJECT_ID;

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

/// Who an admin request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An operator token from the coordinator's config: manages projects.
    Operator,
    /// A token of this project (from the store, or a configured `project_tokens` entry of the
    /// default project).
    Project(String),
}

/// The project token behind a request: its project and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub project: String,
    pub name: String,
}

/// The admin API's bearer tokens: operator and configured project tokens hashed in memory,
/// created project tokens looked up by hash in the store on every request.
#[derive(Clone)]
pub struct AdminAuth {
    operators: Vec<Hash>,
    configured: Vec<Hash>,
    store: Store,
}

/// Whether `given` is one of `hashes`, comparing against every one so the time taken does not
/// reveal which matched.
fn any_matches(hashes: &[Hash], given: &Hash) -> bool {
    hashes
        .iter()
        .fold(0u8, |acc, h| acc | h.ct_eq(given).unwrap_u8())
        == 1
}

impl AdminAuth {
    pub fn new(operators: &[Secret], configured: &[Secret], store: Store) -> AdminAuth {
        let hashes = |ts: &[Secret]| ts.iter().map(|t| hash(t.expose())).collect();
        AdminAuth {
            operators: hashes(operators),
            configured: hashes(configured),
            store,
        }
    }

    /// The caller behind the request's bearer token.
    pub async fn caller(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Caller, DomainError> {
        let given = hash(bearer(metadata).ok_or(DomainError::Unauthenticated)?);
        if any_matches(&self.operators, &given) {
            return Ok(Caller::Operator);
        }
        if any_matches(&self.configured, &given) {
            return Ok(Caller::Project(DEFAULT_PROJECT_ID.to_string()));
        }
        // Created tokens are 256 random bits, so a fast hash suffices (nothing to brute-force)
        // and an equality lookup on it leaks nothing useful about other tokens. Looked up on
        // every request, never cached: a revocation takes effect on the next call.
        match self.store.project_of_token(&given).await? {
            Some(project) => Ok(Caller::Project(project)),
            None => Err(DomainError::Unauthenticated),
        }
    }

    /// The project of a request that must come from a project token.
    pub async fn project(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<String, DomainError> {
        match self.caller(metadata).await? {
            Caller::Project(p) => Ok(p),
            Caller::Operator => Err(DomainError::PermissionDenied(
                "an operator token manages projects; use a project token for this call".into(),
            )),
        }
    }

    /// The project and name of the token behind a request that must come from a project
    /// token, for records that name who acted. A created token is named as created; a
    /// configured one by its place in the config (`project_tokens[1]`), never by its value.
    pub async fn actor(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Actor, DomainError> {
        let given = hash(bearer(metadata).ok_or(DomainError::Unauthenticated)?);
        if any_matches(&self.operators, &given) {
            // Same refusal as `project`.
            return self.project(metadata).await.map(|project| Actor {
                project,
                name: String::new(),
            });
        }
        // Every configured hash is compared, as in `any_matches`.
        let matched: Vec<bool> = self
            .configured
            .iter()
            .map(|h| bool::from(h.ct_eq(&given)))
            .collect();
        if let Some(i) = matched.iter().position(|m| *m) {
            return Ok(Actor {
                project: DEFAULT_PROJECT_ID.to_string(),
                name: format!("project_tokens[{i}]"),
            });
        }
        match self.store.token_by_hash(&given).await? {
            Some(t) => Ok(Actor {
                project: t.project_id,
                name: t.name,
            }),
            None => Err(DomainError::Unauthenticated),
        }
    }

    /// Accepts only an operator token.
    pub async fn operator(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<(), DomainError> {
        match self.caller(metadata).await? {
            Caller::Operator => Ok(()),
            Caller::Project(_) => Err(DomainError::PermissionDenied(
                "this call needs an operator token (operator_tokens in the coordinator's config)"
                    .into(),
            )),
        }
    }
}

/// SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> [u8; 32] {
    hash(token)
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

    #[tokio::test]
    async fn admin_tokens() {
        let store = Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("store");
        let t = AdminAuth::new(
            &[Secret::new("op")],
            &[Secret::new("one"), Secret::new("two")],
            store,
        );
        let default = Caller::Project(DEFAULT_PROJECT_ID.into());
        assert_eq!(t.caller(&md("Bearer two")).await.expect("two"), default);
        assert_eq!(t.caller(&md("bearer one")).await.expect("one"), default);
        assert_eq!(
            t.caller(&md("Bearer op")).await.expect("op"),
            Caller::Operator
        );
        assert!(t.project(&md("Bearer op")).await.is_err());
        assert!(t.operator(&md("Bearer one")).await.is_err());
        for bad in ["Bearer three", "Basic two", "Bearer "] {
            assert!(t.caller(&md(bad)).await.is_err(), "{bad}");
        }
        assert!(t.caller(&MetadataMap::new()).await.is_err());
        let second = t.actor(&md("Bearer two")).await.expect("two");
        assert_eq!(second.name, "project_tokens[1]");
        assert_eq!(second.project, DEFAULT_PROJECT_ID);
        assert!(t.actor(&md("Bearer op")).await.is_err());
        assert!(t.actor(&md("Bearer three")).await.is_err());
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
