//! The response future of [`RequireService`](crate::RequireService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::Error;
use actix_web::body::EitherBody;
use actix_web::dev::ServiceResponse;
use pin_project_lite::pin_project;

pin_project! {
    /// The response future of [`RequireService`](crate::RequireService):
    /// the inner service's, or the refusal, without boxing.
    pub struct RequireFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Allowed { #[pin] future: F },
        Denied { response: Option<ServiceResponse<EitherBody<B>>> },
    }
}

impl<F, B> RequireFuture<F, B> {
    pub(crate) fn allowed(future: F) -> Self {
        Self {
            state: State::Allowed { future },
        }
    }

    pub(crate) fn denied(response: ServiceResponse<EitherBody<B>>) -> Self {
        Self {
            state: State::Denied {
                response: Some(response),
            },
        }
    }
}

impl<F, B> std::fmt::Debug for RequireFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.state {
            State::Allowed { .. } => "RequireFuture::Allowed",
            State::Denied { .. } => "RequireFuture::Denied",
        })
    }
}

impl<F, B> Future for RequireFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Allowed { future } => future
                .poll(cx)
                .map(|r| r.map(ServiceResponse::map_into_left_body)),
            StateProj::Denied { response } => Poll::Ready(Ok(response
                .take()
                .expect("RequireFuture polled after completion"))),
        }
    }
}
