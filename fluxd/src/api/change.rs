//! What `POST /v11/notify` takes: a change fluxd should look at now
//! (Flux's `v9.Change`).

use serde::de::{self, Deserializer};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use super::image::ImageName;

/// A change in a git repository or an image repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `{"Kind":"git","Source":{"URL":...,"Branch":...}}`.
    Git(GitUpdate),
    /// `{"Kind":"image","Source":{"Name":{"Domain":...,"Image":...}}}`.
    Image(ImageUpdate),
}

/// A branch moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GitUpdate {
    /// The repository.
    #[serde(rename = "URL")]
    pub url: String,
    /// The branch.
    #[serde(rename = "Branch")]
    pub branch: String,
}

/// An image repository has new tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageUpdate {
    /// The repository.
    #[serde(rename = "Name")]
    pub name: ImageName,
}

/// `Kind` of a git change.
pub const CHANGE_GIT: &str = "git";
/// `Kind` of an image change.
pub const CHANGE_IMAGE: &str = "image";

impl Serialize for Change {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("Change", 2)?;
        match self {
            Self::Git(source) => {
                state.serialize_field("Kind", CHANGE_GIT)?;
                state.serialize_field("Source", source)?;
            }
            Self::Image(source) => {
                state.serialize_field("Kind", CHANGE_IMAGE)?;
                state.serialize_field("Source", source)?;
            }
        }
        state.end()
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "Kind", default)]
            kind: String,
            #[serde(rename = "Source", default)]
            source: serde_json::Value,
        }
        let wire = Wire::deserialize(deserializer)?;
        let value = if wire.source.is_null() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            wire.source
        };
        match wire.kind.as_str() {
            CHANGE_GIT => GitUpdate::deserialize(value)
                .map(Self::Git)
                .map_err(|error| de::Error::custom(format_args!("git change: {error}"))),
            CHANGE_IMAGE => ImageUpdate::deserialize(value)
                .map(Self::Image)
                .map_err(|error| de::Error::custom(format_args!("image change: {error}"))),
            // Flux's ErrUnknownChange.
            _ => Err(de::Error::custom("unknown kind of change")),
        }
    }
}
