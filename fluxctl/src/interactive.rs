//! `release --interactive`: Flux's menu of the planned container updates
//! (`pkg/update/menu.go`): each checked to begin with; arrows, `j`/`k` or
//! Tab move, Space toggles, Enter releases the checked ones, `q`, Esc or
//! Ctrl-C aborts.

use std::collections::BTreeMap;

use fluxd::api::{ContainerUpdate, ResourceId, UpdateResult, WorkloadUpdateStatus};

use crate::Io;
use crate::tabwriter::TabWriter;

const SELECTED: &str = "\u{21d2}";
const CHECKED: &str = "\u{25c9}";
const UNCHECKED: &str = "\u{25ef}";

/// One line of the menu.
#[derive(Debug, Clone)]
struct Item {
    id: ResourceId,
    status: WorkloadUpdateStatus,
    error: String,
    update: Option<ContainerUpdate>,
    checked: bool,
}

impl Item {
    fn checkable(&self) -> bool {
        self.update
            .as_ref()
            .is_some_and(|u| !u.container.is_empty())
    }

    fn updates(&self) -> String {
        match &self.update {
            Some(update) if !update.container.is_empty() => {
                format!(
                    "{}: {} -> {}",
                    update.container, update.current, update.target.tag
                )
            }
            _ => self.error.clone(),
        }
    }
}

/// The menu's items, as Flux's `fromResults` builds them.
fn items(result: &UpdateResult, verbosity: u8) -> Vec<Item> {
    let mut items = Vec::new();
    for (id, workload) in result {
        match workload.status {
            WorkloadUpdateStatus::Ignored if verbosity < 2 => continue,
            WorkloadUpdateStatus::Skipped if verbosity < 1 => continue,
            _ => {}
        }
        let item = |error: String, update: Option<ContainerUpdate>| Item {
            id: id.clone(),
            status: workload.status.clone(),
            error,
            update,
            checked: false,
        };
        if !workload.error.is_empty() {
            items.push(item(workload.error.clone(), None));
        }
        for update in &workload.per_container {
            items.push(item(String::new(), Some(update.clone())));
        }
        if workload.error.is_empty() && workload.per_container.is_empty() {
            items.push(item(String::new(), None));
        }
    }
    for item in &mut items {
        item.checked = item.checkable();
    }
    items
}

/// The menu as Flux draws it, with the cursor on the `cursor`th checkable item.
fn render(items: &[Item], cursor: usize) -> String {
    let mut w = TabWriter::new();
    w.line("    WORKLOAD \tSTATUS \tUPDATES");
    let mut index = 0;
    let mut previous: Option<&ResourceId> = None;
    for item in items {
        let inline = previous == Some(&item.id);
        let pointer = if index == cursor { SELECTED } else { " " };
        let checkbox = match (item.checkable(), item.checked) {
            (false, _) => " ",
            (true, true) => CHECKED,
            (true, false) => UNCHECKED,
        };
        let row = if inline {
            format!("\t\t{}", item.updates())
        } else {
            format!("{}\t{}\t{}", item.id, item.status, item.updates())
        };
        w.line(&format!("{pointer} {checkbox} {row}"));
        previous = Some(&item.id);
        if item.checkable() {
            index += 1;
        }
    }
    w.line("");
    w.line("Use arrow keys and [Space] to toggle updates; hit [Enter] to release selected.");
    w.finish()
}

/// Runs the menu on the terminal: the chosen updates per workload, or the
/// message Flux prints when there is nothing to choose or the user aborts.
pub(crate) fn choose(
    io: &mut Io<'_>,
    result: &UpdateResult,
    verbosity: u8,
) -> Result<BTreeMap<ResourceId, Vec<ContainerUpdate>>, String> {
    let mut items = items(result, verbosity);
    let selectable = items.iter().filter(|i| i.checkable()).count();
    if selectable == 0 {
        return Err("No changes found.".to_owned());
    }
    if !io.terminal {
        return Err("--interactive needs a terminal to read keys from".to_owned());
    }
    let term = console::Term::stderr();
    let width = usize::from(term.size().1).max(1);
    let mut cursor = 0;
    let mut drawn = 0;
    let mut draw = |io: &mut Io<'_>, items: &[Item], cursor: usize| {
        let text = render(items, cursor);
        if drawn > 0 {
            let _ = write!(io.out, "\x1b[{drawn}A");
        }
        drawn = text
            .lines()
            .map(|l| l.chars().count().saturating_sub(1) / width + 1)
            .sum();
        let _ = write!(io.out, "{text}");
        let _ = io.out.flush();
    };
    let _ = write!(io.out, "\x1b[?25l");
    draw(io, &items, cursor);
    let outcome = loop {
        let key = match term.read_key() {
            Ok(key) => key,
            Err(error) => break Err(format!("reading the keyboard: {error}")),
        };
        match key {
            console::Key::Char('q') | console::Key::Escape | console::Key::CtrlC => {
                break Err("Aborted.".to_owned());
            }
            console::Key::Char(' ') => {
                if let Some(item) = items.iter_mut().filter(|i| i.checkable()).nth(cursor) {
                    item.checked = !item.checked;
                }
            }
            console::Key::Enter => {
                let mut chosen: BTreeMap<ResourceId, Vec<ContainerUpdate>> = BTreeMap::new();
                for item in items.iter().filter(|i| i.checked) {
                    if let Some(update) = &item.update {
                        chosen
                            .entry(item.id.clone())
                            .or_default()
                            .push(update.clone());
                    }
                }
                break Ok(chosen);
            }
            console::Key::Tab | console::Key::Char('j') | console::Key::ArrowDown => {
                cursor = (cursor + 1) % selectable;
            }
            console::Key::Char('k') | console::Key::ArrowUp => {
                cursor = (cursor + selectable - 1) % selectable;
            }
            _ => continue,
        }
        draw(io, &items, cursor);
    };
    let _ = write!(io.out, "\x1b[?25h");
    let _ = io.out.flush();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxd::api::WorkloadResult;

    #[test]
    fn the_menu_as_flux_draws_it() {
        let update = |c: &str, tag: &str| ContainerUpdate {
            container: c.into(),
            current: "quay.io/weaveworks/helloworld:master-a000002"
                .parse()
                .unwrap(),
            target: format!("quay.io/weaveworks/helloworld:{tag}")
                .parse()
                .unwrap(),
        };
        let mut result = UpdateResult::new();
        result.insert(
            "default:deployment/helloworld".parse().unwrap(),
            WorkloadResult {
                status: WorkloadUpdateStatus::Success,
                error: String::new(),
                per_container: vec![
                    update("helloworld", "master-a000001"),
                    update("sidecar", "master-a000001"),
                ],
            },
        );
        let mut items = items(&result, 0);
        items[1].checked = false;
        assert_eq!(
            render(&items, 1),
            "    WORKLOAD                       STATUS   UPDATES
  \u{25c9} default:deployment/helloworld  success  helloworld: quay.io/weaveworks/helloworld:master-a000002 -> master-a000001
\u{21d2} \u{25ef}                                         sidecar: quay.io/weaveworks/helloworld:master-a000002 -> master-a000001

Use arrow keys and [Space] to toggle updates; hit [Enter] to release selected.
"
        );
    }
}
