//! `lookout.v1.ProjectService` (operator tokens) and `lookout.v1.TokenService` (a project's
//! own token, or an operator token naming the project) over the project domain.

use std::sync::Arc;

use lookout_proto::v1::project_service_server::ProjectService;
use lookout_proto::v1::token_service_server::TokenService;
use lookout_proto::v1::{
    CreateProjectRequest, CreateTokenRequest, CreateTokenResponse, DeleteProjectRequest,
    DeleteProjectResponse, ListProjectsRequest, ListProjectsResponse, ListTokensRequest,
    ListTokensResponse, Project, RevokeTokenRequest, RevokeTokenResponse, UpdateProjectPlanRequest,
    UpdateProjectQuotasRequest,
};
use tonic::{Request, Response, Status};

use crate::auth::AdminAuth;
use crate::projects::ProjectDomain;

pub struct ProjectApi {
    domain: Arc<ProjectDomain>,
    auth: Arc<AdminAuth>,
}

impl ProjectApi {
    pub fn new(domain: Arc<ProjectDomain>, auth: Arc<AdminAuth>) -> ProjectApi {
        ProjectApi { domain, auth }
    }
}

#[tonic::async_trait]
impl ProjectService for ProjectApi {
    async fn create_project(
        &self,
        req: Request<CreateProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        self.auth.operator(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(self.domain.create(&r.name, r.quotas).await?))
    }

    async fn list_projects(
        &self,
        req: Request<ListProjectsRequest>,
    ) -> Result<Response<ListProjectsResponse>, Status> {
        self.auth.operator(req.metadata()).await?;
        let r = req.into_inner();
        let (projects, next_page_token) = self.domain.list(r.page_size, &r.page_token).await?;
        Ok(Response::new(ListProjectsResponse {
            projects,
            next_page_token,
        }))
    }

    async fn delete_project(
        &self,
        req: Request<DeleteProjectRequest>,
    ) -> Result<Response<DeleteProjectResponse>, Status> {
        self.auth.operator(req.metadata()).await?;
        self.domain.delete(&req.into_inner().id).await?;
        Ok(Response::new(DeleteProjectResponse {}))
    }

    async fn update_project_quotas(
        &self,
        req: Request<UpdateProjectQuotasRequest>,
    ) -> Result<Response<Project>, Status> {
        self.auth.operator(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(
            self.domain.update_quotas(&r.id, r.quotas).await?,
        ))
    }

    async fn update_project_plan(
        &self,
        req: Request<UpdateProjectPlanRequest>,
    ) -> Result<Response<Project>, Status> {
        self.auth.operator(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(
            self.domain.update_plan(&r.id, r.paid_plan).await?,
        ))
    }
}

pub struct TokenApi {
    domain: Arc<ProjectDomain>,
    auth: Arc<AdminAuth>,
}

impl TokenApi {
    pub fn new(domain: Arc<ProjectDomain>, auth: Arc<AdminAuth>) -> TokenApi {
        TokenApi { domain, auth }
    }
}

#[tonic::async_trait]
impl TokenService for TokenApi {
    async fn create_token(
        &self,
        req: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        let caller = self.auth.caller(req.metadata()).await?;
        let r = req.into_inner();
        let (token, secret) = self
            .domain
            .create_token(&caller, &r.project_id, &r.name)
            .await?;
        Ok(Response::new(CreateTokenResponse {
            token: Some(token),
            secret,
        }))
    }

    async fn list_tokens(
        &self,
        req: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensResponse>, Status> {
        let caller = self.auth.caller(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(ListTokensResponse {
            tokens: self.domain.list_tokens(&caller, &r.project_id).await?,
        }))
    }

    async fn revoke_token(
        &self,
        req: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenResponse>, Status> {
        let caller = self.auth.caller(req.metadata()).await?;
        let r = req.into_inner();
        self.domain
            .revoke_token(&caller, &r.project_id, &r.id)
            .await?;
        Ok(Response::new(RevokeTokenResponse {}))
    }
}
