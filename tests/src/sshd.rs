//! A real OpenSSH server on 127.0.0.1 for git over ssh with a deploy key.
//!
//! sshd must run as root here and wants `/run/sshd`; it runs in a private
//! mount namespace (`unshare -m`) with the fixture's own directory bound on
//! `/run`, so nothing changes system-wide. It accepts one ed25519 client key
//! for `root`; git URLs are `ssh://root@127.0.0.1:PORT/<absolute path>`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::Error;
use crate::net::{free_port, loopback};
use crate::process::Server;

/// A running sshd with its host key and one authorised client key.
#[derive(Debug)]
pub struct Sshd {
    server: Server,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// Generates a host key and a client key, then starts sshd on a free port.
    pub fn start() -> Result<Self, Error> {
        let sshd = crate::tools::system("sshd")?;
        let unshare = crate::tools::system("unshare")?;
        let dir = tempfile::Builder::new()
            .prefix("sshd-fixture-")
            .tempdir()
            .map_err(|e| Error::io("creating the sshd directory", e))?;
        let path = dir.path();
        let run = path.join("run");
        std::fs::create_dir_all(run.join("sshd"))
            .map_err(|e| Error::io(format!("creating {}", run.display()), e))?;
        keygen(&path.join("host_ed25519"))?;
        keygen(&path.join("client_ed25519"))?;
        std::fs::copy(
            path.join("client_ed25519.pub"),
            path.join("authorized_keys"),
        )
        .map_err(|e| Error::io("writing authorized_keys", e))?;
        let port = free_port()?;
        let config = path.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {dir}/host_ed25519\n\
                 PidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {dir}/authorized_keys\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 PermitRootLogin prohibit-password\n\
                 StrictModes no\n\
                 AllowUsers root\n",
                dir = path.display()
            ),
        )
        .map_err(|e| Error::io(format!("writing {}", config.display()), e))?;
        let mut command = Command::new(unshare);
        command
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind '{run}' /run && exec '{sshd}' -D -e -f '{config}'",
                run = run.display(),
                sshd = sshd.display(),
                config = config.display()
            ));
        let mut server = Server::spawn("sshd", &command, &path.join("sshd.log"))?;
        server.wait_for_port(loopback(port), Duration::from_secs(10))?;
        Ok(Self { server, port, dir })
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ssh://root@127.0.0.1:PORT<path>` for an absolute `path`.
    pub fn url(&self, path: &Path) -> String {
        format!("ssh://root@127.0.0.1:{}{}", self.port, path.display())
    }

    /// Path of the authorised client's private key.
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// The authorised client's private key (OpenSSH format).
    pub fn client_key(&self) -> Result<String, Error> {
        let path = self.client_key_path();
        std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))
    }

    /// Authorises exactly these one-line OpenSSH public keys (replacing the
    /// fixture's own client key), as adding a deploy key with write access.
    pub fn authorize(&self, public_keys: &[&str]) -> Result<(), Error> {
        let text: String = public_keys
            .iter()
            .map(|key| format!("{}\n", key.trim()))
            .collect();
        self.write_authorized_keys(&text)
    }

    /// Authorises `public_key` for fetching only, as a read-only deploy key:
    /// anything but `git-upload-pack` is refused with a message on stderr.
    pub fn authorize_read_only(&self, public_key: &str) -> Result<(), Error> {
        let script = self.dir.path().join("read-only.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\ncase \"$SSH_ORIGINAL_COMMAND\" in\n  git-upload-pack*) exec sh -c \"$SSH_ORIGINAL_COMMAND\" ;;\n  *) echo 'ERROR: The key you are authenticating with has been marked as read only.' >&2; exit 1 ;;\nesac\n",
        )
        .map_err(|e| Error::io("writing the read-only command", e))?;
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| Error::io("making the read-only command executable", e))?;
        self.write_authorized_keys(&format!(
            "command=\"{}\",no-port-forwarding,no-pty {}\n",
            script.display(),
            public_key.trim()
        ))
    }

    fn write_authorized_keys(&self, text: &str) -> Result<(), Error> {
        let path = self.dir.path().join("authorized_keys");
        std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// A known_hosts line with the server's real host key.
    pub fn known_hosts_line(&self) -> Result<String, Error> {
        self.known_hosts_line_for_port(self.port)
    }

    /// A known_hosts line with the server's real host key, for the server
    /// reached on `port` (through a proxy).
    pub fn known_hosts_line_for_port(&self, port: u16) -> Result<String, Error> {
        let path = self.dir.path().join("host_ed25519.pub");
        let public = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Ok(known_hosts_line(port, &public))
    }

    /// A known_hosts line for this server with some other ed25519 key.
    pub fn wrong_known_hosts_line(&self) -> Result<String, Error> {
        let path = self.dir.path().join("impostor_ed25519");
        if !path.exists() {
            keygen(&path)?;
        }
        let public = std::fs::read_to_string(path.with_extension("pub"))
            .map_err(|e| Error::io("reading the impostor key", e))?;
        Ok(known_hosts_line(self.port, &public))
    }

    /// The end of sshd's log.
    pub fn log_tail(&self) -> String {
        self.server.log_tail(4096)
    }
}

fn known_hosts_line(port: u16, public_key: &str) -> String {
    let mut fields = public_key.split_whitespace();
    let key_type = fields.next().unwrap_or_default();
    let key = fields.next().unwrap_or_default();
    format!("[127.0.0.1]:{port} {key_type} {key}\n")
}

fn keygen(path: &Path) -> Result<(), Error> {
    let output = Command::new(crate::tools::system("ssh-keygen")?)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "fixture", "-f"])
        .arg(path)
        .output()
        .map_err(|e| Error::io("running ssh-keygen", e))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: format!("ssh-keygen -t ed25519 -f {}", path.display()),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}
