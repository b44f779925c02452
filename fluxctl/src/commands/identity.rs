//! `identity`: the deploy key (`-r` regenerates it first), its md5
//! fingerprint (`-l`), with randomart (`-v`).

use super::Context;
use crate::Io;
use crate::cli::Identity;
use crate::error::{Error, no_args};

/// `identity`: `POST /v9/git-repo-config` with body `-r`.
pub(crate) async fn run(
    context: &mut Context<'_>,
    io: &mut Io<'_>,
    args: Identity,
) -> Result<(), Error> {
    no_args(&args.args)?;
    let client = context.client().await?;
    let config = client.git_repo_config(args.regenerate).await?;
    let key = config.public_ssh_key;
    if args.fingerprint || args.visual {
        let md5 = key.md5().cloned().unwrap_or_default();
        let _ = writeln!(io.out, "{}", md5.hash);
        if args.visual {
            let _ = write!(io.out, "{}", md5.randomart);
        }
    } else {
        let _ = write!(io.out, "{}", key.key);
    }
    Ok(())
}
