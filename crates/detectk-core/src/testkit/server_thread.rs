//! The part every recording test server shares: a listener on `127.0.0.1` (an
//! ephemeral port), served on its own thread with its own Tokio runtime (so it answers
//! blocking and async clients alike), one task per connection, and a stop on drop.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::net::TcpStream;
use tokio::sync::watch;

/// A running accept loop; stops (and joins its thread) when dropped.
#[derive(Debug)]
pub(crate) struct ServerThread {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Binds `127.0.0.1:0` and serves each connection with `connection(stream, stop)`,
    /// where `stop` changes when the server is dropped. `name` names the thread and
    /// the server in panics.
    pub(crate) fn start<F, Fut>(name: &str, connection: F) -> Self
    where
        F: Fn(TcpStream, watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("bind a TCP port on 127.0.0.1 for the {name}: {e}"));
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let (shutdown, stop) = watch::channel(false);
        let runtime_name = name.to_string();
        let thread = std::thread::Builder::new()
            .name(name.replace(' ', "-"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("build the {runtime_name} runtime: {e}"));
                runtime.block_on(serve(listener, connection, stop));
            })
            .unwrap_or_else(|e| panic!("spawn the {name} thread: {e}"));
        Self {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }

    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve<F, Fut>(
    listener: std::net::TcpListener,
    connection: F,
    mut stop: watch::Receiver<bool>,
) where
    F: Fn(TcpStream, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(connection(stream, stop.clone()));
                }
            }
        }
    }
}
