//! `lookout.v1.AgentService` (operator tokens): the registry of connected agents: the
//! leader's own, or on another replica the one the leader last published in the store (at
//! most a few seconds old).

use std::sync::Arc;

use lookout_proto::v1::agent_service_server::AgentService;
use lookout_proto::v1::{ListAgentsRequest, ListAgentsResponse};
use tonic::{Request, Response, Status};

use crate::DomainError;
use crate::auth::AdminAuth;
use crate::error::field_error;
use crate::hub::Hub;
use lookout_store::Store;

/// Longest region name a request may name (the configuration's own bound on region names).
const MAX_REGION_BYTES: usize = 64;

pub struct AgentApi {
    hub: Arc<Hub>,
    store: Store,
    auth: Arc<AdminAuth>,
}

impl AgentApi {
    pub fn new(hub: Arc<Hub>, store: Store, auth: Arc<AdminAuth>) -> AgentApi {
        AgentApi { hub, store, auth }
    }
}

#[tonic::async_trait]
impl AgentService for AgentApi {
    async fn list_agents(
        &self,
        req: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        self.auth.operator(req.metadata()).await?;
        let region = req.into_inner().region;
        if region.len() > MAX_REGION_BYTES {
            let reason = format!("is {} bytes, at most {MAX_REGION_BYTES}", region.len());
            return Err(DomainError::from(field_error("region", reason)).into());
        }
        let agents = if self.hub.epoch().await.is_some() {
            self.hub.agents(&region).await
        } else {
            let (agents, _) = self
                .store
                .published_agents(&region)
                .await
                .map_err(DomainError::from)?;
            agents
        };
        Ok(Response::new(ListAgentsResponse { agents }))
    }
}
