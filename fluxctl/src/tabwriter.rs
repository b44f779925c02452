//! Go's `text/tabwriter` as fluxctl configured it: `NewWriter(w, 0, 2, 2,
//! ' ', 0)` (minimum width 0, tab width 2, padding 2, padded with spaces,
//! no flags). Flux's tables are its output, so scripts that cut columns
//! out of them keep working only if the bytes match.
//!
//! The rules, as Go applies them: text is cut into cells at each tab; a
//! line's last cell (after its last tab) is not in any column and never
//! padded. A column is a block of consecutive lines that all have a cell
//! in it; its width is its widest cell (in characters) plus the padding,
//! for empty cells too. Cells are written left-aligned, padded with spaces
//! to their column's width.

/// Collects text and writes it formatted on [`TabWriter::finish`].
#[derive(Debug, Default)]
pub(crate) struct TabWriter {
    /// Finished lines, each a list of cells; the last cell is the text after
    /// the line's last tab.
    lines: Vec<Vec<String>>,
    /// The line being written.
    current: Vec<String>,
    /// The cell being written.
    cell: String,
}

const MIN_WIDTH: usize = 0;
const PADDING: usize = 2;

impl TabWriter {
    /// An empty writer.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds text; tabs end cells and newlines end lines.
    pub(crate) fn write_str(&mut self, text: &str) {
        for c in text.chars() {
            match c {
                '\t' => self.current.push(std::mem::take(&mut self.cell)),
                '\n' => {
                    self.current.push(std::mem::take(&mut self.cell));
                    self.lines.push(std::mem::take(&mut self.current));
                }
                c => self.cell.push(c),
            }
        }
    }

    /// Adds one line (a newline is appended).
    pub(crate) fn line(&mut self, text: &str) {
        self.write_str(text);
        self.write_str("\n");
    }

    /// The formatted text (Go's `Flush`).
    pub(crate) fn finish(mut self) -> String {
        let trailing = if self.current.is_empty() && self.cell.is_empty() {
            None
        } else {
            self.current.push(std::mem::take(&mut self.cell));
            Some(std::mem::take(&mut self.current))
        };
        let has_trailing = trailing.is_some();
        self.lines.extend(trailing);
        let mut out = String::new();
        let mut widths = Vec::new();
        format(&self.lines, &mut widths, 0, self.lines.len(), &mut out);
        if has_trailing {
            // The last line had no newline: neither does the output.
            out.pop();
        }
        out
    }
}

fn width(cell: &str) -> usize {
    cell.chars().count()
}

/// Go's `Writer.format`: writes lines `from..to`, whose columns left of
/// `widths.len()` have the given widths.
fn format(
    lines: &[Vec<String>],
    widths: &mut Vec<usize>,
    from: usize,
    to: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut start = from;
    let mut this = from;
    while this < to {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        // A block of lines that have a cell in this column begins here.
        write_lines(lines, widths, start, this, out);
        start = this;
        let mut column_width = MIN_WIDTH;
        while this < to && column + 1 < lines[this].len() {
            column_width = column_width.max(width(&lines[this][column]) + PADDING);
            this += 1;
        }
        widths.push(column_width);
        format(lines, widths, start, this, out);
        widths.pop();
        start = this;
    }
    write_lines(lines, widths, start, to, out);
}

/// Go's `Writer.writeLines` for left-aligned, space-padded cells.
fn write_lines(lines: &[Vec<String>], widths: &[usize], from: usize, to: usize, out: &mut String) {
    for line in &lines[from..to] {
        for (index, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(column_width) = widths.get(index) {
                out.extend(std::iter::repeat_n(
                    ' ',
                    column_width.saturating_sub(width(cell)),
                ));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(text: &str) -> String {
        let mut writer = TabWriter::new();
        writer.write_str(text);
        writer.finish()
    }

    #[test]
    fn columns_are_the_widest_cell_plus_two() {
        assert_eq!(tab("a\tbb\tc\naaa\tb\tc\n"), "a    bb  c\naaa  b   c\n");
    }

    #[test]
    fn the_last_cell_is_never_padded_and_empty_cells_are() {
        assert_eq!(tab("a\t\t\nbbbb\tx\t\n"), "a        \nbbbb  x  \n");
    }

    #[test]
    fn a_line_without_that_column_ends_the_block() {
        assert_eq!(
            tab("a\tb\nlonger line\nccc\td\n"),
            "a  b\nlonger line\nccc  d\n"
        );
    }

    #[test]
    fn characters_not_bytes() {
        assert_eq!(tab("é\tx\nab\ty\n"), "é   x\nab  y\n");
    }

    #[test]
    fn text_without_final_newline() {
        assert_eq!(tab("a\tb"), "a  b");
    }
}
