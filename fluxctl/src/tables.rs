//! fluxctl's tables, byte for byte as Flux v1's fluxctl prints them
//! (`cmd/fluxctl/format.go`, `release_cmd.go`, `pkg/update/menu.go`).

use fluxd::api::{
    ControllerStatus, ImageStatus, NO_IMAGE_DATA, UpdateResult, WorkloadUpdateStatus,
};

use crate::tabwriter::TabWriter;

/// The POLICY column: the boolean policies set, sorted, comma-joined.
pub(crate) fn policies(workload: &ControllerStatus) -> String {
    let mut set = Vec::new();
    if workload.automated {
        set.push("automated");
    }
    if workload.locked {
        set.push("locked");
    }
    if workload.ignore {
        set.push("ignore");
    }
    set.sort_unstable();
    set.join(",")
}

/// `list-workloads`' table (workloads already sorted).
pub(crate) fn workloads(workloads: &[ControllerStatus], no_headers: bool) -> String {
    let mut w = TabWriter::new();
    if !no_headers {
        w.line("WORKLOAD\tCONTAINER\tIMAGE\tRELEASE\tPOLICY");
    }
    for workload in workloads {
        match workload.containers.split_first() {
            Some((first, rest)) => {
                w.line(&format!(
                    "{}\t{}\t{}\t{}\t{}",
                    workload.id,
                    first.name,
                    first.current.id,
                    workload.status,
                    policies(workload)
                ));
                for container in rest {
                    w.line(&format!(
                        "\t{}\t{}\t\t",
                        container.name, container.current.id
                    ));
                }
            }
            None => w.line(&format!(
                "{}\t\t\t{}\t{}",
                workload.id,
                workload.status,
                policies(workload)
            )),
        }
    }
    w.finish()
}

/// A time as Go's `time.RFC822` in UTC (`20 Mar 20 13:53 UTC`).
fn rfc822(time: jiff::Timestamp) -> String {
    time.strftime("%d %b %y %H:%M UTC").to_string()
}

/// `list-images`' table (images already sorted); `limit` 0 shows all.
pub(crate) fn images(images: &[ImageStatus], limit: usize, no_headers: bool) -> String {
    let mut w = TabWriter::new();
    if !no_headers {
        w.line("WORKLOAD\tCONTAINER\tIMAGE\tCREATED");
    }
    for image in images {
        if image.containers.is_empty() {
            w.line(&format!("{}\t\t\t", image.id));
            continue;
        }
        let mut workload = image.id.to_string();
        for container in &image.containers {
            let current = &container.current.id;
            let registry = if current.domain.is_empty() {
                String::new()
            } else {
                format!("{}/", current.domain)
            };
            if container.available.is_empty() {
                let error = if container.available_error.is_empty() {
                    NO_IMAGE_DATA
                } else {
                    &container.available_error
                };
                w.line(&format!(
                    "{workload}\t{}\t{registry}{}\t{error}",
                    container.name, current.image
                ));
            } else {
                w.line(&format!(
                    "{workload}\t{}\t{registry}{}\t",
                    container.name, current.image
                ));
            }
            let mut found_running = false;
            for (index, available) in container.available.iter().enumerate() {
                let line_count = index + 1;
                let tag = &available.id.tag;
                let mark = if *tag == current.tag {
                    found_running = true;
                    "'->"
                } else if found_running {
                    "   "
                } else {
                    "|  "
                };
                let (ellipsis, print) = if limit == 0 || line_count <= limit {
                    (false, true)
                } else if *current == available.id {
                    (line_count > limit + 1, true)
                } else {
                    (false, false)
                };
                if ellipsis {
                    w.line(&format!(
                        "\t\t: ({} image(s) omitted)\t",
                        line_count - limit - 1
                    ));
                }
                if print {
                    let created = available.created_at.map(rfc822).unwrap_or_default();
                    w.line(&format!("\t\t{mark} {tag}\t{created}"));
                }
            }
            if !found_running {
                let tag = if current.tag.is_empty() {
                    "(untagged)"
                } else {
                    &current.tag
                };
                w.line(&format!("\t\t'-> {tag}\t?"));
            }
            workload.clear();
        }
    }
    w.finish()
}

/// The results of a release or policy job (`update.PrintResults`): `-v`
/// adds skipped workloads, `-vv` ignored ones too.
pub(crate) fn results(result: &UpdateResult, verbosity: u8) -> String {
    let mut w = TabWriter::new();
    w.line("WORKLOAD \tSTATUS \tUPDATES");
    for (id, workload) in result {
        match workload.status {
            WorkloadUpdateStatus::Ignored if verbosity < 2 => continue,
            WorkloadUpdateStatus::Skipped if verbosity < 1 => continue,
            _ => {}
        }
        let mut items: Vec<String> = Vec::new();
        if !workload.error.is_empty() {
            items.push(workload.error.clone());
        }
        for update in &workload.per_container {
            items.push(if update.container.is_empty() {
                // Flux shows a container update without a name as the
                // (empty) error text.
                String::new()
            } else {
                format!(
                    "{}: {} -> {}",
                    update.container, update.current, update.target.tag
                )
            });
        }
        if items.is_empty() {
            items.push(String::new());
        }
        for (index, item) in items.iter().enumerate() {
            if index == 0 {
                w.line(&format!("{id}\t{}\t{item}", workload.status));
            } else {
                w.line(&format!("\t\t{item}"));
            }
        }
    }
    w.finish()
}

/// One workload's rollout while `release --watch` follows it, with the
/// empty line Flux prints after each.
pub(crate) fn rollout(workload: &ControllerStatus, verbosity: u8) -> String {
    let mut w = TabWriter::new();
    w.line("WORKLOAD\tCONTAINER\tIMAGE\tRELEASE\tREPLICAS");
    let rollout = &workload.rollout;
    let detail = if verbosity > 0 {
        format!(" ({} outdated, {} ready)", rollout.outdated, rollout.ready)
    } else {
        String::new()
    };
    match workload.containers.split_first() {
        Some((first, rest)) => {
            w.line(&format!(
                "{}\t{}\t{}\t{}\t{}/{}{detail}",
                workload.id,
                first.name,
                first.current.id,
                workload.status,
                rollout.updated,
                rollout.desired
            ));
            for container in rest {
                w.line(&format!(
                    "\t{}\t{}\t\t",
                    container.name, container.current.id
                ));
            }
        }
        None => w.line(&format!(
            "{}\t\t\t{}\t{}/{}{detail}",
            workload.id, workload.status, rollout.updated, rollout.desired
        )),
    }
    w.line("");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    use fluxd::api::{Container, ImageInfo, ImageRef, ResourceId, WorkloadResult};

    fn id(text: &str) -> ResourceId {
        text.parse().unwrap()
    }

    fn image(text: &str) -> ImageRef {
        text.parse().unwrap()
    }

    fn container(name: &str, current: &str) -> Container {
        Container {
            name: name.to_owned(),
            current: ImageInfo::of(if current.is_empty() {
                ImageRef::default()
            } else {
                image(current)
            }),
            ..Container::default()
        }
    }

    fn time(text: &str) -> Option<jiff::Timestamp> {
        Some(text.parse().unwrap())
    }

    /// test/e2e/15_fluxctl_list.bats, `fluxctl list-workloads`.
    #[test]
    fn list_workloads_as_the_flux_e2e_expects() {
        let mut podinfo = ControllerStatus::new(id("demo:deployment/podinfo"));
        podinfo.containers = vec![
            container("podinfod", "stefanprodan/podinfo:3.1.0"),
            container("init", "alpine:3.10.1"),
        ];
        podinfo.status = "ready".into();
        podinfo.automated = true;
        podinfo.locked = true;
        let mut ghost = ControllerStatus::new(id("demo:helmrelease/ghost"));
        ghost.containers = vec![container("chart-image", "bitnami/ghost:3.1.1-debian-9-r0")];
        let mut mongodb = ControllerStatus::new(id("demo:helmrelease/mongodb"));
        mongodb.containers = vec![container("chart-image", "bitnami/mongodb:4.0.13")];
        let mut redis = ControllerStatus::new(id("demo:helmrelease/redis"));
        redis.containers = vec![container("chart-image", "bitnami/redis:5.0.7")];
        redis.automated = true;
        redis.locked = true;
        assert_eq!(
            workloads(&[podinfo, ghost, mongodb, redis], false),
            "WORKLOAD                  CONTAINER    IMAGE                            RELEASE  POLICY
demo:deployment/podinfo   podinfod     stefanprodan/podinfo:3.1.0       ready    automated,locked
                          init         alpine:3.10.1                             
demo:helmrelease/ghost    chart-image  bitnami/ghost:3.1.1-debian-9-r0           
demo:helmrelease/mongodb  chart-image  bitnami/mongodb:4.0.13                    
demo:helmrelease/redis    chart-image  bitnami/redis:5.0.7                       automated,locked
"
        );
    }

    #[test]
    fn list_workloads_without_containers_or_headers() {
        let mut cron = ControllerStatus::new(id("default:cronjob/backup"));
        cron.status = "ready".into();
        cron.ignore = true;
        cron.locked = true;
        assert_eq!(
            workloads(&[cron], true),
            "default:cronjob/backup      ready  ignore,locked\n"
        );
    }

    /// test/e2e/15_fluxctl_list.bats, `fluxctl list-images`.
    #[test]
    fn list_images_as_the_flux_e2e_expects() {
        let mut podinfod = container("podinfod", "stefanprodan/podinfo:3.1.0");
        podinfod.available = vec![
            ImageInfo {
                created_at: time("2020-03-20T13:53:00Z"),
                ..ImageInfo::of(image("stefanprodan/podinfo:3.1.0"))
            },
            ImageInfo {
                created_at: time("2020-04-20T13:53:00Z"),
                ..ImageInfo::of(image("stefanprodan/podinfo:3.0.5"))
            },
        ];
        let init = Container {
            available_error: NO_IMAGE_DATA.into(),
            ..container("init", "")
        };
        let mut chart = container("chart-image", "bitnami/ghost:3.1.1-debian-9-r0");
        chart.available = vec![
            ImageInfo {
                created_at: time("2020-02-20T13:53:00Z"),
                ..ImageInfo::of(image("bitnami/ghost:3.1.1-debian-9-r0"))
            },
            ImageInfo {
                created_at: time("2020-01-20T13:53:00Z"),
                ..ImageInfo::of(image("bitnami/ghost:3.0.2-debian-9-r3"))
            },
        ];
        let unknown = || Container {
            available_error: NO_IMAGE_DATA.into(),
            ..container("chart-image", "")
        };
        let list = [
            ImageStatus {
                id: id("demo:deployment/podinfo"),
                containers: vec![podinfod, init],
            },
            ImageStatus {
                id: id("demo:helmrelease/ghost"),
                containers: vec![chart],
            },
            ImageStatus {
                id: id("demo:helmrelease/mongodb"),
                containers: vec![unknown()],
            },
            ImageStatus {
                id: id("demo:helmrelease/redis"),
                containers: vec![unknown()],
            },
        ];
        assert_eq!(
            images(&list, 10, false),
            "WORKLOAD                  CONTAINER    IMAGE                  CREATED
demo:deployment/podinfo   podinfod     stefanprodan/podinfo   
                                       '-> 3.1.0              20 Mar 20 13:53 UTC
                                           3.0.5              20 Apr 20 13:53 UTC
                          init                                image data not available
                                       '-> (untagged)         ?
demo:helmrelease/ghost    chart-image  bitnami/ghost          
                                       '-> 3.1.1-debian-9-r0  20 Feb 20 13:53 UTC
                                           3.0.2-debian-9-r3  20 Jan 20 13:53 UTC
demo:helmrelease/mongodb  chart-image                         image data not available
                                       '-> (untagged)         ?
demo:helmrelease/redis    chart-image                         image data not available
                                       '-> (untagged)         ?
"
        );
    }

    #[test]
    fn list_images_limit_keeps_the_running_tag() {
        let mut app = container("app", "quay.io/org/app:1");
        app.available = ["5", "4", "3", "2", "1"]
            .iter()
            .map(|tag| ImageInfo::of(image(&format!("quay.io/org/app:{tag}"))))
            .collect();
        let list = [ImageStatus {
            id: id("default:deployment/app"),
            containers: vec![app],
        }];
        let indent = " ".repeat(29);
        let expected = format!(
            "default:deployment/app  app  quay.io/org/app         \n\
             {indent}|   5                   \n\
             {indent}|   4                   \n\
             {indent}: (2 image(s) omitted)  \n\
             {indent}'-> 1                   \n"
        );
        assert_eq!(images(&list, 2, true), expected);
    }

    #[test]
    fn list_images_of_a_workload_without_containers() {
        let list = [ImageStatus {
            id: id("default:cronjob/x"),
            containers: vec![],
        }];
        assert_eq!(images(&list, 10, true), "default:cronjob/x      \n");
    }

    /// pkg/update/print_test.go, all three examples.
    #[test]
    fn results_as_flux_prints_them() {
        let update = fluxd::api::ContainerUpdate {
            container: "helloworld".into(),
            current: image("quay.io/weaveworks/helloworld:master-a000002"),
            target: image("quay.io/weaveworks/helloworld:master-a000001"),
        };
        let mut result = UpdateResult::new();
        result.insert(
            id("default/helloworld"),
            WorkloadResult {
                status: WorkloadUpdateStatus::Success,
                error: String::new(),
                per_container: vec![update.clone()],
            },
        );
        assert_eq!(
            results(&result, 0),
            "WORKLOAD            STATUS   UPDATES
default/helloworld  success  helloworld: quay.io/weaveworks/helloworld:master-a000002 -> master-a000001
"
        );
        result.get_mut(&id("default/helloworld")).unwrap().error = "test error".into();
        assert_eq!(
            results(&result, 0),
            "WORKLOAD            STATUS   UPDATES
default/helloworld  success  test error
                             helloworld: quay.io/weaveworks/helloworld:master-a000002 -> master-a000001
"
        );
        let mut result = UpdateResult::new();
        for name in ["d", "c", "b", "a"] {
            result.insert(
                id(&format!("default/{name}")),
                WorkloadResult {
                    status: WorkloadUpdateStatus::Success,
                    error: String::new(),
                    per_container: vec![],
                },
            );
        }
        assert_eq!(
            results(&result, 0),
            "WORKLOAD   STATUS   UPDATES
default/a  success  
default/b  success  
default/c  success  
default/d  success  
"
        );
    }

    #[test]
    fn results_verbosity() {
        let mut result = UpdateResult::new();
        for (name, status, error) in [
            ("a", WorkloadUpdateStatus::Success, ""),
            ("b", WorkloadUpdateStatus::Skipped, "image(s) up to date"),
            ("c", WorkloadUpdateStatus::Ignored, "does not use image(s)"),
        ] {
            result.insert(
                id(&format!("default:deployment/{name}")),
                WorkloadResult {
                    status,
                    error: error.into(),
                    per_container: vec![],
                },
            );
        }
        assert_eq!(
            results(&result, 0),
            "WORKLOAD              STATUS   UPDATES\ndefault:deployment/a  success  \n"
        );
        assert_eq!(
            results(&result, 1),
            "WORKLOAD              STATUS   UPDATES\ndefault:deployment/a  success  \ndefault:deployment/b  skipped  image(s) up to date\n"
        );
        assert!(
            results(&result, 2).ends_with("default:deployment/c  ignored  does not use image(s)\n")
        );
    }

    #[test]
    fn rollout_tables() {
        let mut w = ControllerStatus::new(id("default:deployment/helloworld"));
        w.containers = vec![
            container("helloworld", "quay.io/weaveworks/helloworld:master-a000001"),
            container("sidecar", "sidecar:v1"),
        ];
        w.status = "updating".into();
        w.rollout.desired = 2;
        w.rollout.updated = 1;
        w.rollout.outdated = 1;
        w.rollout.ready = 1;
        assert_eq!(
            rollout(&w, 0),
            "WORKLOAD                       CONTAINER   IMAGE                                         RELEASE   REPLICAS
default:deployment/helloworld  helloworld  quay.io/weaveworks/helloworld:master-a000001  updating  1/2
                               sidecar     sidecar:v1                                              
\n"
        );
        w.containers.clear();
        assert_eq!(
            rollout(&w, 1),
            "WORKLOAD                       CONTAINER  IMAGE  RELEASE   REPLICAS
default:deployment/helloworld                    updating  1/2 (1 outdated, 1 ready)
\n"
        );
    }
}
