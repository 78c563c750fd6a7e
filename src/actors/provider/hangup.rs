//! When a caller hangs up: the whole chain, from the socket to the provider, in order.
//!
//! A held long-poll must not outlive its caller: the lease is only ever granted to a run
//! that is asking (docs/rules.md §3 rule 6). actix-web does not reliably drop a pending
//! handler when the client disconnects (actix/actix-web#1313, #3462), so:
//!
//! 1. **Accept.** Each TCP connection's socket is remembered when it is accepted
//!    ([`remember_socket`], the server's `on_connect` hook).
//! 2. **Hold.** A held call (acquire with `?wait=`, and a follower's forwarded call)
//!    awaits its answer through [`hold`], which peeks at that socket meanwhile
//!    ([`caller_gone`]): end-of-stream means the caller hung up, and the call is dropped.
//! 3. **Tell the provider.** A held acquire carries a [`HangupGuard`]; when the call ends,
//!    answered or dropped, the guard sends [`Hangup`] to its provider.
//! 4. **Forget.** The provider drops every parked caller whose reply channel is closed
//!    ([`ProviderActor::forget_gone_callers`]), whichever message notices it first:
//!    `Hangup`, a `Snapshot`, or any change (parked callers are settled only after the
//!    gone ones are dropped, in `Waiters::settle`).
//! 5. **Undo a grant nobody heard.** A caller may hang up between the decision and the
//!    answer: a grant whose answer cannot be delivered is revoked at once
//!    ([`ProviderActor::send_lease_answer`], [`Revoke`]), so the next run takes over.
//! 6. **Forwarding.** A follower holds a forwarded call with [`hold`] too: when its caller
//!    hangs up, the forwarded request is dropped, which the owner sees as its own caller
//!    hanging up (steps 2–5 there).

use std::future::Future;
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::Extensions;
use actix_web::HttpRequest;
use log::warn;

use super::{ProviderActor, ProviderAddr};
use crate::actors::messages::Reply;
use crate::actors::ServiceError;
use crate::domain::{Answer, HeadSha, Status, Time};

/// How often a held call checks that its caller is still connected.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// The accepted connection's socket, valid as long as the connection (and therefore any
/// handler running on it) lives.
#[derive(Clone, Copy)]
pub struct ConnSocket(#[cfg(unix)] std::os::fd::RawFd);

/// Step 1, the `HttpServer::on_connect` hook: remember the socket of each accepted TCP connection.
pub fn remember_socket(conn: &dyn std::any::Any, ext: &mut Extensions) {
    #[cfg(unix)]
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        use std::os::fd::AsRawFd;
        ext.insert(ConnSocket(tcp.as_raw_fd()));
    }
    #[cfg(not(unix))]
    let _ = (conn, ext);
}

/// The caller of a held call hung up before it was answered (the answer, a 400, is read
/// by nobody).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HungUp;

/// Step 2: awaits `call`, the answer to `req`. When the call is held (`wait` is not zero) the
/// caller's socket is watched meanwhile: if the caller hangs up first, `call` is dropped
/// (which, for an acquire, tells the provider: step 3) and the result is [`HungUp`].
pub async fn hold<T>(
    req: &HttpRequest,
    wait: Duration,
    call: impl Future<Output = T>,
) -> Result<T, HungUp> {
    if wait.is_zero() {
        return Ok(call.await);
    }
    tokio::select! {
        answer = call => Ok(answer),
        _ = caller_gone(req) => Err(HungUp),
    }
}

/// Resolves once the caller of `req` has closed its connection; never, if that cannot
/// be told.
pub async fn caller_gone(req: &HttpRequest) {
    let Some(socket) = req.conn_data::<ConnSocket>().copied() else {
        return std::future::pending().await;
    };
    loop {
        actix_web::rt::time::sleep(CHECK_EVERY).await;
        if socket.peer_closed() {
            return;
        }
    }
}

impl ConnSocket {
    #[cfg(unix)]
    fn peer_closed(self) -> bool {
        use std::mem::MaybeUninit;
        use std::os::fd::BorrowedFd;
        // SAFETY: the fd belongs to the connection this request arrived on; the
        // connection, and so the fd, outlives every handler future running on it.
        let fd = unsafe { BorrowedFd::borrow_raw(self.0) };
        let sock = socket2::SockRef::from(&fd);
        let mut buf = [MaybeUninit::<u8>::uninit(); 1];
        // The socket is non-blocking (tokio set it up): no data is `WouldBlock`,
        // a pipelined request is data, and only a closed peer reads as 0 bytes.
        match sock.peek(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => false,
            Err(_) => true,
        }
    }

    #[cfg(not(unix))]
    fn peer_closed(self) -> bool {
        false
    }
}

/// Step 3: held by a parked acquire's call: when the call ends (answered, or dropped by
/// [`hold`] because the client went away) it tells the provider, so no parked waiter
/// outlives its caller.
pub struct HangupGuard(pub ProviderAddr);

impl Drop for HangupGuard {
    fn drop(&mut self) {
        self.0.do_send(Hangup);
    }
}

/// A parked caller's HTTP request ended: forget callers that are gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Hangup;

impl Handler<Hangup> for ProviderActor {
    type Result = ();

    fn handle(&mut self, _: Hangup, ctx: &mut Context<Self>) {
        if self.forget_gone_callers() {
            self.schedule_housekeeping(ctx, Time::now());
        }
    }
}

impl ProviderActor {
    /// Step 4: drops parked callers whose request has ended; true if any were dropped (the
    /// gauges are then updated here, whichever message noticed it first).
    pub(super) fn forget_gone_callers(&mut self) -> bool {
        let changed = self.parked.forget_gone();
        if changed {
            self.publish_gauges();
        }
        changed
    }

    /// Step 5: sends a lease answer; a grant whose caller has gone is undone.
    pub(super) fn send_lease_answer(
        &mut self,
        reply: Reply<Answer>,
        result: Result<Answer, ServiceError>,
        ctx: &mut Context<Self>,
    ) {
        let granted = match &result {
            Ok(a) if a.request.status == Status::Acquired => Some(a.request.head_sha.clone()),
            _ => None,
        };
        if reply.send(result).is_err() {
            if let Some(head_sha) = granted {
                warn!(
                    "{}: grant to {head_sha} could not be delivered, undoing it",
                    self.key
                );
                ctx.notify(Revoke { head_sha });
            }
        }
    }
}

/// Undo a grant whose answer could not be delivered (a provider sends it to itself).
#[derive(Message)]
#[rtype(result = "()")]
struct Revoke {
    head_sha: HeadSha,
}

impl Handler<Revoke> for ProviderActor {
    type Result = ();

    fn handle(&mut self, msg: Revoke, ctx: &mut Context<Self>) {
        self.change(ctx, |state, now, events| {
            state.revoke(&msg.head_sha, now, events);
            Vec::new()
        });
    }
}
