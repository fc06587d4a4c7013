//! `lookout.v1.DeliveryService`: the delivery log over the delivery domain. Each call is
//! authenticated first and sees only the project of its token.

use std::sync::Arc;

use lookout_proto::v1::delivery_service_server::DeliveryService;
use lookout_proto::v1::{
    Delivery, GetDeliveryRequest, ListDeliveriesRequest, ListDeliveriesResponse,
    RetryDeliveryRequest,
};
use tonic::{Request, Response, Status};

use crate::auth::AdminAuth;
use crate::deliveries::DeliveryDomain;

pub struct DeliveryApi {
    domain: Arc<DeliveryDomain>,
    auth: Arc<AdminAuth>,
}

impl DeliveryApi {
    pub fn new(domain: Arc<DeliveryDomain>, auth: Arc<AdminAuth>) -> DeliveryApi {
        DeliveryApi { domain, auth }
    }
}

#[tonic::async_trait]
impl DeliveryService for DeliveryApi {
    async fn list_deliveries(
        &self,
        req: Request<ListDeliveriesRequest>,
    ) -> Result<Response<ListDeliveriesResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let r = req.into_inner();
        let (deliveries, next_page_token) = self
            .domain
            .list(
                &project,
                r.state,
                &r.integration_id,
                r.page_size,
                &r.page_token,
            )
            .await?;
        Ok(Response::new(ListDeliveriesResponse {
            deliveries,
            next_page_token,
        }))
    }

    async fn get_delivery(
        &self,
        req: Request<GetDeliveryRequest>,
    ) -> Result<Response<Delivery>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(
            self.domain.get(&project, &req.into_inner().id).await?,
        ))
    }

    async fn retry_delivery(
        &self,
        req: Request<RetryDeliveryRequest>,
    ) -> Result<Response<Delivery>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(
            self.domain.retry(&project, &req.into_inner().id).await?,
        ))
    }
}
