//! Tag filters as tables: Flux v1's own pattern tests, the Masterminds
//! constraint forms Flux users wrote, and the ordering rules.

use std::time::{Duration, SystemTime};

use manifests::{TagCandidate, TagFilter, TagRanking};

struct Case {
    filter: &'static str,
    matching: &'static [&'static str],
    not_matching: &'static [&'static str],
}

fn check(cases: &[Case]) {
    for case in cases {
        let filter: TagFilter = case.filter.parse().unwrap_or_else(|e| panic!("{e}"));
        for tag in case.matching {
            assert!(filter.matches(tag), "{} should match {tag:?}", case.filter);
        }
        for tag in case.not_matching {
            assert!(
                !filter.matches(tag),
                "{} should not match {tag:?}",
                case.filter
            );
        }
    }
}

#[test]
fn globs() {
    check(&[
        // From Flux's pattern_test.go.
        Case {
            filter: "*",
            matching: &["", "1", "foo"],
            not_matching: &[],
        },
        Case {
            filter: "glob:*",
            matching: &["", "1", "foo"],
            not_matching: &[],
        },
        Case {
            filter: "master-*",
            matching: &["master-", "master-foo"],
            not_matching: &["", "foo-master"],
        },
        // Only `*` is special.
        Case {
            filter: "glob:v1.?",
            matching: &["v1.?"],
            not_matching: &["v1.2"],
        },
        Case {
            filter: "glob:[ab]",
            matching: &["[ab]"],
            not_matching: &["a"],
        },
        Case {
            filter: "glob:*-prod-*",
            matching: &["1-prod-2", "-prod-"],
            not_matching: &["1-prod", "prod-2"],
        },
        Case {
            filter: "latest",
            matching: &["latest"],
            not_matching: &["Latest", "latest2"],
        },
        Case {
            filter: "",
            matching: &[""],
            not_matching: &["a"],
        },
    ]);
}

#[test]
fn semver_constraints() {
    check(&[
        // From Flux's pattern_test.go.
        Case {
            filter: "semver:*",
            matching: &["1", "1.0", "v1.0.3"],
            not_matching: &["", "latest", "2.0.1-alpha.1"],
        },
        Case {
            filter: "semver:~1",
            matching: &["v1", "1", "1.2", "1.2.3"],
            not_matching: &["", "latest", "2.0.0"],
        },
        Case {
            filter: "semver:2.0.1-alpha.1",
            matching: &["2.0.1-alpha.1"],
            not_matching: &["2.0.1"],
        },
        // Tilde and caret.
        Case {
            filter: "semver:~1.2",
            matching: &["1.2.0", "1.2.9", "v1.2"],
            not_matching: &["1.3.0", "1.1.9", "1.2.5-rc.1"],
        },
        Case {
            filter: "semver:~1.2.3",
            matching: &["1.2.3", "1.2.10"],
            not_matching: &["1.2.2", "1.3.0"],
        },
        Case {
            filter: "semver:~>1.2",
            matching: &["1.2.7"],
            not_matching: &["1.3.0"],
        },
        Case {
            filter: "semver:^1.2",
            matching: &["1.2.0", "1.9.9"],
            not_matching: &["2.0.0", "1.1.0"],
        },
        Case {
            filter: "semver:^0.2.3",
            matching: &["0.2.3", "0.2.9"],
            not_matching: &["0.3.0", "0.2.2", "1.0.0"],
        },
        Case {
            filter: "semver:^0.0.3",
            matching: &["0.0.3"],
            not_matching: &["0.0.4", "0.1.0"],
        },
        Case {
            filter: "semver:^0",
            matching: &["0.0.1", "0.9.0"],
            not_matching: &["1.0.0"],
        },
        // Wildcards.
        Case {
            filter: "semver:1.2.x",
            matching: &["1.2.0", "1.2.99"],
            not_matching: &["1.3.0", "1.1.0"],
        },
        Case {
            filter: "semver:1.x",
            matching: &["1.0.0", "1.99.0"],
            not_matching: &["2.0.0"],
        },
        Case {
            filter: "semver:1.2.*",
            matching: &["1.2.4"],
            not_matching: &["1.4.2"],
        },
        Case {
            filter: "semver:1.2",
            matching: &["1.2.4"],
            not_matching: &["1.3.0"],
        },
        Case {
            filter: "semver:x",
            matching: &["0.0.1", "9.9.9"],
            not_matching: &["1.0.0-a"],
        },
        // Comparisons, separated by spaces or commas.
        Case {
            filter: "semver:>=1.0 <2.0",
            matching: &["1.0.0", "1.9.9", "v1.5"],
            not_matching: &["0.9.9", "2.0.0", "1.5.0-beta"],
        },
        Case {
            filter: "semver:>= 1.0, < 2.0",
            matching: &["1.0.0", "1.9.9"],
            not_matching: &["2.0.0", "0.1.0"],
        },
        Case {
            filter: "semver:>1.2.3",
            matching: &["1.2.4", "2.0.0"],
            not_matching: &["1.2.3", "1.2.2"],
        },
        Case {
            filter: "semver:>1.2",
            matching: &["1.3.0"],
            not_matching: &["1.2.9"],
        },
        Case {
            filter: "semver:>1",
            matching: &["2.0.0"],
            not_matching: &["1.9.9"],
        },
        Case {
            filter: "semver:<=1.2",
            matching: &["1.2.9", "0.1.0"],
            not_matching: &["1.3.0"],
        },
        Case {
            filter: "semver:=<1.2.3",
            matching: &["1.2.3"],
            not_matching: &["1.2.4"],
        },
        Case {
            filter: "semver:=>1.2.3",
            matching: &["1.2.3"],
            not_matching: &["1.2.2"],
        },
        Case {
            filter: "semver:<1.2.3",
            matching: &["1.2.2"],
            not_matching: &["1.2.3"],
        },
        Case {
            filter: "semver:=1.2.3",
            matching: &["1.2.3", "v1.2.3"],
            not_matching: &["1.2.4"],
        },
        Case {
            filter: "semver:!=1.2.3",
            matching: &["1.2.4", "1.2.2"],
            not_matching: &["1.2.3"],
        },
        Case {
            filter: "semver:!=1.2",
            matching: &["1.3.0"],
            not_matching: &["1.2.7"],
        },
        // Alternatives and hyphen ranges.
        Case {
            filter: "semver:~1.2 || ^3",
            matching: &["1.2.5", "3.4.0"],
            not_matching: &["2.0.0", "1.3.0", "4.0.0"],
        },
        Case {
            filter: "semver:1.2 - 1.4.5",
            matching: &["1.2.0", "1.3.9", "1.4.5"],
            not_matching: &["1.1.9", "1.4.6"],
        },
        Case {
            filter: "semver:1.2 - 1.4",
            matching: &["1.4.9"],
            not_matching: &["1.5.0"],
        },
        // Pre-releases only when the constraint names one.
        Case {
            filter: "semver:>=1.2.3-beta.1 <2.0.0",
            matching: &["1.2.3-beta.2", "1.2.3", "1.5.0"],
            not_matching: &["1.2.3-alpha", "1.5.0-alpha", "2.0.0-rc.1"],
        },
        Case {
            filter: "semver:>=1.0.0",
            matching: &["1.0.0+build.7"],
            not_matching: &["1.0.1-rc.1"],
        },
        // Non-semver tags never match.
        Case {
            filter: "semver:*",
            matching: &[],
            not_matching: &["latest", "master-abc1234", "1.2.3.4", "v", "1.2.3-01"],
        },
    ]);
}

#[test]
fn regexes_are_unanchored() {
    check(&[
        // From Flux's pattern_test.go.
        Case {
            filter: "regexp:(.*?)",
            matching: &["", "1", "foo"],
            not_matching: &[],
        },
        Case {
            filter: "regexp:^([a-zA-Z]+)$",
            matching: &["foo", "BAR", "fooBAR"],
            not_matching: &["1", "foo-1"],
        },
        Case {
            filter: r"regex:^\w{7}(?:\w)?$",
            matching: &["af14eb2", "bb73ed94", "946427ff"],
            not_matching: &["1", "foo", "946427ff-foo"],
        },
        Case {
            filter: "regex:prod",
            matching: &["prod", "1.0-prod-2"],
            not_matching: &["dev"],
        },
    ]);
}

#[test]
fn invalid_filters_name_the_expression() {
    for bad in [
        "semver:",
        "semver:>>1",
        "semver:1.2.3.4",
        "semver:abc",
        "semver:>=1.0,",
        "semver:1.0 -",
        "semver:||",
        "regex:(",
        "regexp:[a-",
    ] {
        let err = bad.parse::<TagFilter>().unwrap_err().to_string();
        assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
    }
}

#[test]
fn display_round_trips() {
    for (written, shown) in [
        ("*", "glob:*"),
        ("glob:v*", "glob:v*"),
        ("semver:~1.2", "semver:~1.2"),
        ("regex:^v", "regexp:^v"),
    ] {
        let filter: TagFilter = written.parse().unwrap();
        assert_eq!(filter.to_string(), shown);
        assert_eq!(shown.parse::<TagFilter>().unwrap(), filter);
    }
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
}

fn tags<'a>(ranking: &TagRanking<'a>) -> Vec<&'a str> {
    match ranking {
        TagRanking::Ordered(ordered) => ordered.iter().map(|c| c.tag.as_str()).collect(),
        TagRanking::UnknownCreationTime { .. } => panic!("no order: {ranking:?}"),
    }
}

#[test]
fn semver_filters_order_by_version() {
    let candidates = [
        TagCandidate::new("1.2.0"),
        TagCandidate::new("1.10"),
        TagCandidate::new("1.10.0"),
        TagCandidate::new("v1.9.0"),
        TagCandidate::new("latest"),
        TagCandidate::new("1.11.0-rc.1"),
    ];
    let filter: TagFilter = "semver:^1".parse().unwrap();
    let ranking = filter.rank(&candidates);
    // Equal versions: the longer spelling first, as Flux did.
    assert_eq!(tags(&ranking), ["1.10.0", "1.10", "v1.9.0", "1.2.0"]);
    // Creation times are not needed for semver.
    assert_eq!(filter.newest(&candidates).unwrap().tag, "1.10.0");
}

#[test]
fn other_filters_order_by_creation_time_then_tag() {
    let candidates = [
        TagCandidate::created_at("b", at(10)),
        TagCandidate::created_at("a", at(10)),
        TagCandidate::created_at("c", at(30)),
        TagCandidate::created_at("old", at(1)),
        TagCandidate::created_at("latest", at(99)),
        TagCandidate::created_at("LATEST", at(99)),
    ];
    let all = TagFilter::all();
    assert_eq!(tags(&all.rank(&candidates)), ["c", "a", "b", "old"]);
    let regex: TagFilter = "regex:^[ab]$".parse().unwrap();
    assert_eq!(tags(&regex.rank(&candidates)), ["a", "b"]);
}

#[test]
fn latest_only_when_asked_for_exactly() {
    let candidates = [
        TagCandidate::created_at("latest", at(99)),
        TagCandidate::created_at("1.0", at(1)),
    ];
    for filter in ["glob:latest", "latest"] {
        let filter: TagFilter = filter.parse().unwrap();
        assert_eq!(filter.newest(&candidates).unwrap().tag, "latest");
    }
    for filter in ["*", "glob:lat*", "regex:latest"] {
        let filter: TagFilter = filter.parse().unwrap();
        assert_ne!(
            filter.newest(&candidates).map(|c| c.tag.as_str()),
            Some("latest")
        );
    }
    // The bare match still says yes; only choosing drops it.
    assert!(TagFilter::all().matches("latest"));
    assert!(!TagFilter::all().admits("latest"));
}

#[test]
fn unknown_creation_time_means_no_choice() {
    let candidates = [
        TagCandidate::created_at("a", at(10)),
        TagCandidate::new("b"),
        TagCandidate::new("zzz-unmatched"),
    ];
    let glob: TagFilter = "glob:?".parse().unwrap();
    assert_eq!(glob.rank(&candidates), TagRanking::Ordered(vec![]));
    let filter: TagFilter = "regex:^[ab]$".parse().unwrap();
    assert_eq!(
        filter.rank(&candidates),
        TagRanking::UnknownCreationTime { tag: "b" }
    );
    assert_eq!(filter.newest(&candidates), None);
    // An unknown time on a tag the filter rejects does not matter.
    let only_a: TagFilter = "regex:^a$".parse().unwrap();
    assert_eq!(only_a.newest(&candidates).unwrap().tag, "a");
}
