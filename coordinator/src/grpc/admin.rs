//! `lookout.v1.MonitorService`: the admin API over the monitor domain. Each call is
//! authenticated first and acts only on the project of its token.

use std::sync::Arc;

use lookout_proto::v1::monitor_service_server::MonitorService;
use lookout_proto::v1::{
    AttachIntegrationRequest, CreateMonitorRequest, DeleteMonitorRequest, DeleteMonitorResponse,
    DetachIntegrationRequest, GetMonitorRequest, ListMonitorIntegrationsRequest,
    ListMonitorIntegrationsResponse, ListMonitorsRequest, ListMonitorsResponse, Monitor,
    PauseMonitorRequest, UpdateMonitorRequest,
};
use tonic::{Request, Response, Status};

use crate::auth::AdminAuth;
use crate::monitors::MonitorDomain;

pub struct AdminService {
    domain: Arc<MonitorDomain>,
    auth: Arc<AdminAuth>,
}

impl AdminService {
    pub fn new(domain: Arc<MonitorDomain>, auth: Arc<AdminAuth>) -> AdminService {
        AdminService { domain, auth }
    }
}

#[tonic::async_trait]
impl MonitorService for AdminService {
    async fn create_monitor(
        &self,
        req: Request<CreateMonitorRequest>,
    ) -> Result<Response<Monitor>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(
            self.domain
                .create(&project, req.into_inner().monitor)
                .await?,
        ))
    }

    async fn get_monitor(
        &self,
        req: Request<GetMonitorRequest>,
    ) -> Result<Response<Monitor>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(
            self.domain.get(&project, &req.into_inner().id).await?,
        ))
    }

    async fn list_monitors(
        &self,
        req: Request<ListMonitorsRequest>,
    ) -> Result<Response<ListMonitorsResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let r = req.into_inner();
        let (monitors, next_page_token) = self
            .domain
            .list(&project, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(ListMonitorsResponse {
            monitors,
            next_page_token,
        }))
    }

    async fn update_monitor(
        &self,
        req: Request<UpdateMonitorRequest>,
    ) -> Result<Response<Monitor>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(
            self.domain
                .update(&project, req.into_inner().monitor)
                .await?,
        ))
    }

    async fn delete_monitor(
        &self,
        req: Request<DeleteMonitorRequest>,
    ) -> Result<Response<DeleteMonitorResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        self.domain.delete(&project, &req.into_inner().id).await?;
        Ok(Response::new(DeleteMonitorResponse {}))
    }

    async fn pause_monitor(
        &self,
        req: Request<PauseMonitorRequest>,
    ) -> Result<Response<Monitor>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let req = req.into_inner();
        Ok(Response::new(
            self.domain.pause(&project, &req.id, req.paused).await?,
        ))
    }

    async fn list_monitor_integrations(
        &self,
        req: Request<ListMonitorIntegrationsRequest>,
    ) -> Result<Response<ListMonitorIntegrationsResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let integrations = self
            .domain
            .integrations(&project, &req.into_inner().monitor_id)
            .await?;
        Ok(Response::new(ListMonitorIntegrationsResponse {
            integrations,
        }))
    }

    async fn attach_integration(
        &self,
        req: Request<AttachIntegrationRequest>,
    ) -> Result<Response<Monitor>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(
            self.domain
                .attach(&project, &r.monitor_id, &r.integration_id)
                .await?,
        ))
    }

    async fn detach_integration(
        &self,
        req: Request<DetachIntegrationRequest>,
    ) -> Result<Response<Monitor>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(
            self.domain
                .detach(&project, &r.monitor_id, &r.integration_id)
                .await?,
        ))
    }
}
