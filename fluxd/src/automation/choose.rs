//! Choosing a container's next image from the registry's tags, by Flux v1's
//! rules (`pkg/daemon/images.go`, `pkg/policy/pattern.go`).
//!
//! - The candidates are the repository's tags that the container's filter
//!   admits (`latest` only when the filter is exactly `glob:latest`).
//! - Glob and regex filters order by the image's creation time, semver
//!   filters by version; the first is the newest.
//! - Missing or inconsistent metadata skips the container with a reason
//!   rather than guessing: no data for the repository, a candidate without a
//!   creation time under a time-ordered filter, the current image without one.
//! - A change keeps the manifest's spelling of the image name and replaces
//!   only the tag.

use std::time::SystemTime;

use manifests::{TagCandidate, TagFilter, TagRanking};
use registry_poller::{RepositorySnapshot, TagInfo};

/// What automation does with one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Move to `target` (the current reference with its tag replaced).
    Update {
        /// The new reference, in the manifest's spelling.
        target: String,
        /// Why, as Flux logged it: `latest <tag> (<time>) > current <tag> (<time>)`.
        reason: String,
    },
    /// The newest admitted tag is the one in use.
    UpToDate,
    /// No choice is made; why.
    Skip(String),
}

/// The tag of a reference as written (`nginx:1.25` gives `1.25`), `None`
/// when it has none or is pinned by digest.
pub(crate) fn tag_of(reference: &str) -> Option<&str> {
    if reference.contains('@') {
        return None;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    last.split_once(':').map(|(_, tag)| tag)
}

/// `reference` with its tag (or digest) replaced by `tag`, the rest as
/// written: `127.0.0.1:5000/team/app:1.0` to `127.0.0.1:5000/team/app:1.1`.
pub(crate) fn retag(reference: &str, tag: &str) -> String {
    let name = reference
        .split_once('@')
        .map_or(reference, |(name, _)| name);
    let (path, last) = match name.rsplit_once('/') {
        Some((path, last)) => (Some(path), last),
        None => (None, name),
    };
    let last = last.split_once(':').map_or(last, |(image, _)| image);
    match path {
        Some(path) => format!("{path}/{last}:{tag}"),
        None => format!("{last}:{tag}"),
    }
}

/// What the registry poller knows of a container's repository: its tags
/// (sorted by name), or why there is nothing to choose from.
pub(crate) fn known_tags(repository: Option<&RepositorySnapshot>) -> Result<&[TagInfo], String> {
    let Some(repository) = repository else {
        return Err("image data not available".to_owned());
    };
    if repository.last_success().is_none() {
        return Err(match repository.last_error() {
            Some(error) => format!("image data not available: {}", error.message),
            None => "image data not available (not fetched yet)".to_owned(),
        });
    }
    Ok(repository.tags())
}

/// The next image of a container whose image is `current` (as written in
/// the manifest), filtered by `filter`, from the tags of its repository
/// ([`known_tags`]).
pub(crate) fn choose(
    current: &str,
    filter: &TagFilter,
    tags: Result<&[TagInfo], String>,
) -> Choice {
    let tags = match tags {
        Ok(tags) => tags,
        Err(why) => return Choice::Skip(why),
    };
    let candidates: Vec<TagCandidate> = tags
        .iter()
        .map(|tag| TagCandidate {
            tag: tag.name().to_owned(),
            created: tag.created(),
        })
        .collect();
    let latest = match filter.rank(&candidates) {
        TagRanking::Ordered(ordered) => match ordered.first() {
            Some(latest) => *latest,
            None => return Choice::Skip(format!("no tag matches the filter {filter}")),
        },
        TagRanking::UnknownCreationTime { tag } => {
            return Choice::Skip(format!("image with zero created timestamp: tag {tag}"));
        }
    };
    let current_tag = tag_of(current);
    if current_tag == Some(latest.tag.as_str()) {
        return Choice::UpToDate;
    }
    let current_created = current_tag
        .and_then(|tag| tags.iter().find(|t| t.name() == tag))
        .and_then(TagInfo::created);
    if filter.orders_by_creation_time() && current_created.is_none() {
        return Choice::Skip(format!(
            "image with zero created timestamp: the current tag {} is not known to the registry with a creation time",
            current_tag.unwrap_or("(none)")
        ));
    }
    Choice::Update {
        target: retag(current, &latest.tag),
        reason: format!(
            "latest {} ({}) > current {} ({})",
            latest.tag,
            time(latest.created),
            current_tag.unwrap_or(""),
            time(current_created)
        ),
    }
}

fn time(at: Option<SystemTime>) -> String {
    match at.map(jiff::Timestamp::try_from) {
        Some(Ok(at)) => at.to_string(),
        _ => "0001-01-01T00:00:00Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn retag_keeps_the_spelling() {
        assert_eq!(retag("nginx:1.25", "1.27"), "nginx:1.27");
        assert_eq!(retag("nginx", "1.27"), "nginx:1.27");
        assert_eq!(
            retag("127.0.0.1:5000/team/app:1.0", "1.1"),
            "127.0.0.1:5000/team/app:1.1"
        );
        assert_eq!(
            retag("docker.io/library/nginx@sha256:abc", "2"),
            "docker.io/library/nginx:2"
        );
        assert_eq!(tag_of("127.0.0.1:5000/team/app"), None);
        assert_eq!(tag_of("127.0.0.1:5000/team/app:1.0"), Some("1.0"));
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
    }

    fn tag(name: &str, created: Option<u64>) -> TagInfo {
        let digest: registry_poller::Digest = format!(
            "sha256:{:064x}",
            name.len() * 7 + created.unwrap_or(0) as usize
        )
        .parse()
        .unwrap();
        TagInfo::new(name, digest, created.map(at))
    }

    fn target(choice: Choice) -> String {
        match choice {
            Choice::Update { target, .. } => target,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn semver_picks_1_10_0_over_1_9_9_and_never_latest() {
        let tags = [
            tag("1.9.9", Some(30)),
            tag("1.10.0", Some(10)),
            tag("latest", Some(50)),
            tag("1.10", Some(10)),
            tag("nightly", Some(60)),
        ];
        let filter = TagFilter::parse("semver:~1").unwrap();
        assert_eq!(
            target(choose("reg.example.com/app:1.9.9", &filter, Ok(&tags))),
            "reg.example.com/app:1.10.0"
        );
        assert_eq!(
            choose("reg.example.com/app:1.10.0", &filter, Ok(&tags)),
            Choice::UpToDate
        );
    }

    #[test]
    fn glob_picks_by_creation_time_and_latest_only_when_asked() {
        let tags = [
            tag("main-3", Some(10)),
            tag("main-1", Some(30)),
            tag("dev-9", Some(90)),
            tag("latest", Some(99)),
        ];
        let main = TagFilter::parse("glob:main-*").unwrap();
        assert_eq!(target(choose("app:main-3", &main, Ok(&tags))), "app:main-1");
        let all = TagFilter::all();
        assert_eq!(target(choose("app:main-3", &all, Ok(&tags))), "app:dev-9");
        let latest = TagFilter::parse("glob:latest").unwrap();
        assert_eq!(
            target(choose("app:main-3", &latest, Ok(&tags))),
            "app:latest"
        );
        let regex = TagFilter::parse("regex:^main-[0-9]$").unwrap();
        assert_eq!(target(choose("app:dev-9", &regex, Ok(&tags))), "app:main-1");
    }

    #[test]
    fn missing_metadata_skips_with_a_reason() {
        let unknown_time = [tag("a", None), tag("b", Some(5))];
        let Choice::Skip(why) = choose("app:b", &TagFilter::all(), Ok(&unknown_time)) else {
            panic!()
        };
        assert!(why.contains("zero created timestamp"), "{why}");
        // The current tag is not in the registry: no creation time to compare.
        let tags = [tag("b", Some(5))];
        let Choice::Skip(why) = choose("app:gone", &TagFilter::all(), Ok(&tags)) else {
            panic!()
        };
        assert!(why.contains("current tag gone"), "{why}");
        // Semver needs no times.
        let semver = TagFilter::parse("semver:*").unwrap();
        let tags = [tag("1.0.0", None), tag("1.2.0", None)];
        assert_eq!(target(choose("app:1.0.0", &semver, Ok(&tags))), "app:1.2.0");
        let Choice::Skip(why) = choose("app:1", &semver, Err("image data not available".into()))
        else {
            panic!()
        };
        assert_eq!(why, "image data not available");
        let Choice::Skip(why) = choose("app:1", &semver, Ok(&[])) else {
            panic!()
        };
        assert!(why.contains("no tag matches"), "{why}");
        assert_eq!(known_tags(None).unwrap_err(), "image data not available");
    }
}
