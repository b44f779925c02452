//! The routes of Flux v1's API: paths under [`PREFIX`], methods, the names
//! Flux gives them (the `route` label of `flux_request_duration_seconds`)
//! and their query parameters.

/// Where the API lives: every route's path follows it.
pub const PREFIX: &str = "/api/flux";

/// The port fluxd listens on by default, and fluxctl port-forwards to.
pub const DEFAULT_PORT: u16 = 3030;

/// Version prefixes that answer `410 Gone` (`/v1/`..`/v5/`).
pub const DEPRECATED_VERSIONS: [&str; 5] = ["v1", "v2", "v3", "v4", "v5"];

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// Flux's name for it.
    pub name: &'static str,
    /// The HTTP method (`Export` also answers `HEAD`).
    pub method: &'static str,
    /// The path after [`PREFIX`].
    pub path: &'static str,
    /// Query parameters it reads.
    pub query: &'static [&'static str],
    /// Those without which the route does not match (Flux answers 404).
    pub required_query: &'static [&'static str],
}

impl Route {
    const fn new(name: &'static str, method: &'static str, path: &'static str) -> Self {
        Self {
            name,
            method,
            path,
            query: &[],
            required_query: &[],
        }
    }

    const fn query(mut self, query: &'static [&'static str]) -> Self {
        self.query = query;
        self
    }

    const fn required(mut self, required: &'static [&'static str]) -> Self {
        self.required_query = required;
        self
    }
}

/// Query parameter names.
pub mod query {
    /// A namespace to list in (`""`: all).
    pub const NAMESPACE: &str = "namespace";
    /// Comma-separated workload ids (`/v11/services`).
    pub const SERVICES: &str = "services";
    /// A workload id or `<all>` (`/images`, repeatable in `/v6/update-images`).
    pub const SERVICE: &str = "service";
    /// Comma-separated `Container` field names (`/images`).
    pub const CONTAINER_FIELDS: &str = "containerFields";
    /// A job id (`/v6/jobs`).
    pub const ID: &str = "id";
    /// A commit or ref (`/v6/sync`).
    pub const REF: &str = "ref";
    /// An image or `<all latest>` (`/v6/update-images`).
    pub const IMAGE: &str = "image";
    /// `plan` or `execute` (`/v6/update-images`).
    pub const KIND: &str = "kind";
    /// A workload to leave out, repeatable (`/v6/update-images`).
    pub const EXCLUDE: &str = "exclude";
    /// The user (`/v6/update-images`, `/v6/policies`).
    pub const USER: &str = "user";
    /// The commit message (`/v6/update-images`, `/v6/policies`).
    pub const MESSAGE: &str = "message";
}

use query::*;

/// `GET /v11/ping`: 204 once fluxd reaches the cluster.
pub const PING: Route = Route::new("Ping", "GET", "/v11/ping");
/// `GET /v11/version`: fluxd's version as a JSON string.
pub const VERSION: Route = Route::new("Version", "GET", "/v11/version");
/// `POST /v11/notify`: a `Change`; 202.
pub const NOTIFY: Route = Route::new("Notify", "POST", "/v11/notify");
/// `GET /v6/services`: `[]ControllerStatus`.
pub const LIST_SERVICES: Route =
    Route::new("ListServices", "GET", "/v6/services").query(&[NAMESPACE]);
/// `GET /v11/services`: `[]ControllerStatus`, by namespace or ids.
pub const LIST_SERVICES_WITH_OPTIONS: Route =
    Route::new("ListServicesWithOptions", "GET", "/v11/services").query(&[NAMESPACE, SERVICES]);
/// `GET /v6/images`: `[]ImageStatus`.
pub const LIST_IMAGES: Route =
    Route::new("ListImages", "GET", "/v6/images").query(&[SERVICE, CONTAINER_FIELDS, NAMESPACE]);
/// `GET /v10/images`: `[]ImageStatus`.
pub const LIST_IMAGES_WITH_OPTIONS: Route =
    Route::new("ListImagesWithOptions", "GET", "/v10/images").query(&[
        SERVICE,
        CONTAINER_FIELDS,
        NAMESPACE,
    ]);
/// `POST /v9/update-manifests`: an `UpdateSpec`; a job id.
pub const UPDATE_MANIFESTS: Route = Route::new("UpdateManifests", "POST", "/v9/update-manifests");
/// `GET /v6/jobs?id=`: a `JobStatus`.
pub const JOB_STATUS: Route = Route::new("JobStatus", "GET", "/v6/jobs")
    .query(&[ID])
    .required(&[ID]);
/// `GET /v6/sync?ref=`: the revisions between the sync marker and `ref`
/// (`[]` once applied).
pub const SYNC_STATUS: Route = Route::new("SyncStatus", "GET", "/v6/sync")
    .query(&[REF])
    .required(&[REF]);
/// `GET /v6/export` (and `HEAD`): the cluster's objects as a YAML stream,
/// base64 in a JSON string.
pub const EXPORT: Route = Route::new("Export", "GET", "/v6/export");
/// `POST /v9/git-repo-config`: body `true` to regenerate the key; a `GitConfig`.
pub const GIT_REPO_CONFIG: Route = Route::new("GitRepoConfig", "POST", "/v9/git-repo-config");
/// `POST /v6/update-images` (deprecated): a release from query parameters; a job id.
pub const UPDATE_IMAGES: Route = Route::new("UpdateImages", "POST", "/v6/update-images")
    .query(&[SERVICE, IMAGE, KIND, EXCLUDE, USER, MESSAGE])
    .required(&[SERVICE, IMAGE, KIND]);
/// `PATCH /v6/policies` (deprecated): `PolicyUpdates`; a job id.
pub const UPDATE_POLICIES: Route =
    Route::new("UpdatePolicies", "PATCH", "/v6/policies").query(&[USER, MESSAGE]);
/// `GET /v6/identity.pub`: the `PublicSshKey` (Flux's probe path).
pub const GET_PUBLIC_SSH_KEY: Route = Route::new("GetPublicSSHKey", "GET", "/v6/identity.pub");
/// `POST /v6/identity.pub`: regenerate the key; 204.
pub const REGENERATE_PUBLIC_SSH_KEY: Route =
    Route::new("RegeneratePublicSSHKey", "POST", "/v6/identity.pub");

/// Every route fluxd serves, in Flux's order.
pub const ROUTES: [Route; 16] = [
    PING,
    VERSION,
    NOTIFY,
    LIST_SERVICES,
    LIST_SERVICES_WITH_OPTIONS,
    LIST_IMAGES,
    LIST_IMAGES_WITH_OPTIONS,
    UPDATE_MANIFESTS,
    JOB_STATUS,
    SYNC_STATUS,
    EXPORT,
    GIT_REPO_CONFIG,
    UPDATE_IMAGES,
    UPDATE_POLICIES,
    GET_PUBLIC_SSH_KEY,
    REGENERATE_PUBLIC_SSH_KEY,
];

/// The content type of fluxd's JSON answers.
pub const CONTENT_TYPE_JSON: &str = "application/json; charset=utf-8";
