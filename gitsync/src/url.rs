//! Repository URLs: parsing, the forms shown in logs, and Flux's "safe URL".

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::Error;
use crate::auth::HttpAuth;

/// The default user for ssh URLs that name none.
const DEFAULT_SSH_USER: &str = "git";

/// A git remote: `file://` URL, plain path, `http(s)://`, `ssh://` or scp-like
/// `user@host:path`.
///
/// Credentials written into an http(s) URL (`https://user:password@host/...`,
/// `https://token@host/...`) are taken out at parse time: [`GitUrl::credentials`]
/// returns them, and every string form of the URL is free of secrets except
/// [`GitUrl::flux_safe_url`] (see there).
///
/// ```
/// use fluxd_gitsync::GitUrl;
///
/// let url: GitUrl = "https://bot:s3cret@git.example.com/team/config.git".parse()?;
/// assert_eq!(url.to_string(), "https://git.example.com/team/config.git");
/// assert!(url.credentials().is_some());
///
/// let url: GitUrl = "git@github.com:fluxcd/flux-get-started".parse()?;
/// assert_eq!(url.flux_safe_url(), "ssh://git@github.com/fluxcd/flux-get-started");
/// # Ok::<(), fluxd_gitsync::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct GitUrl {
    location: Location,
    credentials: Option<HttpAuth>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Location {
    /// A path on this machine, written as a path or as a `file://` URL.
    Local { path: PathBuf, file_scheme: bool },
    /// Smart HTTP.
    Http {
        secure: bool,
        /// The username as written in the URL (Flux keeps it in its safe URL).
        user: Option<String>,
        host: String,
        port: Option<u16>,
        /// Starts with `/`; may carry a query.
        path: String,
    },
    /// `ssh://user@host:port/path`.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        /// Starts with `/`.
        path: String,
    },
    /// scp-like `user@host:path` (path relative to the login directory unless it starts with `/`).
    Scp {
        user: Option<String>,
        host: String,
        path: String,
    },
}

/// How a [`GitUrl`] reaches its repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// A repository on this machine.
    Local,
    /// `http://` or `https://`.
    Http,
    /// `ssh://` or scp-like.
    Ssh,
}

impl GitUrl {
    /// Parses a URL or path. Errors name the URL with its password or token redacted.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: redact(input),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(invalid("empty"));
        }
        if input.chars().any(char::is_control) {
            return Err(invalid("contains control characters"));
        }
        if input.starts_with('-') {
            return Err(invalid("starts with `-`"));
        }
        if let Some((scheme, rest)) = input.split_once("://") {
            return match scheme.to_ascii_lowercase().as_str() {
                "file" => {
                    if rest.is_empty() {
                        return Err(invalid("no path"));
                    }
                    if !rest.starts_with('/') {
                        return Err(invalid(
                            "file URLs take an absolute path (file:///path/to/repo)",
                        ));
                    }
                    Ok(Self::local(PathBuf::from(rest), true))
                }
                "http" | "https" => parse_http(scheme.eq_ignore_ascii_case("https"), rest)
                    .map_err(|reason| invalid(&reason)),
                "ssh" | "git+ssh" | "ssh+git" => parse_ssh(rest).map_err(|reason| invalid(&reason)),
                other => Err(invalid(&format!(
                    "unsupported scheme `{other}` (expected https, http, ssh or file)"
                ))),
            };
        }
        // git's rule: a colon before any slash makes it scp-like, otherwise a path.
        match input.find(':') {
            Some(colon) if !input[..colon].contains('/') => {
                parse_scp(&input[..colon], &input[colon + 1..]).map_err(|reason| invalid(&reason))
            }
            _ => Ok(Self::local(PathBuf::from(input), false)),
        }
    }

    fn local(path: PathBuf, file_scheme: bool) -> Self {
        Self {
            location: Location::Local { path, file_scheme },
            credentials: None,
        }
    }

    /// How the repository is reached.
    pub fn transport(&self) -> Transport {
        match self.location {
            Location::Local { .. } => Transport::Local,
            Location::Http { .. } => Transport::Http,
            Location::Ssh { .. } | Location::Scp { .. } => Transport::Ssh,
        }
    }

    /// Credentials that were written into an http(s) URL.
    pub fn credentials(&self) -> Option<&HttpAuth> {
        self.credentials.as_ref()
    }

    /// The URL without any credentials (the `Display` form): what logs show.
    /// ssh URLs keep their user name, which is not a secret.
    pub fn without_credentials(&self) -> String {
        self.to_string()
    }

    /// The URL exactly as Flux v1's `Remote.SafeURL()` printed it: parsed as a
    /// URL, password dropped, user name kept, scp-like forms and plain paths
    /// turned into `ssh://` and `file://` URLs.
    ///
    /// Flux hashes this string (with the branch and paths) into the sync set's
    /// garbage-collection mark, so the same repository gets the same mark here.
    /// Note that a token written as the *user name* (`https://TOKEN@host/...`)
    /// stays in this string: hash it, never log it.
    pub fn flux_safe_url(&self) -> String {
        match &self.location {
            // Go's url.String() of `file://` + the path, either way it was written.
            Location::Local { path, .. } => format!("file://{}", path.display()),
            Location::Http {
                secure,
                user,
                host,
                port,
                path,
            } => {
                let scheme = if *secure { "https" } else { "http" };
                let user = user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                format!("{scheme}://{user}{}{path}", host_port(host, *port))
            }
            Location::Ssh {
                user,
                host,
                port,
                path,
            } => {
                let user = user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                format!("ssh://{user}{}{path}", host_port(host, *port))
            }
            Location::Scp { user, host, path } => {
                let user = user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                let slash = if path.starts_with('/') { "" } else { "/" };
                format!("ssh://{user}{host}{slash}{path}")
            }
        }
    }

    /// The string handed to libgit2: no credentials (they go through the
    /// credentials callback), and an explicit ssh user.
    pub(crate) fn libgit2_url(&self) -> String {
        match &self.location {
            Location::Local { path, file_scheme } => {
                if *file_scheme {
                    format!("file://{}", path.display())
                } else {
                    path.display().to_string()
                }
            }
            Location::Http {
                secure,
                host,
                port,
                path,
                ..
            } => {
                let scheme = if *secure { "https" } else { "http" };
                format!("{scheme}://{}{path}", host_port(host, *port))
            }
            Location::Ssh {
                user,
                host,
                port,
                path,
            } => format!(
                "ssh://{}@{}{path}",
                user.as_deref().unwrap_or(DEFAULT_SSH_USER),
                host_port(host, *port)
            ),
            Location::Scp { user, host, path } => format!(
                "{}@{host}:{path}",
                user.as_deref().unwrap_or(DEFAULT_SSH_USER)
            ),
        }
    }

    /// The ssh user name (`git` when the URL names none); `None` for other transports.
    pub fn ssh_user(&self) -> Option<&str> {
        match &self.location {
            Location::Ssh { user, .. } | Location::Scp { user, .. } => {
                Some(user.as_deref().unwrap_or(DEFAULT_SSH_USER))
            }
            _ => None,
        }
    }

    /// The ssh host and port (22 unless given); `None` for other transports.
    pub fn ssh_host_port(&self) -> Option<(&str, u16)> {
        match &self.location {
            Location::Ssh { host, port, .. } => Some((host, port.unwrap_or(22))),
            Location::Scp { host, .. } => Some((host, 22)),
            _ => None,
        }
    }
}

impl fmt::Display for GitUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Local { .. } | Location::Ssh { .. } | Location::Scp { .. } => {
                f.write_str(&self.libgit2_url_for_display())
            }
            // A query string may carry a token (`?private_token=...`): shown
            // as `?***`, kept only in what libgit2 is given.
            Location::Http { .. } => f.write_str(&redact_query(&self.libgit2_url())),
        }
    }
}

/// `url` with its query string, if any, replaced by `***`.
fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((before, _)) => format!("{before}?***"),
        None => url.to_owned(),
    }
}

impl GitUrl {
    /// Like [`GitUrl::libgit2_url`], but an ssh URL without a user stays without one.
    fn libgit2_url_for_display(&self) -> String {
        match &self.location {
            Location::Ssh {
                user: None,
                host,
                port,
                path,
            } => format!("ssh://{}{path}", host_port(host, *port)),
            Location::Scp {
                user: None,
                host,
                path,
            } => format!("{host}:{path}"),
            _ => self.libgit2_url(),
        }
    }
}

impl fmt::Debug for GitUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitUrl")
            .field("url", &self.to_string())
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl FromStr for GitUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn host_port(host: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// `input`, a URL or anything that may be one, with the password (or, for
/// http, the whole user part and the query string) replaced by `***`, for
/// messages and logs.
///
/// Works on the text, so a string that does not parse as a URL is redacted
/// all the same (helmops uses it for chart and values URLs).
///
/// ```
/// assert_eq!(
///     fluxd_gitsync::redact_url("https://user:s3cret@example.com/charts"),
///     "https://***@example.com/charts"
/// );
/// assert_eq!(fluxd_gitsync::redact_url("ssh://git:pw@host/x"), "ssh://git:***@host/x");
/// ```
pub fn redact(input: &str) -> String {
    let Some((scheme, rest)) = input.split_once("://") else {
        return input.to_owned();
    };
    let rest = if scheme.to_ascii_lowercase().starts_with("http") {
        std::borrow::Cow::Owned(redact_query(rest))
    } else {
        std::borrow::Cow::Borrowed(rest)
    };
    let rest = rest.as_ref();
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return format!("{scheme}://{rest}");
    };
    let (userinfo, host) = (&authority[..at], &authority[at + 1..]);
    let userinfo = if scheme.to_ascii_lowercase().starts_with("http") {
        "***".to_owned()
    } else {
        match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***"),
            None => userinfo.to_owned(),
        }
    };
    format!("{scheme}://{userinfo}@{host}{path}")
}

/// Splits `[user[:password]@]host[:port]` and checks each part.
struct Authority {
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
}

fn parse_authority(authority: &str) -> Result<Authority, String> {
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, password) = match info.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (info, None),
            };
            let user = percent_decode(user).ok_or("invalid percent-encoding in the user name")?;
            let password = password
                .map(|p| percent_decode(p).ok_or("invalid percent-encoding in the password"))
                .transpose()?;
            (Some(user), password)
        }
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed `[` in the host")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after `]`")?),
        };
        (format!("[{host}]"), port)
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (hostport.to_owned(), None),
        }
    };
    check_host(&host)?;
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("invalid port `{p}`"))?,
        ),
    };
    Ok(Authority {
        user: user.filter(|u| !u.is_empty()),
        password,
        host,
        port,
    })
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() || host == "[]" {
        return Err("no host".to_owned());
    }
    if host.starts_with('-') {
        return Err("host starts with `-`".to_owned());
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || "/\\@?#".contains(c))
    {
        return Err(format!("invalid host `{host}`"));
    }
    Ok(())
}

fn parse_http(secure: bool, rest: &str) -> Result<GitUrl, String> {
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if path.trim_matches('/').is_empty() {
        return Err("no repository path".to_owned());
    }
    if path.chars().any(char::is_whitespace) {
        return Err("whitespace in the path (percent-encode it)".to_owned());
    }
    let authority = parse_authority(authority)?;
    let credentials = match (&authority.user, authority.password) {
        (Some(user), Some(password)) => Some(HttpAuth::basic(user.clone(), password)),
        // `https://TOKEN@host/...`: the token is the user name, as GitHub takes it.
        (Some(user), None) => Some(HttpAuth::basic(user.clone(), String::new())),
        (None, Some(_)) => return Err("a password without a user name".to_owned()),
        (None, None) => None,
    };
    Ok(GitUrl {
        location: Location::Http {
            secure,
            user: authority.user,
            host: authority.host,
            port: authority.port,
            path: path.to_owned(),
        },
        credentials,
    })
}

fn parse_ssh(rest: &str) -> Result<GitUrl, String> {
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if path.trim_matches('/').is_empty() {
        return Err("no repository path".to_owned());
    }
    let authority = parse_authority(authority)?;
    if authority.password.is_some() {
        return Err("ssh URLs take no password; authenticate with a private key".to_owned());
    }
    check_user(authority.user.as_deref())?;
    Ok(GitUrl {
        location: Location::Ssh {
            user: authority.user,
            host: authority.host,
            port: authority.port,
            path: path.to_owned(),
        },
        credentials: None,
    })
}

fn parse_scp(userhost: &str, path: &str) -> Result<GitUrl, String> {
    let (user, host) = match userhost.rsplit_once('@') {
        Some((user, host)) => (Some(user.to_owned()), host),
        None => (None, userhost),
    };
    check_host(host)?;
    check_user(user.as_deref())?;
    if path.trim_matches('/').is_empty() {
        return Err("no repository path".to_owned());
    }
    Ok(GitUrl {
        location: Location::Scp {
            user,
            host: host.to_owned(),
            path: path.to_owned(),
        },
        credentials: None,
    })
}

fn check_user(user: Option<&str>) -> Result<(), String> {
    match user {
        Some("") => Err("empty user name".to_owned()),
        Some(user) if user.starts_with('-') => Err("user name starts with `-`".to_owned()),
        Some(user) if user.contains(':') => {
            Err("ssh URLs take no password; authenticate with a private key".to_owned())
        }
        _ => Ok(()),
    }
}

fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> GitUrl {
        GitUrl::parse(s).unwrap()
    }

    fn error(s: &str) -> String {
        GitUrl::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn local_paths_and_file_urls() {
        let url = parse("/srv/git/config.git");
        assert_eq!(url.transport(), Transport::Local);
        assert_eq!(url.to_string(), "/srv/git/config.git");
        assert_eq!(url.libgit2_url(), "/srv/git/config.git");
        assert_eq!(url.flux_safe_url(), "file:///srv/git/config.git");

        let url = parse("file:///srv/git/config.git");
        assert_eq!(url.to_string(), "file:///srv/git/config.git");
        assert_eq!(url.flux_safe_url(), "file:///srv/git/config.git");

        // A slash before the colon makes it a path, as git decides.
        assert_eq!(parse("./a:b").transport(), Transport::Local);
        assert_eq!(parse("repo").transport(), Transport::Local);
    }

    #[test]
    fn https_with_credentials_in_the_url() {
        let url = parse("https://bot:p%40ss@git.example.com:8443/team/config.git");
        assert_eq!(url.transport(), Transport::Http);
        assert_eq!(
            url.to_string(),
            "https://git.example.com:8443/team/config.git"
        );
        assert_eq!(
            url.libgit2_url(),
            "https://git.example.com:8443/team/config.git"
        );
        assert_eq!(
            url.credentials(),
            Some(&HttpAuth::basic("bot".to_owned(), "p@ss".to_owned()))
        );
        // Flux keeps the user name and drops the password.
        assert_eq!(
            url.flux_safe_url(),
            "https://bot@git.example.com:8443/team/config.git"
        );
        let debug = format!("{url:?}");
        assert!(
            !debug.contains("p@ss") && !debug.contains("p%40ss"),
            "{debug}"
        );
    }

    #[test]
    fn https_token_as_user_name() {
        let url = parse("https://ghp_abc123@github.com/org/repo");
        assert_eq!(url.to_string(), "https://github.com/org/repo");
        assert_eq!(
            url.credentials(),
            Some(&HttpAuth::basic("ghp_abc123".to_owned(), String::new()))
        );
    }

    #[test]
    fn https_without_credentials() {
        let url = parse("http://127.0.0.1:8080/repo.git");
        assert_eq!(url.credentials(), None);
        assert_eq!(url.to_string(), "http://127.0.0.1:8080/repo.git");
        assert_eq!(url.flux_safe_url(), "http://127.0.0.1:8080/repo.git");
    }

    #[test]
    fn ssh_urls() {
        let url = parse("ssh://root@127.0.0.1:2222/srv/repo.git");
        assert_eq!(url.transport(), Transport::Ssh);
        assert_eq!(url.ssh_user(), Some("root"));
        assert_eq!(url.ssh_host_port(), Some(("127.0.0.1", 2222)));
        assert_eq!(url.to_string(), "ssh://root@127.0.0.1:2222/srv/repo.git");
        assert_eq!(
            url.flux_safe_url(),
            "ssh://root@127.0.0.1:2222/srv/repo.git"
        );

        let url = parse("ssh://example.com/repo");
        assert_eq!(url.ssh_user(), Some("git"));
        assert_eq!(url.ssh_host_port(), Some(("example.com", 22)));
        assert_eq!(url.libgit2_url(), "ssh://git@example.com/repo");
        assert_eq!(url.to_string(), "ssh://example.com/repo");

        let url = parse("ssh://git@[::1]:2200/repo");
        assert_eq!(url.ssh_host_port(), Some(("[::1]", 2200)));
    }

    #[test]
    fn scp_like_urls() {
        let url = parse("git@github.com:fluxcd/flux-get-started");
        assert_eq!(url.transport(), Transport::Ssh);
        assert_eq!(url.ssh_user(), Some("git"));
        assert_eq!(url.ssh_host_port(), Some(("github.com", 22)));
        assert_eq!(url.to_string(), "git@github.com:fluxcd/flux-get-started");
        assert_eq!(url.libgit2_url(), "git@github.com:fluxcd/flux-get-started");
        assert_eq!(
            url.flux_safe_url(),
            "ssh://git@github.com/fluxcd/flux-get-started"
        );
        assert_eq!(
            parse("host:/abs/repo").flux_safe_url(),
            "ssh://host/abs/repo"
        );
    }

    #[test]
    fn malformed_urls_are_named_with_secrets_redacted() {
        let text = error("https://bot:hunter2@host:99999/repo");
        assert!(text.contains("invalid port `99999`"), "{text}");
        assert!(text.contains("https://***@host:99999/repo"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");

        let text = error("ftp://host/repo");
        assert!(text.contains("unsupported scheme `ftp`"), "{text}");
        assert!(text.contains("`ftp://host/repo`"), "{text}");

        assert!(error("").contains("empty"));
        assert!(error("https://host").contains("no repository path"));
        assert!(error("https:///repo").contains("no host"));
        assert!(error("ssh://git:pw@host/repo").contains("take no password"));
        assert!(!error("ssh://git:pw@host/repo").contains("pw@"));
        assert!(error("git@:repo").contains("no host"));
        assert!(error("host:").contains("no repository path"));
        assert!(error("https://host/a b").contains("whitespace"));
        assert!(error("https://host/a\nb").contains("control"));
        assert!(error("-uhost:repo").contains("starts with `-`"));
        assert!(error("file://relative/path").contains("absolute path"));
        assert!(error("https://u:%zz@host/repo").contains("percent-encoding"));
    }

    #[test]
    fn redaction_of_raw_strings() {
        assert_eq!(redact("https://u:p@h/x"), "https://***@h/x");
        assert_eq!(redact("https://tok@h/x"), "https://***@h/x");
        assert_eq!(redact("ssh://git:pw@h/x"), "ssh://git:***@h/x");
        assert_eq!(redact("ssh://git@h/x"), "ssh://git@h/x");
        assert_eq!(redact("git@h:x"), "git@h:x");
        assert_eq!(
            redact("https://h/x.git?private_token=s3cr3t"),
            "https://h/x.git?***"
        );
    }

    #[test]
    fn query_strings_never_show() {
        let url = GitUrl::parse("https://git.example.com/team/config.git?token=s3cr3t").unwrap();
        assert_eq!(
            url.to_string(),
            "https://git.example.com/team/config.git?***"
        );
        assert!(!format!("{url:?}").contains("s3cr3t"));
        assert!(url.libgit2_url().contains("token=s3cr3t"));
        let error = GitUrl::parse("https://u:pw@h:99999/x?token=s3cr3t")
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains("s3cr3t") && !error.contains("pw"),
            "{error}"
        );
    }
}
