//! The Helm operator (`helmops`) with the real helm, against real servers.

mod chartrepo;
mod helm;
