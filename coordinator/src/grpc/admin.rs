//! `lookout.v1.MonitorService`: the admin API over the monitor domain. Authentication is an
//! interceptor in front of it (see `serve`).

use std::sync::Arc;

use lookout_proto::v1::monitor_service_server::MonitorService;
use lookout_proto::v1::{
    CreateMonitorRequest, DeleteMonitorRequest, DeleteMonitorResponse, GetMonitorRequest,
    ListMonitorsRequest, ListMonitorsResponse, Monitor, PauseMonitorRequest, UpdateMonitorRequest,
};
use tonic::{Request, Response, Status};

use crate::monitors::MonitorDomain;

pub struct AdminService {
    domain: Arc<MonitorDomain>,
}

impl AdminService {
    pub fn new(domain: Arc<MonitorDomain>) -> AdminService {
        AdminService { domain }
    }
}

#[tonic::async_trait]
impl MonitorService for AdminService {
    async fn create_monitor(
        &self,
        req: Request<CreateMonitorRequest>,
    ) -> Result<Response<Monitor>, Status> {
        Ok(Response::new(
            self.domain.create(req.into_inner().monitor).await?,
        ))
    }

    async fn get_monitor(
        &self,
        req: Request<GetMonitorRequest>,
    ) -> Result<Response<Monitor>, Status> {
        Ok(Response::new(self.domain.get(&req.into_inner().id).await?))
    }

    async fn list_monitors(
        &self,
        _req: Request<ListMonitorsRequest>,
    ) -> Result<Response<ListMonitorsResponse>, Status> {
        let (monitors, truncated) = self.domain.list().await?;
        Ok(Response::new(ListMonitorsResponse {
            monitors,
            truncated,
        }))
    }

    async fn update_monitor(
        &self,
        req: Request<UpdateMonitorRequest>,
    ) -> Result<Response<Monitor>, Status> {
        Ok(Response::new(
            self.domain.update(req.into_inner().monitor).await?,
        ))
    }

    async fn delete_monitor(
        &self,
        req: Request<DeleteMonitorRequest>,
    ) -> Result<Response<DeleteMonitorResponse>, Status> {
        self.domain.delete(&req.into_inner().id).await?;
        Ok(Response::new(DeleteMonitorResponse {}))
    }

    async fn pause_monitor(
        &self,
        req: Request<PauseMonitorRequest>,
    ) -> Result<Response<Monitor>, Status> {
        let req = req.into_inner();
        Ok(Response::new(self.domain.pause(&req.id, req.paused).await?))
    }
}
