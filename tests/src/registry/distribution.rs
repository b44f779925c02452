//! Debian's `docker-registry` (distribution 2.8) as a test server.

use std::process::Command;
use std::time::Duration;

use crate::net::{free_port, loopback};
use crate::process::Server;
use crate::{Error, tools};

/// A running `docker-registry` on 127.0.0.1, with its storage in a temporary
/// directory removed on drop.
#[derive(Debug)]
pub struct DockerRegistry {
    // Declared first: the server stops before its directory goes.
    server: Server,
    port: u16,
    basic_auth: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl DockerRegistry {
    /// Starts an anonymous registry.
    pub fn start() -> Result<Self, Error> {
        Self::start_with(None)
    }

    /// Starts a registry that wants basic auth for `user` and `password`
    /// (an htpasswd file made with `htpasswd -Bbn`).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Result<Self, Error> {
        Self::start_with(Some((user, password)))
    }

    fn start_with(basic_auth: Option<(&str, &str)>) -> Result<Self, Error> {
        let binary = tools::system("docker-registry")?;
        let dir = tempfile::tempdir().map_err(|e| Error::io("creating a registry dir", e))?;
        let port = free_port()?;
        let mut config = format!(
            "version: 0.1
log: {{level: info, accesslog: {{disabled: true}}}}
storage:
  filesystem: {{rootdirectory: {data}}}
  delete: {{enabled: true}}
  maintenance: {{uploadpurging: {{enabled: false}}}}
http:
  addr: 127.0.0.1:{port}
  secret: test-only
",
            data = dir.path().join("data").display()
        );
        if let Some((user, password)) = basic_auth {
            let htpasswd = tools::system("htpasswd")?;
            let output = Command::new(&htpasswd)
                .args(["-Bbn", user, password])
                .output()
                .map_err(|e| Error::io("running htpasswd", e))?;
            if !output.status.success() {
                return Err(Error::Command {
                    command: "htpasswd -Bbn".to_owned(),
                    status: output.status.to_string(),
                    stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                });
            }
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, &output.stdout)
                .map_err(|e| Error::io("writing the htpasswd file", e))?;
            config.push_str(&format!(
                "auth:\n  htpasswd: {{realm: test-realm, path: {}}}\n",
                path.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config)
            .map_err(|e| Error::io("writing the registry config", e))?;
        let mut command = Command::new(binary);
        command.arg("serve").arg(&config_path);
        let mut server = Server::spawn("docker-registry", &command, &dir.path().join("log"))?;
        server.wait_for_port(loopback(port), Duration::from_secs(20))?;
        Ok(Self {
            server,
            port,
            basic_auth: basic_auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            _dir: dir,
        })
    }

    /// `127.0.0.1:<port>`, the registry host in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// The user name and password, for the basic-auth variant.
    pub fn basic_auth(&self) -> Option<(&str, &str)> {
        self.basic_auth
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The end of the registry's log.
    pub fn log_tail(&self) -> String {
        self.server.log_tail(4096)
    }
}
