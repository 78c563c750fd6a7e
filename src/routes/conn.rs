//! Noticing a caller that has gone while its long-poll is held.
//!
//! actix-web does not reliably drop a pending handler when the client disconnects
//! (actix/actix-web#1313, #3462), and a parked acquire must not outlive its caller:
//! the lease is only ever granted to a run that is asking (SPEC §3 rule 6). So each
//! connection's socket is recorded when it is accepted, and a waiting handler peeks at
//! it: end-of-stream means the caller hung up.

use std::time::Duration;

use actix_web::dev::Extensions;
use actix_web::HttpRequest;

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
