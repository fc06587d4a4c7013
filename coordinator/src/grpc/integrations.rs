//! `lookout.v1.IntegrationService` and `lookout.v1.VariableService` over the integration
//! domain. Each call is authenticated first and sees only the project of its token.

use std::sync::Arc;

use lookout_proto::v1::integration_service_server::IntegrationService;
use lookout_proto::v1::variable_service_server::VariableService;
use lookout_proto::v1::{
    CreateIntegrationRequest, DeleteIntegrationRequest, DeleteIntegrationResponse,
    DeleteVariableRequest, DeleteVariableResponse, Delivery, GetIntegrationRequest, Integration,
    ListIntegrationsRequest, ListIntegrationsResponse, ListVariablesRequest, ListVariablesResponse,
    SetVariableRequest, TestIntegrationRequest, UpdateIntegrationRequest, Variable,
};
use tonic::{Request, Response, Status};

use crate::auth::AdminAuth;
use crate::integrations::IntegrationDomain;

pub struct IntegrationApi {
    domain: Arc<IntegrationDomain>,
    auth: Arc<AdminAuth>,
}

impl IntegrationApi {
    pub fn new(domain: Arc<IntegrationDomain>, auth: Arc<AdminAuth>) -> IntegrationApi {
        IntegrationApi { domain, auth }
    }
}

#[tonic::async_trait]
impl IntegrationService for IntegrationApi {
    async fn create_integration(
        &self,
        req: Request<CreateIntegrationRequest>,
    ) -> Result<Response<Integration>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let i = req.into_inner().integration;
        Ok(Response::new(self.domain.create(&project, i).await?))
    }

    async fn get_integration(
        &self,
        req: Request<GetIntegrationRequest>,
    ) -> Result<Response<Integration>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(
            self.domain.get(&project, &req.into_inner().id).await?,
        ))
    }

    async fn list_integrations(
        &self,
        req: Request<ListIntegrationsRequest>,
    ) -> Result<Response<ListIntegrationsResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let r = req.into_inner();
        let (integrations, next_page_token) = self
            .domain
            .list(&project, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(ListIntegrationsResponse {
            integrations,
            next_page_token,
        }))
    }

    async fn update_integration(
        &self,
        req: Request<UpdateIntegrationRequest>,
    ) -> Result<Response<Integration>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let i = req.into_inner().integration;
        Ok(Response::new(self.domain.update(&project, i).await?))
    }

    async fn delete_integration(
        &self,
        req: Request<DeleteIntegrationRequest>,
    ) -> Result<Response<DeleteIntegrationResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        self.domain.delete(&project, &req.into_inner().id).await?;
        Ok(Response::new(DeleteIntegrationResponse {}))
    }

    async fn test_integration(
        &self,
        req: Request<TestIntegrationRequest>,
    ) -> Result<Response<Delivery>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(
            self.domain.test(&project, &req.into_inner().id).await?,
        ))
    }
}

pub struct VariableApi {
    domain: Arc<IntegrationDomain>,
    auth: Arc<AdminAuth>,
}

impl VariableApi {
    pub fn new(domain: Arc<IntegrationDomain>, auth: Arc<AdminAuth>) -> VariableApi {
        VariableApi { domain, auth }
    }
}

#[tonic::async_trait]
impl VariableService for VariableApi {
    async fn set_variable(
        &self,
        req: Request<SetVariableRequest>,
    ) -> Result<Response<Variable>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let v = req.into_inner().variable;
        Ok(Response::new(self.domain.set_variable(&project, v).await?))
    }

    async fn list_variables(
        &self,
        req: Request<ListVariablesRequest>,
    ) -> Result<Response<ListVariablesResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(ListVariablesResponse {
            variables: self.domain.list_variables(&project).await?,
        }))
    }

    async fn delete_variable(
        &self,
        req: Request<DeleteVariableRequest>,
    ) -> Result<Response<DeleteVariableResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        self.domain
            .delete_variable(&project, &req.into_inner().name)
            .await?;
        Ok(Response::new(DeleteVariableResponse {}))
    }
}
