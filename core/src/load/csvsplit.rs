//! CSV text split into fields in parallel, without copying: each kept field is a span of the
//! text, so the row pass reads `&str` straight from the file's bytes.
//!
//! Written here rather than taken from a crate, on purpose: polars' reader builds owned string
//! columns of every cell (two thirds of loading a million-row export went there), and csv-core
//! copies every field into a buffer of its own; neither hands out spans of the text, and neither
//! splits one text across cores in a way we can reuse. The dialect is RFC 4180 as spreadsheet
//! exports write it: comma (or tab) separated, fields optionally in double quotes with `""` for
//! a quote and line breaks allowed inside, `\n` or `\r\n` line ends. An empty line is a record
//! of one empty field (as polars reads it: rows keep their line numbers, and the loader rejects
//! it for its missing id). A quote opens a quoted field only at the start of a field; anywhere
//! else it is text.
//!
//! Parallel split: the text is cut at line starts into pieces parsed on all cores, each as if
//! it began a record. A cut that fell inside a quoted field with a line break shows as a piece
//! not starting where the previous one ended; that piece is parsed again from the right place.
//! The result is always that of one pass from the start.

use rayon::prelude::*;

/// A field's place in its piece: `start..end` bytes from the piece's base, or, when `end` is
/// `u32::MAX`, the text `escaped[start]` (a quoted field with `""` in it, or one too far from
/// the piece's start for `u32` offsets). A field a short row lacks is empty (0..0).
type Span = (u32, u32);

const ESCAPED: u32 = u32::MAX;

/// Pieces of about this many bytes are parsed in parallel.
const PIECE_BYTES: usize = 4 << 20;

/// One piece of the text: its records' kept fields.
#[derive(Debug, Default)]
struct Piece {
    base: usize,
    /// Where the next record starts (the end of this piece's last record).
    end: usize,
    rows: usize,
    /// The spans of each kept column, row by row (a column's cells lie together, as the row
    /// pass reads them through [`PieceColumn`]).
    columns: Vec<Vec<Span>>,
    escaped: Vec<String>,
    /// Rows with more fields than the header: (row index in the piece, fields).
    long_rows: Vec<(usize, usize)>,
    /// A quote opened and never closed: the rest of the text became one field.
    unterminated: Option<usize>,
}

/// A CSV text split into records of the header's fields.
#[derive(Debug)]
pub struct Split<'a> {
    text: &'a str,
    /// The header's names, as written.
    pub names: Vec<String>,
    /// Slot of each header column among the kept ones.
    slot: Vec<Option<usize>>,
    pieces: Vec<Piece>,
    /// First row (0-based, after the header) of each piece.
    first_row: Vec<usize>,
    /// The piece holding row `b << BLOCK_SHIFT`, for each block `b` of rows: a cell is found
    /// with one lookup and a step or two, not a search.
    block_piece: Vec<u32>,
    rows: usize,
}

const BLOCK_SHIFT: u32 = 10;

/// What the split found that a report must say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SplitNotes {
    /// Rows with more fields than the header (row index after the header, field count).
    pub long_rows: Vec<(usize, usize)>,
    /// Row (index after the header) whose quote was never closed.
    pub unterminated: Option<usize>,
}

/// The header's names: the first record of `text` (trimmed), and where the body starts.
pub fn header(text: &str, separator: u8) -> (Vec<String>, usize) {
    let bytes = text.as_bytes();
    let mut names = Vec::new();
    let (end, _) = parse_record(bytes, 0, separator, &mut |_, f: Field| {
        names.push(f.text(bytes).trim().to_string());
    });
    (names, end)
}

/// A field found by the record parser: a span of the text, quoted with `""` escapes in it or not.
#[derive(Clone, Copy)]
struct Field {
    start: usize,
    end: usize,
    escaped: bool,
}

impl Field {
    /// The field's text, `""` made `"` when it has escapes.
    fn text(self, text: &[u8]) -> String {
        let raw = String::from_utf8_lossy(&text[self.start..self.end]);
        if self.escaped { raw.replace("\"\"", "\"") } else { raw.into_owned() }
    }
}

/// Parses one record starting at `pos`, calling `field(column, field)` for
/// each field; returns where the next record starts (after the line end) or the text's end, and
/// whether a quote opened in it was never closed (its field then runs to the end of the text).
fn parse_record(text: &[u8], mut pos: usize, sep: u8, field: &mut dyn FnMut(usize, Field)) -> (usize, bool) {
    let len = text.len();
    let mut col = 0usize;
    loop {
        let mut unclosed = false;
        let (f, next) = if text.get(pos) == Some(&b'"') {
            // Quoted: up to the quote not doubled; a line break inside is text.
            let mut p = pos + 1;
            let mut escaped = false;
            let close = loop {
                match memchr::memchr(b'"', &text[p.min(len)..]) {
                    None => break None,
                    Some(k) => {
                        let q = p + k;
                        if text.get(q + 1) == Some(&b'"') {
                            escaped = true;
                            p = q + 2;
                        } else {
                            break Some(q);
                        }
                    }
                }
            };
            match close {
                None => {
                    unclosed = true;
                    (Field { start: pos + 1, end: len, escaped }, len)
                }
                Some(q) => {
                    // Anything between the closing quote and the separator is kept raw, with the quotes.
                    let stop = q + 1 + memchr::memchr2(sep, b'\n', &text[q + 1..]).unwrap_or(len - q - 1);
                    let tail = &text[q + 1..stop];
                    if tail.is_empty() || tail == b"\r" {
                        (Field { start: pos + 1, end: q, escaped }, stop)
                    } else {
                        (Field { start: pos, end: trim_cr(text, pos, stop), escaped: false }, stop)
                    }
                }
            }
        } else {
            let stop = pos + memchr::memchr2(sep, b'\n', &text[pos.min(len)..]).unwrap_or(len.saturating_sub(pos));
            (Field { start: pos, end: trim_cr(text, pos, stop), escaped: false }, stop)
        };
        field(col, f);
        col += 1;
        match text.get(next) {
            Some(&b) if b == sep => pos = next + 1,
            Some(_) => return (next + 1, unclosed), // the line end
            None => return (len, unclosed),
        }
    }
}

/// `stop`, less a `\r` just before it.
fn trim_cr(text: &[u8], start: usize, stop: usize) -> usize {
    if stop > start && text[stop - 1] == b'\r' { stop - 1 } else { stop }
}

/// Parses the records starting at `start` until one would start at or after `limit`.
fn parse_piece(text: &[u8], start: usize, limit: usize, sep: u8, slot: &[Option<usize>], kept: usize) -> Piece {
    let mut piece = Piece { base: start, columns: vec![Vec::new(); kept], ..Piece::default() };
    let mut pos = start;
    let columns = slot.len();
    while pos < limit.min(text.len()) {
        let row = piece.rows;
        for c in &mut piece.columns {
            c.push((0, 0));
        }
        let mut fields = 0usize;
        let base = piece.base;
        let Piece { columns: spans, escaped, .. } = &mut piece;
        let (next, unclosed) = parse_record(text, pos, sep, &mut |col, f: Field| {
            fields = col + 1;
            if let Some(Some(s)) = slot.get(col) {
                // A field with escapes, or one ending beyond u32 offsets from its piece's start
                // (a record over 4 GiB: an unclosed quote in a huge file), is kept as text of
                // its own rather than as a span that would not fit.
                spans[*s][row] = if f.escaped || f.end - base >= ESCAPED as usize {
                    escaped.push(f.text(text));
                    ((escaped.len() - 1) as u32, ESCAPED)
                } else {
                    ((f.start - base) as u32, (f.end - base) as u32)
                };
            }
        });
        if fields > columns {
            piece.long_rows.push((piece.rows, fields));
        }
        if unclosed {
            piece.unterminated = Some(piece.rows);
        }
        piece.rows += 1;
        pos = next;
    }
    piece.end = pos.max(start);
    piece
}

impl<'a> Split<'a> {
    /// Splits the body of `text` (from `body`, after the header `names`), keeping the fields of
    /// the columns `keep` says (all when `None`).
    pub fn new(text: &'a str, names: Vec<String>, body: usize, separator: u8, keep: Option<&[bool]>) -> Split<'a> {
        Self::with_piece_bytes(text, names, body, separator, keep, PIECE_BYTES)
    }

    /// [`Split::new`] with pieces of about `piece_bytes` (tests cut tiny texts into many).
    pub(crate) fn with_piece_bytes(
        text: &'a str,
        names: Vec<String>,
        body: usize,
        separator: u8,
        keep: Option<&[bool]>,
        piece_bytes: usize,
    ) -> Split<'a> {
        let mut slot = Vec::with_capacity(names.len());
        let mut kept = 0;
        for j in 0..names.len() {
            if keep.is_none_or(|k| k.get(j).copied().unwrap_or(false)) {
                slot.push(Some(kept));
                kept += 1;
            } else {
                slot.push(None);
            }
        }
        let bytes = text.as_bytes();
        let len = bytes.len();
        // Cut points: line starts about PIECE_BYTES apart.
        let mut cuts = vec![body.min(len)];
        let piece_bytes = piece_bytes.max(1);
        let mut at = body + piece_bytes;
        while at < len {
            match memchr::memchr(b'\n', &bytes[at..]) {
                Some(k) if at + k + 1 < len => {
                    cuts.push(at + k + 1);
                    at = at + k + 1 + piece_bytes;
                }
                _ => break,
            }
        }
        cuts.push(len);
        let ranges: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
        let parse = |&(s, e): &(usize, usize)| parse_piece(bytes, s, e, separator, &slot, kept);
        let mut pieces: Vec<Piece> =
            if ranges.len() > 1 { ranges.par_iter().map(parse).collect() } else { ranges.iter().map(parse).collect() };
        // Stitch: a piece must begin where the one before it ended; if not, parse it again from
        // there (its cut fell inside a quoted field, or the record before ran past it).
        let mut expect = cuts[0];
        for (k, piece) in pieces.iter_mut().enumerate() {
            if piece.base != expect {
                let limit = ranges[k].1.max(expect);
                *piece = parse_piece(bytes, expect, limit, separator, &slot, kept);
            }
            expect = piece.end;
        }
        let mut first_row = Vec::with_capacity(pieces.len());
        let mut rows = 0;
        for p in &pieces {
            first_row.push(rows);
            rows += p.rows;
        }
        let mut block_piece = Vec::with_capacity((rows >> BLOCK_SHIFT) + 1);
        let mut k = 0usize;
        for b in 0..rows.div_ceil(1 << BLOCK_SHIFT) {
            let row = b << BLOCK_SHIFT;
            while k + 1 < first_row.len() && first_row[k + 1] <= row {
                k += 1;
            }
            block_piece.push(k as u32);
        }
        Split { text, names, slot, pieces, first_row, block_piece, rows }
    }

    /// Records after the header.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Long rows and an unclosed quote, with row indices after the header.
    pub fn notes(&self) -> SplitNotes {
        let mut notes = SplitNotes::default();
        for (p, &first) in self.pieces.iter().zip(&self.first_row) {
            notes.long_rows.extend(p.long_rows.iter().map(|&(r, n)| (first + r, n)));
            if notes.unterminated.is_none() {
                notes.unterminated = p.unterminated.map(|r| first + r);
            }
        }
        notes
    }

    /// The first row (after the header) of each piece the text was split into, in order: a pass
    /// over rows in chunks that never cross these reads each chunk with [`Split::column_at`].
    pub fn piece_starts(&self) -> &[usize] {
        &self.first_row
    }

    /// Column `column` of the piece holding row `row`: its cells with no lookup of the piece.
    pub fn column_at(&self, row: usize, column: usize) -> PieceColumn<'_> {
        let empty = PieceColumn { text: self.text, base: 0, first_row: row, spans: &[], escaped: &[] };
        let Some(Some(s)) = self.slot.get(column) else { return empty };
        let Some(&k0) = self.block_piece.get(row >> BLOCK_SHIFT) else { return empty };
        let mut k = k0 as usize;
        while k + 1 < self.first_row.len() && self.first_row[k + 1] <= row {
            k += 1;
        }
        let Some(piece) = self.pieces.get(k) else { return empty };
        PieceColumn {
            text: self.text,
            base: piece.base,
            first_row: self.first_row[k],
            spans: piece.columns.get(*s).map_or(&[], Vec::as_slice),
            escaped: &piece.escaped,
        }
    }

    /// The text of column `column` in row `row` (after the header), untrimmed; empty for a
    /// column not kept or a field the row lacks.
    pub fn get(&self, row: usize, column: usize) -> &str {
        self.column_at(row, column).get(row)
    }
}

/// One column of one piece (see [`Split::column_at`]).
#[derive(Debug, Clone, Copy)]
pub struct PieceColumn<'s> {
    text: &'s str,
    base: usize,
    first_row: usize,
    spans: &'s [Span],
    escaped: &'s [String],
}

impl<'s> PieceColumn<'s> {
    /// The cell of row `row` (after the header; a row of this piece), untrimmed; empty for a
    /// row outside the piece, a column not kept or a field the row lacks.
    pub fn get(&self, row: usize) -> &'s str {
        let Some(&(a, b)) = row.checked_sub(self.first_row).and_then(|r| self.spans.get(r)) else { return "" };
        if b == ESCAPED {
            return self.escaped.get(a as usize).map_or("", String::as_str);
        }
        self.text.get(self.base + a as usize..self.base + b as usize).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, piece: usize) -> (Vec<String>, Vec<Vec<String>>, SplitNotes) {
        let (names, body) = header(text, b',');
        let s = Split::with_piece_bytes(text, names.clone(), body, b',', None, piece);
        let rows: Vec<Vec<String>> = (0..s.rows()).map(|r| (0..names.len()).map(|c| s.get(r, c).to_string()).collect()).collect();
        // Read piece by piece, each column's cells are the same.
        let starts = s.piece_starts();
        for (k, &first) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(s.rows());
            if end == first {
                continue; // a piece with no record (a cut inside a quoted line break)
            }
            for c in 0..names.len() + 1 {
                let column = s.column_at(first, c);
                for r in first..end {
                    assert_eq!(column.get(r), s.get(r, c), "row {r} column {c}, pieces of {piece} bytes");
                }
                assert_eq!(column.get(end), "", "a row past the piece");
            }
        }
        (names, rows, s.notes())
    }

    #[test]
    fn quotes_line_breaks_crlf_and_empty_lines() {
        let text = "a,b,c\r\n1,\"x,y\",3\r\n\r\n\"multi\nline\",\"say \"\"hi\"\"\",\n4,5\n6,7,8,9\n";
        for piece in [1, 2, 3, 5, 7, 11, 1000] {
            let (names, rows, notes) = split(text, piece);
            assert_eq!(names, ["a", "b", "c"]);
            assert_eq!(
                rows,
                [
                    vec!["1", "x,y", "3"],
                    vec!["", "", ""],
                    vec!["multi\nline", "say \"hi\"", ""],
                    vec!["4", "5", ""],
                    vec!["6", "7", "8"]
                ],
                "pieces of {piece} bytes"
            );
            assert_eq!(notes, SplitNotes { long_rows: vec![(4, 4)], unterminated: None });
        }
    }

    #[test]
    fn an_unclosed_quote_is_noted() {
        let (_, rows, notes) = split("a,b\n1,2\n3,\"open\n4,5\n", 4);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], ["3", "open\n4,5\n"]);
        assert_eq!(notes.unterminated, Some(1));
    }

    #[test]
    fn text_after_a_closing_quote_stays_with_its_quotes() {
        let (_, rows, _) = split("a,b\n\"x\"y,2\nq\"r,3", 1000);
        assert_eq!(rows, [vec!["\"x\"y", "2"], vec!["q\"r", "3"]]);
    }
}
