//! Splitting a YAML stream into its documents with a byte scan.
//!
//! YAML forbids a line that starts with `---` or `...` (followed by a space,
//! a tab or the end of the line) inside any content, quoted and block scalars
//! included: such a line always starts or ends a document. So the documents of
//! a file can be found by looking at the first bytes of each line, without
//! parsing: each knows its first line, and each can be parsed on its own when
//! the file has a bad document, so that it does not hide the others.

/// The text of one document of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DocumentText<'a> {
    /// The document's text: any directives and comments before it, its
    /// `---` line, its content and its `...` line, all as written.
    pub(crate) text: &'a str,
    /// One-based line of the first line of `text`.
    pub(crate) first_line: usize,
    /// One-based line where the document starts: its `---` line, else the
    /// first line with content.
    pub(crate) start_line: usize,
    /// False when the document has nothing but its `---` and comments: it
    /// parses as null, and a YAML stream parser skips it.
    pub(crate) has_content: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// `---` at column 0.
    Start,
    /// `...` at column 0.
    End,
    /// `%` at column 0.
    Directive,
    /// Blank, or only a comment.
    Blank,
    Content,
}

fn classify(line: &[u8]) -> LineKind {
    let marker_ends =
        |line: &[u8]| matches!(line.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'));
    if line.starts_with(b"---") && marker_ends(line) {
        return LineKind::Start;
    }
    if line.starts_with(b"...") && marker_ends(line) {
        return LineKind::End;
    }
    match line
        .iter()
        .find(|&&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        None | Some(b'#') => LineKind::Blank,
        Some(b'%') if line[0] == b'%' => LineKind::Directive,
        Some(_) => LineKind::Content,
    }
}

/// A document being gathered.
struct Pending {
    start: usize,
    first_line: usize,
    marker_line: Option<usize>,
    content_line: Option<usize>,
}

impl Pending {
    fn new(start: usize, first_line: usize) -> Self {
        Self {
            start,
            first_line,
            marker_line: None,
            content_line: None,
        }
    }

    /// A stretch with a `---` or any content is a document; one of only
    /// blank lines, comments and directives is not.
    fn is_document(&self) -> bool {
        self.marker_line.is_some() || self.content_line.is_some()
    }

    fn finish<'a>(self, text: &'a str, end: usize, out: &mut Vec<DocumentText<'a>>) {
        if let Some(start_line) = self.marker_line.or(self.content_line) {
            out.push(DocumentText {
                text: &text[self.start..end],
                first_line: self.first_line,
                start_line,
                has_content: self.content_line.is_some(),
            });
        }
    }
}

/// The documents of `text`, in order. Stretches with nothing but comments,
/// blank lines or directives are not documents; a bare `---` is (an empty
/// one, which the caller skips after parsing it as null).
pub(crate) fn split_documents(text: &str) -> Vec<DocumentText<'_>> {
    let bytes = text.as_bytes();
    let mut documents = Vec::new();
    let mut pending = Pending::new(0, 1);
    let mut offset = 0;
    let mut line_number = 1;
    while offset < bytes.len() {
        let line_end = text[offset..]
            .find('\n')
            .map_or(bytes.len(), |newline| offset + newline + 1);
        let line = &bytes[offset..line_end];
        match classify(line) {
            LineKind::Start => {
                if pending.is_document() {
                    std::mem::replace(&mut pending, Pending::new(offset, line_number)).finish(
                        text,
                        offset,
                        &mut documents,
                    );
                }
                pending.marker_line = Some(line_number);
                // `--- {a: 1}` or `--- |`: content on the marker line.
                if classify(&line[3..]) == LineKind::Content {
                    pending.content_line.get_or_insert(line_number);
                }
            }
            LineKind::End => {
                std::mem::replace(&mut pending, Pending::new(line_end, line_number + 1)).finish(
                    text,
                    line_end,
                    &mut documents,
                );
            }
            LineKind::Directive if !pending.is_document() => {}
            LineKind::Blank => {}
            LineKind::Directive | LineKind::Content => {
                pending.content_line.get_or_insert(line_number);
            }
        }
        offset = line_end;
        line_number += 1;
    }
    pending.finish(text, bytes.len(), &mut documents);
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, first_line, start_line) of each document.
    fn split(text: &str) -> Vec<(&str, usize, usize)> {
        split_documents(text)
            .into_iter()
            .map(|doc| (doc.text, doc.first_line, doc.start_line))
            .collect()
    }

    #[test]
    fn a_file_without_markers_is_one_document() {
        assert_eq!(split("a: 1\nb: 2\n"), [("a: 1\nb: 2\n", 1, 1)]);
        assert_eq!(split("a: 1"), [("a: 1", 1, 1)]);
        // Leading comments belong to the document; it starts at its content.
        assert_eq!(split("# c\n\na: 1\n"), [("# c\n\na: 1\n", 1, 3)]);
    }

    #[test]
    fn empty_and_comment_only_files_have_no_documents() {
        assert!(split("").is_empty());
        assert!(split("\n\n").is_empty());
        assert!(split("# only\n  # comments\n").is_empty());
    }

    #[test]
    fn markers_start_documents() {
        let text = "---\na: 1\n---\nb: 2\n--- # c\nc: 3\n";
        assert_eq!(
            split(text),
            [
                ("---\na: 1\n", 1, 1),
                ("---\nb: 2\n", 3, 3),
                ("--- # c\nc: 3\n", 5, 5)
            ]
        );
        // A file that starts without `---`.
        assert_eq!(
            split("a: 1\n---\nb: 2"),
            [("a: 1\n", 1, 1), ("---\nb: 2", 2, 2)]
        );
        // Comments before the first `---` join its document.
        assert_eq!(
            split("# head\n---\na: 1\n"),
            [("# head\n---\na: 1\n", 1, 2)]
        );
        // Content on the marker line.
        assert_eq!(split("--- |\n  text\n"), [("--- |\n  text\n", 1, 1)]);
    }

    #[test]
    fn documents_know_whether_they_have_content() {
        let has_content: Vec<bool> =
            split_documents("---\n# c\n--- {a: 1}\n--- |\n  x\n---\na: 1\n--- # c\n")
                .iter()
                .map(|doc| doc.has_content)
                .collect();
        assert_eq!(has_content, [false, true, true, true, false]);
    }

    #[test]
    fn empty_documents_are_kept_for_their_index() {
        assert_eq!(
            split("---\n---\na: 1\n---\n"),
            [("---\n", 1, 1), ("---\na: 1\n", 2, 2), ("---\n", 4, 4)]
        );
    }

    #[test]
    fn only_column_zero_markers_count() {
        let text = "a: |\n  ---\n  ...\nb: '---'\nc: ----\nd: --- x\n";
        assert_eq!(split(text), [(text, 1, 1)]);
        // `----` and `---x` are content, not markers.
        assert_eq!(split("----\n---x\n").len(), 1);
    }

    #[test]
    fn end_markers_end_documents() {
        let text = "a: 1\n...\n# between\nb: 2\n...\n";
        assert_eq!(
            split(text),
            [("a: 1\n...\n", 1, 1), ("# between\nb: 2\n...\n", 3, 4)]
        );
        // `...` then `---`: one document after it, not two.
        assert_eq!(
            split("a: 1\n...\n---\nb: 2\n"),
            [("a: 1\n...\n", 1, 1), ("---\nb: 2\n", 3, 3)]
        );
        // Trailing comments after `...` are no document.
        assert_eq!(split("a: 1\n...\n# end\n"), [("a: 1\n...\n", 1, 1)]);
    }

    #[test]
    fn directives_belong_to_the_next_document() {
        let text =
            "%YAML 1.2\n%TAG ! tag:example.com,2000:\n---\na: 1\n...\n%YAML 1.2\n---\nb: 2\n";
        assert_eq!(
            split(text),
            [
                (
                    "%YAML 1.2\n%TAG ! tag:example.com,2000:\n---\na: 1\n...\n",
                    1,
                    3
                ),
                ("%YAML 1.2\n---\nb: 2\n", 6, 7)
            ]
        );
        // Inside a document a `%` line is content (and malformed there).
        assert_eq!(split("a: 1\n%x\n"), [("a: 1\n%x\n", 1, 1)]);
    }

    #[test]
    fn crlf_line_endings() {
        assert_eq!(
            split("a: 1\r\n---\r\nb: 2\r\n"),
            [("a: 1\r\n", 1, 1), ("---\r\nb: 2\r\n", 2, 2)]
        );
    }
}
