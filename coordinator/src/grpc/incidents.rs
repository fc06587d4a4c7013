//! `lookout.v1.IncidentService`: incidents over the incident domain. Each call is
//! authenticated first and sees only the project of its token; acknowledge and resolve name
//! the token as their actor.

use std::sync::Arc;

use lookout_proto::v1::incident_service_server::IncidentService;
use lookout_proto::v1::{
    AcknowledgeIncidentRequest, GetIncidentRequest, Incident, ListIncidentsRequest,
    ListIncidentsResponse, ResolveIncidentRequest,
};
use lookout_store::notifier::IncidentActionKind;
use tonic::{Request, Response, Status};

use crate::auth::AdminAuth;
use crate::incidents::IncidentDomain;

pub struct IncidentApi {
    domain: Arc<IncidentDomain>,
    auth: Arc<AdminAuth>,
}

impl IncidentApi {
    pub fn new(domain: Arc<IncidentDomain>, auth: Arc<AdminAuth>) -> IncidentApi {
        IncidentApi { domain, auth }
    }
}

#[tonic::async_trait]
impl IncidentService for IncidentApi {
    async fn list_incidents(
        &self,
        req: Request<ListIncidentsRequest>,
    ) -> Result<Response<ListIncidentsResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let r = req.into_inner();
        let (incidents, next_page_token) = self
            .domain
            .list(&project, r.state, &r.monitor_id, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(ListIncidentsResponse {
            incidents,
            next_page_token,
        }))
    }

    async fn get_incident(
        &self,
        req: Request<GetIncidentRequest>,
    ) -> Result<Response<Incident>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(
            self.domain.get(&project, &req.into_inner().id).await?,
        ))
    }

    async fn acknowledge_incident(
        &self,
        req: Request<AcknowledgeIncidentRequest>,
    ) -> Result<Response<Incident>, Status> {
        let actor = self.auth.actor(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(
            self.domain
                .act(&actor, &r.id, IncidentActionKind::Ack, &r.note)
                .await?,
        ))
    }

    async fn resolve_incident(
        &self,
        req: Request<ResolveIncidentRequest>,
    ) -> Result<Response<Incident>, Status> {
        let actor = self.auth.actor(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(
            self.domain
                .act(&actor, &r.id, IncidentActionKind::Resolve, &r.note)
                .await?,
        ))
    }
}
