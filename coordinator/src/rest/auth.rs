//! `Authorization: Bearer <project token>` on every REST call, resolved to the token's project
//! by the admin API's own [`AdminAuth`] (so a token works alike over gRPC and REST, and a
//! revoked one stops at once on both). 401 `unauthorized` without a valid token, 403 for an
//! operator token (it manages projects, over gRPC).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::auth::AdminAuth;
use crate::rest::error::ApiError;

/// The project of the request's bearer token.
pub struct ProjectId(pub String);

impl<S> FromRequestParts<S> for ProjectId
where
    Arc<AdminAuth>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ProjectId, ApiError> {
        let auth = Arc::<AdminAuth>::from_ref(state);
        // Only the one header the check reads crosses over.
        let mut headers = axum::http::HeaderMap::new();
        if let Some(v) = parts.headers.get(AUTHORIZATION) {
            headers.insert(AUTHORIZATION, v.clone());
        }
        let metadata = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(ProjectId(auth.project(&metadata).await?))
    }
}
