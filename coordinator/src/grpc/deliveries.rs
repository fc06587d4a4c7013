//! `lookout.v1.DeliveryService`: the delivery log over the delivery domain. Authentication is
//! the same project-token interceptor as the monitor API (see `serve`).

use std::sync::Arc;

use lookout_proto::v1::delivery_service_server::DeliveryService;
use lookout_proto::v1::{
    Delivery, GetDeliveryRequest, ListDeliveriesRequest, ListDeliveriesResponse,
    RetryDeliveryRequest,
};
use tonic::{Request, Response, Status};

use crate::deliveries::DeliveryDomain;

pub struct DeliveryApi {
    domain: Arc<DeliveryDomain>,
}

impl DeliveryApi {
    pub fn new(domain: Arc<DeliveryDomain>) -> DeliveryApi {
        DeliveryApi { domain }
    }
}

#[tonic::async_trait]
impl DeliveryService for DeliveryApi {
    async fn list_deliveries(
        &self,
        req: Request<ListDeliveriesRequest>,
    ) -> Result<Response<ListDeliveriesResponse>, Status> {
        let r = req.into_inner();
        Ok(Response::new(ListDeliveriesResponse {
            deliveries: self.domain.list(r.state, r.limit).await?,
        }))
    }

    async fn get_delivery(
        &self,
        req: Request<GetDeliveryRequest>,
    ) -> Result<Response<Delivery>, Status> {
        Ok(Response::new(self.domain.get(&req.into_inner().id).await?))
    }

    async fn retry_delivery(
        &self,
        req: Request<RetryDeliveryRequest>,
    ) -> Result<Response<Delivery>, Status> {
        Ok(Response::new(
            self.domain.retry(&req.into_inner().id).await?,
        ))
    }
}
