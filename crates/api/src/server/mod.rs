//! The Docker Engine API server: routes, and serving them on a unix socket or TCP.
//!
//! ```text
//! socket ─► edge (strip /vX.Y, check version, stamp headers) ─► routes ─► handlers
//!   handlers: decode body/query (400 on anything malformed) ─► convert ─► Backend ─► JSON
//! ```

mod body;
mod build;
mod containers;
mod detach;
mod edge;
mod events;
mod exec;
pub mod guard;
mod hijack;
mod images;
mod logs;
mod network_connect;
mod networks;
mod nodes;
pub mod proxy;
mod query;
mod response;
pub mod rotate;
mod secrets;
mod services;
mod standalone;
mod swarm;
mod system;
mod tasks;
mod tls;
mod volumes;
mod workers;

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::routing::{get, post};
use tokio::net::{TcpListener, UnixListener};

pub use edge::RequestedVersion;
pub use guard::Policy;
pub use system::swarm_header;
pub use tls::serve_tls;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::host::HostFacts;

/// What every handler sees.
#[derive(Clone)]
struct AppState {
    /// The daemon.
    backend: Arc<dyn Backend>,
    /// Host facts, read once.
    host: Arc<HostFacts>,
}

/// Permissions of the unix socket: owner and group may connect, like dockerd's socket.
const SOCKET_MODE: u32 = 0o660;

/// The API's routes over `backend`, with or without a `/vX.Y` prefix.
pub fn router(backend: Arc<dyn Backend>) -> Router {
    router_with_host(backend, HostFacts::read())
}

/// [`router`] with the host facts passed in (tests use fixed ones).
pub fn router_with_host(backend: Arc<dyn Backend>, host: HostFacts) -> Router {
    router_with(backend, host, Policy::default())
}

/// The API's routes behind the request guard with `policy` (see [`guard`]).
pub fn router_with(backend: Arc<dyn Backend>, host: HostFacts, policy: Policy) -> Router {
    let state = AppState {
        backend,
        host: Arc::new(host),
    };
    let routes = Router::new()
        .route("/_ping", get(system::ping).head(system::ping_head))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/swarm", get(swarm::inspect))
        .route("/swarm/init", post(swarm::init))
        .route("/swarm/join", post(swarm::join))
        .route("/swarm/leave", post(swarm::leave))
        .route("/swarm/update", post(swarm::update))
        .route("/swarm/unlockkey", get(swarm::unlock_key))
        .route("/swarm/unlock", post(swarm::unlock))
        .route("/nodes", get(nodes::list))
        .route("/nodes/{id}", get(nodes::inspect).delete(nodes::remove))
        .route("/nodes/{id}/update", post(nodes::update))
        .route("/services", get(services::list))
        .route("/services/create", post(services::create))
        .route("/services/{id}", get(services::inspect).delete(services::remove))
        .route("/services/{id}/update", post(services::update))
        .route("/services/{id}/logs", get(logs::service))
        .route("/tasks", get(tasks::list))
        .route("/tasks/{id}", get(tasks::inspect))
        .route("/tasks/{id}/logs", get(logs::task))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route("/networks/{id}", get(networks::inspect).delete(networks::remove))
        .route("/networks/{id}/connect", post(network_connect::connect))
        .route("/networks/{id}/disconnect", post(network_connect::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route("/volumes/{name}", get(volumes::inspect).delete(volumes::remove))
        .route("/system/df", get(images::disk_usage))
        .route("/build/prune", post(build::prune))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        .route("/images/prune", post(images::prune))
        .route(
            "/images/{*name}",
            get(images::by_name).post(images::by_name).delete(images::by_name),
        )
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/logs", get(containers::container_logs))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/stats", get(containers::stats))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/events", get(events::stream))
        // docker exec
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/shoal/workers", get(workers::list))
        // secrets and configs
        .route("/secrets", get(secrets::list::<false>))
        .route("/secrets/create", post(secrets::create::<false>))
        .route(
            "/secrets/{id}",
            get(secrets::inspect::<false>).delete(secrets::remove::<false>),
        )
        .route("/secrets/{id}/update", post(secrets::update::<false>))
        .route("/configs", get(secrets::list::<true>))
        .route("/configs/create", post(secrets::create::<true>))
        .route(
            "/configs/{id}",
            get(secrets::inspect::<true>).delete(secrets::remove::<true>),
        )
        .route("/configs/{id}/update", post(secrets::update::<true>))
        // shoal's extension: secret rotation
        .route("/secrets/{id}/rotate", post(rotate::rotate))
        .route("/configs/{id}/rotate", post(rotate::rotate_config))
        // standalone containers (docker run)
        .route("/containers/create", post(standalone::create))
        .route("/containers/prune", post(standalone::prune))
        .route("/containers/{id}", axum::routing::delete(standalone::remove))
        .route("/containers/{id}/start", post(standalone::start))
        .route("/containers/{id}/attach", post(standalone::attach))
        .route("/containers/{id}/resize", post(standalone::resize))
        // dockerd answers an unknown path and a known path with the wrong method alike.
        .fallback(page_not_found)
        .method_not_allowed_fallback(page_not_found)
        .with_state(state);
    // The prefix must be stripped before routing, so the edge wraps the whole router; the
    // guard runs inside it so its refusals carry dockerd's headers too.
    let edged = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(edge::edge))
        .layer(axum::middleware::from_fn_with_state(policy, guard::guard))
        .layer(axum::extract::DefaultBodyLimit::max(guard::MAX_BODY_BYTES))
        .service(routes);
    Router::new().fallback_service(edged)
}

/// The object key from the path; a path that does not decode is a 400 in our JSON shape.
fn path_key(key: std::result::Result<axum::extract::Path<String>, PathRejection>) -> Result<String> {
    key.map(|axum::extract::Path(key)| key)
        .map_err(|rejection| Error::BadRequest(rejection.body_text()))
}

/// An endpoint shoal does not serve: dockerd's 404 "page not found", with the method and path
/// named so a user sees which part of the Engine API is missing (a bare "page not found"
/// after `docker ps` says nothing about why).
async fn page_not_found(method: http::Method, uri: http::Uri) -> Error {
    Error::NotServed {
        method: method.to_string(),
        path: types::excerpt(uri.path()),
    }
}

/// Binds the API's unix socket at `path`: creates the parent directory, replaces a stale
/// socket (refusing if a daemon still answers on it) and sets mode 0660.
pub fn bind_unix(path: &Path) -> Result<UnixListener> {
    let io = |context: String| move |error| Error::Io { context, error };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(Error::Io {
                context: format!("binding {}", path.display()),
                error: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the path exists and is not a socket",
                ),
            });
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::Io {
                context: format!("binding {}", path.display()),
                error: std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another daemon is serving this socket",
                ),
            });
        }
        std::fs::remove_file(path).map_err(io(format!("removing stale socket {}", path.display())))?;
    }
    let listener = UnixListener::bind(path).map_err(io(format!("binding {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(io(format!("setting permissions of {}", path.display())))?;
    Ok(listener)
}

/// Serves the API on a unix socket at `path` until `shutdown` completes.
pub async fn serve_unix(
    path: &Path,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = bind_unix(path)?;
    serve_unix_listener(listener, backend, shutdown).await
}

/// Serves the API on an already bound unix listener until `shutdown` completes.
pub async fn serve_unix_listener(
    listener: UnixListener,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(backend))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|error| Error::Io {
            context: "serving the API on a unix socket".into(),
            error,
        })
}

/// Serves the API on a bound TCP listener, without TLS, until `shutdown` completes. On a
/// loopback address the guard also checks `Host` (DNS rebinding); elsewhere the daemon only
/// allows this with `--insecure-tcp`.
pub async fn serve_tcp(
    listener: TcpListener,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    let policy = Policy {
        loopback_host_only: loopback,
    };
    axum::serve(listener, router_with(backend, HostFacts::read(), policy))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|error| Error::Io {
            context: "serving the API on TCP".into(),
            error,
        })
}

/// [`serve_unix_listener`], with the Engine's non-Swarm endpoints passed to the local dockerd
/// when `engine` is given (a node running the docker executor; see [`proxy`]).
pub async fn serve_unix_listener_with_engine(
    listener: UnixListener,
    backend: Arc<dyn Backend>,
    engine: Option<Arc<proxy::EngineProxy>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = match engine {
        Some(engine) => proxy::with_engine(router(backend), engine, Policy::default()),
        None => router(backend),
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|error| Error::Io {
            context: "serving the API on a unix socket".into(),
            error,
        })
}

/// [`serve_tcp`], with the engine paths passed to the local dockerd when `engine` is given.
pub async fn serve_tcp_with_engine(
    listener: TcpListener,
    backend: Arc<dyn Backend>,
    engine: Option<Arc<proxy::EngineProxy>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    let policy = Policy {
        loopback_host_only: loopback,
    };
    let routes = router_with(backend, HostFacts::read(), policy);
    let app = match engine {
        Some(engine) => proxy::with_engine(routes, engine, policy),
        None => routes,
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|error| Error::Io {
            context: "serving the API on TCP".into(),
            error,
        })
}
