//! CSV text cut into pieces of whole records, and records split into fields, on all cores.
//!
//! Written here rather than taken from a crate, on purpose. The loader reads a file in pieces
//! of about a megabyte through buffers that stay in the processor's cache, and parses each
//! piece straight into the incidents' final columns: no copy of the whole file, no array of
//! every field's place, no owned string per cell. On the machines this runs on, every page of
//! fresh memory costs more than a microsecond, and those copies were most of the time a
//! million-row export took. polars' reader builds owned string columns of every cell, csv-core
//! and simd-csv read one stream front to back; none of them cuts one file into pieces of whole
//! records that several cores can parse independently, with the quoting rules below.
//!
//! The dialect is RFC 4180 as spreadsheet exports write it: comma (or tab) separated, fields
//! optionally in double quotes with `""` for a quote and line breaks allowed inside, `\n` or
//! `\r\n` line ends. An empty line is a record of one empty field (as polars reads it: rows keep
//! their line numbers, and the loader rejects it for its missing id). A quote opens a quoted
//! field only at the start of a field; anywhere else it is text.
//!
//! Two passes. [`plan`] cuts the body at line starts into pieces and counts the records of
//! each, on all cores: a piece with no quote in it has one record per line end; a piece with
//! quotes is parsed record by record, and its last record may run past the cut (a line break
//! inside quotes). Each piece must begin where the one before it ended; when a cut fell inside
//! a quoted field it does not, and that piece is counted again from the right place. So the
//! pieces and their counts are always those of one pass from the start, and the loader knows
//! where every record goes before it reads a field. Then [`for_each_record`] splits the records
//! of each piece into fields.

use std::io;

use rayon::prelude::*;

/// Pieces of about this many bytes are counted and parsed in parallel (two of them and their
/// columns fit the second-level cache of one core).
pub const PIECE_BYTES: usize = 1 << 20;

/// Bytes read past a cut to find the line end after it (more are read for a longer line).
const LOOKAHEAD: usize = 4096;

/// Where a CSV's bytes come from.
#[derive(Debug, Clone, Copy)]
pub enum Bytes<'a> {
    /// A file, read piece by piece (positioned reads, so any thread can read any piece).
    #[cfg(unix)]
    File { file: &'a std::fs::File, len: usize },
    /// Text already in memory (a decoded GBK file, a test).
    Memory(&'a [u8]),
}

impl<'a> Bytes<'a> {
    pub fn len(&self) -> usize {
        match self {
            #[cfg(unix)]
            Bytes::File { len, .. } => *len,
            Bytes::Memory(m) => m.len(),
        }
    }

    /// A window over bytes `start..end` (clamped to the length), in `buf` for a file.
    pub fn window(&self, start: usize, end: usize, buf: Vec<u8>) -> io::Result<Window<'a>> {
        let mut w = Window { src: *self, base: start.min(self.len()), end: start.min(self.len()), buf };
        w.extend(end)?;
        Ok(w)
    }
}

/// Bytes `base..end` of a [`Bytes`], growable at the end.
pub struct Window<'a> {
    src: Bytes<'a>,
    base: usize,
    end: usize,
    /// The bytes of a file window (`buf[..end - base]`); a memory window borrows instead.
    buf: Vec<u8>,
}

impl Window<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self.src {
            #[cfg(unix)]
            Bytes::File { .. } => &self.buf[..self.end - self.base],
            Bytes::Memory(m) => &m[self.base..self.end],
        }
    }

    /// The offset of the window's first byte in the whole text.
    pub fn base(&self) -> usize {
        self.base
    }

    /// True when the window reaches the end of the text.
    pub fn at_text_end(&self) -> bool {
        self.end >= self.src.len()
    }

    /// Grows the window to end at `end` (clamped to the length).
    pub fn extend(&mut self, end: usize) -> io::Result<()> {
        let end = end.min(self.src.len());
        if end <= self.end {
            return Ok(());
        }
        #[cfg(unix)]
        if let Bytes::File { file, .. } = self.src {
            use std::os::unix::fs::FileExt;
            let (from, to) = (self.end - self.base, end - self.base);
            if self.buf.len() < to {
                // Only the first use of a buffer fills it; later pieces read over old bytes.
                self.buf.resize(to, 0);
            }
            file.read_exact_at(&mut self.buf[from..to], self.end as u64)?;
        }
        self.end = end;
        Ok(())
    }

    /// The buffer back, for the next window.
    pub fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

/// A piece of the body: whole records from byte `start` to byte `end` of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub start: usize,
    pub end: usize,
    pub records: usize,
    /// A quote somewhere in the piece (records are then parsed with the quoting rules; without
    /// one, every separator ends a field and every line end a record).
    pub quoted: bool,
}

/// A field found by the record parser: bytes `start..end` of the text it was given, quoted
/// with `""` escapes in it or not. A field a record lacks is empty (0..0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Field {
    pub start: usize,
    pub end: usize,
    pub escaped: bool,
}

impl Field {
    /// The field's text, `""` made `"` when it has escapes.
    pub fn text(self, text: &[u8]) -> String {
        let raw = String::from_utf8_lossy(&text[self.start..self.end]);
        if self.escaped { raw.replace("\"\"", "\"") } else { raw.into_owned() }
    }
}

/// How a record ended.
#[derive(Debug, Clone, Copy)]
struct RecordEnd {
    /// Where the next record starts (after the line end), or the end of the bytes.
    next: usize,
    /// A quote opened in the record was never closed (its field runs to the end).
    unclosed: bool,
    /// The record ran to the end of the bytes without a line end: complete only when the
    /// bytes are the whole rest of the text.
    at_end: bool,
}

/// Parses one record of `text` starting at `pos`, calling `field(column, field)` for each
/// field.
#[inline]
fn parse_record(text: &[u8], mut pos: usize, sep: u8, mut field: impl FnMut(usize, Field)) -> RecordEnd {
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
            Some(_) => return RecordEnd { next: next + 1, unclosed, at_end: false }, // the line end
            None => return RecordEnd { next: len, unclosed, at_end: true },
        }
    }
}

/// `stop`, less a `\r` just before it.
fn trim_cr(text: &[u8], start: usize, stop: usize) -> usize {
    if stop > start && text[stop - 1] == b'\r' { stop - 1 } else { stop }
}

/// The header's names (trimmed) and where the body starts, from the text's first bytes; `None`
/// when `window` ends inside the header record (read more and ask again).
pub fn header(window: &Window<'_>, sep: u8) -> Option<(Vec<String>, usize)> {
    let bytes = window.bytes();
    let mut names = Vec::new();
    let end = parse_record(bytes, 0, sep, |_, f| names.push(f.text(bytes).trim().to_string()));
    if end.at_end && !window.at_text_end() {
        return None;
    }
    Some((names, window.base() + end.next))
}

/// Cuts the body (`body..`) into pieces of whole records of about `piece_bytes` and counts
/// their records: the first pass (see the module docs). Pieces with no record are left out.
pub fn plan(src: &Bytes<'_>, body: usize, sep: u8, piece_bytes: usize, parallel: bool) -> io::Result<Vec<Piece>> {
    let len = src.len();
    if body >= len {
        return Ok(Vec::new());
    }
    let piece_bytes = piece_bytes.max(1);
    let nominal: Vec<usize> = (body..len).step_by(piece_bytes).collect();
    let count = |buf: &mut Vec<u8>, k: usize| -> io::Result<(Piece, usize)> {
        let a = nominal[k];
        let b = nominal.get(k + 1).copied().unwrap_or(len);
        // One byte before the cut tells whether it is a line start already.
        let from = if k == 0 { body } else { a - 1 };
        let mut w = src.window(from, b + LOOKAHEAD, std::mem::take(buf))?;
        let start = if k == 0 { body } else { line_start_at_or_after(&mut w, a)? };
        let limit = if b >= len { len } else { line_start_at_or_after(&mut w, b)? };
        let piece = count_records(&mut w, start, limit, sep)?;
        *buf = w.into_buf();
        Ok((piece, limit))
    };
    let counted: Vec<(Piece, usize)> = if parallel && nominal.len() > 1 {
        (0..nominal.len()).into_par_iter().map_init(Vec::new, count).collect::<io::Result<_>>()?
    } else {
        let mut buf = Vec::new();
        (0..nominal.len()).map(|k| count(&mut buf, k)).collect::<io::Result<_>>()?
    };
    // Stitch: a piece begins where the one before it ended, or is counted again from there.
    let mut pieces = Vec::with_capacity(counted.len());
    let mut expect = body;
    let mut buf = Vec::new();
    for (mut piece, limit) in counted {
        if piece.start != expect {
            let mut w = src.window(expect, limit.max(expect), std::mem::take(&mut buf))?;
            piece = count_records(&mut w, expect, limit, sep)?;
            buf = w.into_buf();
        }
        expect = piece.end;
        if piece.records > 0 {
            pieces.push(piece);
        }
    }
    Ok(pieces)
}

/// The first line start at or after `at` (the text's length when there is none), growing the
/// window as far as the line end needs.
fn line_start_at_or_after(w: &mut Window<'_>, at: usize) -> io::Result<usize> {
    // `at` is a line start when the byte before it ends a line.
    let mut from = at - 1;
    loop {
        let bytes = w.bytes();
        let rel = from.saturating_sub(w.base());
        if let Some(k) = memchr::memchr(b'\n', bytes.get(rel..).unwrap_or(&[])) {
            return Ok(w.base() + rel + k + 1);
        }
        if w.at_text_end() {
            return Ok(w.base() + bytes.len());
        }
        from = w.base() + bytes.len();
        let grow = (bytes.len()).max(LOOKAHEAD);
        w.extend(w.base() + bytes.len() + grow)?;
    }
}

/// Counts the records that start in `start..limit` (the window holds at least that much) and
/// finds where the last of them ends.
fn count_records(w: &mut Window<'_>, start: usize, limit: usize, sep: u8) -> io::Result<Piece> {
    if start >= limit {
        return Ok(Piece { start, end: start, records: 0, quoted: false });
    }
    w.extend(limit)?;
    let base = w.base();
    let span = &w.bytes()[start - base..limit - base];
    if memchr::memchr(b'"', span).is_none() {
        // No quote: every line end ends a record, and `limit` is a line start (or the end).
        let mut records = memchr::memchr_iter(b'\n', span).count();
        if span.last() != Some(&b'\n') {
            records += 1; // the last line of the text, without a line end
        }
        return Ok(Piece { start, end: limit, records, quoted: false });
    }
    let mut pos = start;
    let mut records = 0;
    while pos < limit {
        let end = parse_record(w.bytes(), pos - base, sep, |_, _| {});
        if end.at_end && !w.at_text_end() {
            // The record runs past what was read (a quoted line break): read more, parse again.
            let have = w.bytes().len();
            w.extend(base + have + have.max(LOOKAHEAD))?;
            continue;
        }
        records += 1;
        pos = base + end.next;
    }
    Ok(Piece { start, end: pos, records, quoted: true })
}

/// What a record of a piece looked like, besides its fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordShape {
    /// Fields in the record (more than the header has: a long row).
    pub fields: usize,
    /// A quote opened in it was never closed: the rest of the text is its last field.
    pub unclosed: bool,
}

/// The records of a piece (`text` is exactly its bytes) did not come out as the first pass
/// counted them: the file changed between the two passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed;

/// Splits the `records` records of a piece into fields and calls `record(fields, shape)` for
/// each, in order. `fields` holds the kept columns (`slot[column]`), offsets into `text`;
/// columns a record lacks are empty. `text` must be the piece's bytes exactly and end where
/// the text ends or at a record's end; `quoted` says whether it has a quote.
pub fn for_each_record(
    text: &[u8],
    records: usize,
    quoted: bool,
    sep: u8,
    slot: &[Option<usize>],
    kept: usize,
    mut record: impl FnMut(&[Field], RecordShape),
) -> Result<(), Changed> {
    let mut fields = vec![Field::default(); kept];
    if !quoted {
        return plain_records(text, records, sep, slot, &mut fields, record);
    }
    let mut pos = 0;
    for _ in 0..records {
        if pos >= text.len() {
            return Err(Changed);
        }
        fields.fill(Field::default());
        let mut count = 0;
        let end = parse_record(text, pos, sep, |col, f| {
            count = col + 1;
            if let Some(Some(s)) = slot.get(col) {
                fields[*s] = f;
            }
        });
        record(&fields, RecordShape { fields: count, unclosed: end.unclosed });
        pos = end.next;
    }
    if pos == text.len() { Ok(()) } else { Err(Changed) }
}

/// The byte positions in an 8-byte word (as bits 7, 15, … 63) that hold `b`. Exact: the sum
/// of each byte's low seven bits and 0x7F never carries into the next byte.
#[inline]
fn bytes_equal(word: u64, b: u8) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let x = word ^ (0x0101_0101_0101_0101 * b as u64);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// [`for_each_record`] of a piece with no quote: every separator ends a field and every line
/// end a record, found eight bytes at a time.
fn plain_records(
    text: &[u8],
    records: usize,
    sep: u8,
    slot: &[Option<usize>],
    fields: &mut [Field],
    mut record: impl FnMut(&[Field], RecordShape),
) -> Result<(), Changed> {
    let slot: Vec<u32> = slot.iter().map(|s| s.map_or(SKIP, |v| v as u32)).collect();
    let len = text.len();
    fields.fill(Field::default());
    if records == 0 {
        return if len == 0 { Ok(()) } else { Err(Changed) };
    }
    let mut st = Fields { text, slot: &slot, fields, records, done: 0, col: 0, field_start: 0 };
    let mut base = 0usize;
    let mut finished = false;
    'words: for chunk in text.chunks_exact(8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let newlines = bytes_equal(word, b'\n');
        let mut hits = bytes_equal(word, sep) | newlines;
        while hits != 0 {
            let bit = hits & hits.wrapping_neg();
            let pos = base + (bit.trailing_zeros() / 8) as usize;
            if st.end_field(pos, newlines & bit != 0, &mut record) {
                finished = true;
                break 'words;
            }
            hits ^= bit;
        }
        base += 8;
    }
    if !finished {
        let mut pos = base;
        while pos < len {
            let c = text[pos];
            if (c == sep || c == b'\n') && st.end_field(pos, c == b'\n', &mut record) {
                finished = true;
                break;
            }
            pos += 1;
        }
    }
    if !finished && (st.col > 0 || st.field_start < len) {
        // The last record of the text, without a line end.
        finished = st.end_field(len, true, &mut record);
    }
    if finished && st.field_start >= len { Ok(()) } else { Err(Changed) }
}

/// A column that no slot keeps.
const SKIP: u32 = u32::MAX;

/// [`plain_records`]' state: the fields of the record being split.
struct Fields<'a> {
    text: &'a [u8],
    /// Column → slot, or [`SKIP`].
    slot: &'a [u32],
    fields: &'a mut [Field],
    records: usize,
    done: usize,
    col: usize,
    field_start: usize,
}

impl Fields<'_> {
    /// The field that started at `field_start` ends at `pos` (a separator, a line end or the
    /// end of the text); true when that ends the piece's last record.
    #[inline(always)]
    fn end_field(&mut self, pos: usize, line_end: bool, record: &mut impl FnMut(&[Field], RecordShape)) -> bool {
        if let Some(&s) = self.slot.get(self.col)
            && s != SKIP
        {
            // A `\r` before a separator is dropped too, as the record parser does.
            let start = self.field_start;
            let end = if pos > start && self.text[pos - 1] == b'\r' { pos - 1 } else { pos };
            if let Some(f) = self.fields.get_mut(s as usize) {
                *f = Field { start, end, escaped: false };
            }
        }
        self.col += 1;
        self.field_start = pos + 1;
        if !line_end {
            return false;
        }
        // A short record lacks the later columns: their slots still hold the last record's.
        for &s in self.slot.get(self.col..).unwrap_or_default() {
            if let Some(f) = self.fields.get_mut(s as usize) {
                *f = Field::default();
            }
        }
        record(self.fields, RecordShape { fields: self.col, unclosed: false });
        self.done += 1;
        self.col = 0;
        self.done == self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `text` as strings, through `plan` with pieces of `piece` bytes and
    /// `for_each_record` on each piece; plus each record's shape.
    /// The header, the records' fields and the records' shapes (fields, unclosed quote).
    type Split = (Vec<String>, Vec<Vec<String>>, Vec<(usize, bool)>);

    fn split(text: &str, piece: usize) -> Split {
        let src = Bytes::Memory(text.as_bytes());
        let w = src.window(0, text.len(), Vec::new()).unwrap();
        let (names, body) = header(&w, b',').unwrap();
        let slot: Vec<Option<usize>> = (0..names.len()).map(Some).collect();
        let mut rows = Vec::new();
        let mut shapes = Vec::new();
        for parallel in [false, true] {
            rows.clear();
            shapes.clear();
            let pieces = plan(&src, body, b',', piece, parallel).unwrap();
            let mut expect = body;
            for p in &pieces {
                assert_eq!(p.start, expect, "pieces follow each other");
                expect = p.end;
                let bytes = &text.as_bytes()[p.start..p.end];
                for_each_record(bytes, p.records, p.quoted, b',', &slot, names.len(), |fields, shape| {
                    rows.push(fields.iter().map(|f| f.text(bytes)).collect::<Vec<_>>());
                    shapes.push((shape.fields, shape.unclosed));
                })
                .unwrap();
            }
            assert!(pieces.is_empty() || expect == text.len(), "the pieces cover the body");
        }
        (names, rows, shapes)
    }

    #[test]
    fn quotes_line_breaks_crlf_and_empty_lines() {
        let text = "a,b,c\r\n1,\"x,y\",3\r\n\r\n\"multi\nline\",\"say \"\"hi\"\"\",\n4,5\n6,7,8,9\n";
        for piece in [1, 2, 3, 5, 7, 11, 1000] {
            let (names, rows, shapes) = split(text, piece);
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
            assert_eq!(shapes.iter().map(|s| s.0).collect::<Vec<_>>(), [3, 1, 3, 2, 4]);
        }
    }

    #[test]
    fn a_last_line_without_line_end_is_a_record() {
        for piece in [1, 4, 1000] {
            let (_, rows, _) = split("a,b\n1,2\n3,4", piece);
            assert_eq!(rows, [vec!["1", "2"], vec!["3", "4"]], "pieces of {piece} bytes");
            let (_, rows, _) = split("a,b\n1,2\n\n", piece);
            assert_eq!(rows, [vec!["1", "2"], vec!["", ""]], "pieces of {piece} bytes");
        }
    }

    #[test]
    fn an_unclosed_quote_is_noted() {
        for piece in [1, 4, 1000] {
            let (_, rows, shapes) = split("a,b\n1,2\n3,\"open\n4,5\n", piece);
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[1], ["3", "open\n4,5\n"]);
            assert_eq!(shapes[1], (2, true));
        }
    }

    #[test]
    fn text_after_a_closing_quote_stays_with_its_quotes() {
        let (_, rows, _) = split("a,b\n\"x\"y,2\nq\"r,3", 1000);
        assert_eq!(rows, [vec!["\"x\"y", "2"], vec!["q\"r", "3"]]);
    }

    /// Lines longer than a piece, quoted line breaks across many cuts, and a header that
    /// needs more than the first read.
    #[test]
    fn long_lines_and_long_quoted_fields_cross_any_number_of_cuts() {
        let long = "x".repeat(10_000);
        let quoted = format!("\"{}\"", "line\n".repeat(3000));
        let text = format!("{long},b\n1,{quoted}\n2,{long}\n3,\"\"\"\"\n");
        for piece in [1, 100, 4096, 5000, 1 << 20] {
            let (names, rows, _) = split(&text, piece);
            assert_eq!(names, [long.as_str(), "b"]);
            assert_eq!(rows.len(), 3, "pieces of {piece} bytes");
            assert_eq!(rows[0][1], "line\n".repeat(3000));
            assert_eq!(rows[1], ["2", long.as_str()]);
            assert_eq!(rows[2], ["3", "\""]);
        }
    }

    #[test]
    fn a_file_is_read_in_pieces_as_memory_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut text = String::from("id,note\n");
        for i in 0..5000 {
            text.push_str(&format!("{i},\"n{i}\n\"\"q\"\"\"\n"));
        }
        std::fs::write(&path, &text).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let src = Bytes::File { file: &file, len: text.len() };
        let mem = Bytes::Memory(text.as_bytes());
        for piece in [7, 1000, 1 << 20] {
            let a = plan(&src, 8, b',', piece, true).unwrap();
            let b = plan(&mem, 8, b',', piece, true).unwrap();
            assert_eq!(a, b);
            assert_eq!(a.iter().map(|p| p.records).sum::<usize>(), 5000);
            let w = src.window(a[0].start, a[0].end, Vec::new()).unwrap();
            assert_eq!(w.bytes(), &text.as_bytes()[a[0].start..a[0].end]);
        }
    }

    #[test]
    fn a_piece_that_does_not_end_where_counted_is_a_change() {
        let slot = [Some(0), Some(1)];
        for quoted in [false, true] {
            assert_eq!(for_each_record(b"1,2\n3,4\n", 1, quoted, b',', &slot, 2, |_, _| {}), Err(Changed));
            assert_eq!(for_each_record(b"1,2\n", 2, quoted, b',', &slot, 2, |_, _| {}), Err(Changed));
            assert_eq!(for_each_record(b"1,2\n3,4\n", 2, quoted, b',', &slot, 2, |_, _| {}), Ok(()));
            assert_eq!(for_each_record(b"1,2\n3,4", 2, quoted, b',', &slot, 2, |_, _| {}), Ok(()));
        }
    }

    /// Without quotes, the word-at-a-time splitter finds the fields the record parser finds,
    /// for every line shape (empty lines and fields, CRLF, long and short records, bytes of
    /// every value around the separators) and every alignment.
    #[test]
    fn the_plain_splitter_splits_as_the_record_parser_does() {
        let mut next = crate::xorshift(0x2545_f491_4f6c_dd1d);
        let alphabet: &[u8] = b"ab,,\n\r\x00\x7f\x80\xff9 \t";
        for case in 0..3000 {
            let len = (next() % 90) as usize;
            let text: Vec<u8> = (0..len).map(|_| alphabet[(next() as usize) % alphabet.len()]).collect();
            let records = {
                let n = text.iter().filter(|&&c| c == b'\n').count();
                if text.last().is_some_and(|&c| c != b'\n') { n + 1 } else { n }
            };
            let slot = [Some(0), None, Some(1), Some(2)];
            let collect = |quoted: bool| {
                let mut out = Vec::new();
                let r = for_each_record(&text, records, quoted, b',', &slot, 3, |f, shape| out.push((f.to_vec(), shape.fields)));
                (r, out)
            };
            assert_eq!(collect(false), collect(true), "case {case}: {:?}", String::from_utf8_lossy(&text));
        }
    }
}
