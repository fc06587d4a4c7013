//! `lookout.v1.AgentGateway/Session`: hands each stream to a session task and streams back
//! what it sends, ending with the session's error status if it failed. A replica that does not
//! lead refuses the stream at once, naming the leader (see [`crate::leader`]).

use std::sync::Arc;

use lookout_proto::v1::agent_gateway_server::AgentGateway;
use lookout_proto::v1::{AgentMessage, CoordinatorMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::bearer;
use crate::error::DomainError;
use crate::leader::Leadership;
use crate::session::Gateway;

/// Messages buffered towards one agent before the session waits for it to read.
const OUT_BUFFER: usize = 32;

pub struct GatewayService {
    gateway: Arc<Gateway>,
    leadership: Arc<Leadership>,
}

impl GatewayService {
    pub fn new(gateway: Arc<Gateway>, leadership: Arc<Leadership>) -> GatewayService {
        GatewayService {
            gateway,
            leadership,
        }
    }
}

#[tonic::async_trait]
impl AgentGateway for GatewayService {
    type SessionStream = ReceiverStream<Result<CoordinatorMessage, Status>>;

    async fn session(
        &self,
        req: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let token = bearer(req.metadata())
            .map(str::to_string)
            .ok_or(DomainError::Unauthenticated)?;
        if !self.gateway.leads().await {
            return Err(self.leadership.refusal().await);
        }
        let inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(OUT_BUFFER);
        let gateway = self.gateway.clone();
        tokio::spawn(async move {
            if let Err(e) = gateway.run(Some(&token), inbound, &tx).await {
                // The agent may already be gone; then nobody is left to tell.
                let _ = tx.send(Err(e.into())).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
