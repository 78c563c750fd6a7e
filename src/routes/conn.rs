//! The HTTP side of disconnects: a held long-poll ends when its caller hangs up.
//!
//! actix-web does not reliably drop a pending handler when the client disconnects
//! (actix/actix-web#1313, #3462), and a parked acquire must not outlive its caller:
//! the lease is only ever granted to a run that is asking (docs/rules.md §3 rule 6). So each
//! connection's socket is recorded when it is accepted ([`remember_socket`]), and
//! [`hold`] awaits the provider's answer while peeking at that socket: end-of-stream
//! means the caller hung up, and the held call is dropped. Dropping it is what tells the
//! provider (the service's held acquire sends `Hangup` when it ends, answered or not),
//! and the provider then forgets every parked caller that is gone.

use std::future::Future;
use std::time::Duration;

use actix_web::dev::Extensions;
use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use super::error::ApiError;

/// How often a held call checks that its caller is still connected.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// The accepted connection's socket, valid as long as the connection (and therefore any
/// handler running on it) lives.
#[derive(Clone, Copy)]
pub struct ConnSocket(#[cfg(unix)] std::os::fd::RawFd);

/// `HttpServer::on_connect` hook: remember the socket of each accepted TCP connection.
pub fn remember_socket(conn: &dyn std::any::Any, ext: &mut Extensions) {
    #[cfg(unix)]
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        use std::os::fd::AsRawFd;
        ext.insert(ConnSocket(tcp.as_raw_fd()));
    }
    #[cfg(not(unix))]
    let _ = (conn, ext);
}

/// Awaits `call`, the provider's answer to `req`. When the call is held (`wait` is not
/// zero) the caller's socket is watched meanwhile: if the caller hangs up first, `call`
/// is dropped (which tells the provider) and the answer is a 400 nobody will read.
pub async fn hold<T, E>(
    req: &HttpRequest,
    wait: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, ApiError>
where
    ApiError: From<E>,
{
    if wait.is_zero() {
        return Ok(call.await?);
    }
    tokio::select! {
        answer = call => Ok(answer?),
        _ = caller_gone(req) => Err(ApiError::new(StatusCode::BAD_REQUEST, "the caller hung up")),
    }
}

/// Resolves once the caller of `req` has closed its connection; never, if that cannot
/// be told.
async fn caller_gone(req: &HttpRequest) {
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
