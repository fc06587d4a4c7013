//! `lookout.v1.MemberService` over the member domain. Each call is authenticated first and
//! sees only the project of its token.

use std::sync::Arc;

use lookout_proto::v1::member_service_server::MemberService;
use lookout_proto::v1::{
    AddMemberRequest, ListMembersRequest, ListMembersResponse, Member, RemoveMemberRequest,
    RemoveMemberResponse, VerifyMemberRequest,
};
use tonic::{Request, Response, Status};

use crate::auth::AdminAuth;
use crate::members::MemberDomain;

pub struct MemberApi {
    domain: Arc<MemberDomain>,
    auth: Arc<AdminAuth>,
}

impl MemberApi {
    pub fn new(domain: Arc<MemberDomain>, auth: Arc<AdminAuth>) -> MemberApi {
        MemberApi { domain, auth }
    }
}

#[tonic::async_trait]
impl MemberService for MemberApi {
    async fn add_member(&self, req: Request<AddMemberRequest>) -> Result<Response<Member>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(
            self.domain.add(&project, &r.email, &r.name).await?,
        ))
    }

    async fn verify_member(
        &self,
        req: Request<VerifyMemberRequest>,
    ) -> Result<Response<Member>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        let r = req.into_inner();
        Ok(Response::new(
            self.domain.verify(&project, &r.email, &r.code).await?,
        ))
    }

    async fn list_members(
        &self,
        req: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        Ok(Response::new(ListMembersResponse {
            members: self.domain.list(&project).await?,
        }))
    }

    async fn remove_member(
        &self,
        req: Request<RemoveMemberRequest>,
    ) -> Result<Response<RemoveMemberResponse>, Status> {
        let project = self.auth.project(req.metadata()).await?;
        self.domain
            .remove(&project, &req.into_inner().email)
            .await?;
        Ok(Response::new(RemoveMemberResponse {}))
    }
}
