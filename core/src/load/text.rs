//! Text encodings of Chinese exports: UTF-8, UTF-8 with a BOM, and GBK (read as GB18030, its
//! superset). Detection: a BOM says UTF-8; valid UTF-8 is UTF-8; anything else is decoded as
//! GB18030 when that decodes without error.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{CoreError, Result};

/// The encoding a text was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Gbk,
}

impl TextEncoding {
    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf8Bom => "UTF-8 with BOM",
            TextEncoding::Gbk => "GBK",
        }
    }
}

/// Returns the text (borrowed when it already was UTF-8) and what it was.
pub fn to_utf8<'a>(path: &Path, bytes: &'a [u8]) -> Result<(Cow<'a, str>, TextEncoding)> {
    // simdutf8 checks valid text several times faster than std; std finds the offset of a fault.
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        if let Ok(text) = simdutf8::basic::from_utf8(rest) {
            return Ok((Cow::Borrowed(text), TextEncoding::Utf8Bom));
        }
        let offset = std::str::from_utf8(rest).err().map_or(0, |e| e.valid_up_to());
        return Err(CoreError::Encoding { path: path.to_path_buf(), offset: 3 + offset });
    }
    if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
        return Ok((Cow::Borrowed(text), TextEncoding::Utf8));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((Cow::Borrowed(text), TextEncoding::Utf8)),
        Err(e) => {
            let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
            if had_errors {
                Err(CoreError::Encoding { path: path.to_path_buf(), offset: e.valid_up_to() })
            } else {
                Ok((Cow::Owned(text.into_owned()), TextEncoding::Gbk))
            }
        }
    }
}

/// Trims white space, without the Unicode scan when neither end can be white space: an ASCII
/// letter, digit or mark, or a character whose first byte no white space has (every white
/// space beyond ASCII starts with 0xC2, 0xE1, 0xE2 or 0xE3; Chinese characters with 0xE4–0xE9).
#[inline]
pub fn trim(s: &str) -> &str {
    #[inline(always)]
    fn plain(lead: u8) -> bool {
        lead.is_ascii_graphic() || (lead >= 0x80 && !matches!(lead, 0xC2 | 0xE1 | 0xE2 | 0xE3))
    }
    let b = s.as_bytes();
    let n = b.len();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else { return s };
    // The first byte of the last character: the last byte unless it continues one.
    let lead = if last < 0x80 {
        last
    } else if n >= 3 && b[n - 3] >= 0xE0 {
        b[n - 3]
    } else if n >= 2 && b[n - 2] >= 0xC0 {
        b[n - 2]
    } else if n >= 4 && b[n - 4] >= 0xF0 {
        b[n - 4]
    } else {
        // Not a character's end as seen from here: let the scan decide.
        0
    };
    if plain(first) && plain(lead) { s } else { s.trim() }
}

/// Reads a whole file. A large one is read in parts on all cores (positioned reads into one
/// buffer): copying from the page cache and touching fresh pages is most of a read's time, and
/// both go twice as fast on two threads. A file that changes size while read (an export still
/// being written) is read again in one piece, so the bytes are always those of one read.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    read_in_parts(path, PARALLEL_READ_PART)
}

/// [`read_file`] with parts of at least `part_bytes` (tests read small files in parts).
fn read_in_parts(path: &Path, part_bytes: usize) -> Result<Vec<u8>> {
    let io = |e| CoreError::io(path, e);
    #[cfg(unix)]
    {
        use rayon::prelude::*;
        use std::io::{Read, Seek, SeekFrom};
        use std::os::unix::fs::FileExt;
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len() as usize;
        let parts = rayon::current_num_threads().min(len / part_bytes.max(1));
        if parts >= 2 {
            let mut bytes = vec![0u8; len];
            let part = len.div_ceil(parts);
            let file_ref = &file;
            let complete =
                bytes.par_chunks_mut(part).enumerate().all(|(k, buf)| file_ref.read_exact_at(buf, (k * part) as u64).is_ok());
            let grew = file.seek(SeekFrom::Start(len as u64)).and_then(|_| file.read(&mut [0u8; 1])).map_err(io)? > 0;
            if complete && !grew {
                return Ok(bytes);
            }
        }
    }
    std::fs::read(path).map_err(io)
}

/// Files of at least two parts of this many bytes are read in parallel.
const PARALLEL_READ_PART: usize = 8 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_plain_and_gbk_are_told_apart() {
        let p = Path::new("t.csv");
        let (t, e) = to_utf8(p, "\u{feff}事件编号".as_bytes()).unwrap();
        assert_eq!((&*t, e), ("事件编号", TextEncoding::Utf8Bom));
        let (t, e) = to_utf8(p, "事件编号".as_bytes()).unwrap();
        assert_eq!((&*t, e), ("事件编号", TextEncoding::Utf8));
        let (gbk, _, _) = encoding_rs::GBK.encode("事件编号,网格");
        let (t, e) = to_utf8(p, &gbk).unwrap();
        assert_eq!((&*t, e), ("事件编号,网格", TextEncoding::Gbk));
    }

    #[test]
    fn a_file_read_in_parts_is_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let bytes: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        for part in [1, 7, 1000, 50_000, 100_003, 1 << 20] {
            assert!(read_in_parts(&path, part).unwrap() == bytes, "parts of {part} bytes");
        }
        assert!(read_in_parts(&dir.path().join("missing.csv"), 10).unwrap_err().to_string().contains("missing.csv"));
    }

    /// The quick trim gives what `str::trim` gives, around every white space character Rust
    /// knows and the characters next to them in the code table.
    #[test]
    fn trim_is_str_trim() {
        let spaces: Vec<char> = (0..=0x3100u32).filter_map(char::from_u32).filter(|c| c.is_whitespace()).collect();
        assert!(spaces.contains(&'\u{3000}') && spaces.len() > 20);
        let mut around: Vec<char> = vec!['a', '9', '中', '网', '\u{ffff}', '𠀀'];
        for &c in &spaces {
            around.extend([c as u32 - 1, c as u32 + 1].into_iter().filter_map(char::from_u32));
        }
        for &a in spaces.iter().chain(&around) {
            for &b in spaces.iter().chain(&around) {
                for t in [format!("{a}"), format!("{a}{b}"), format!("{a}x{b}"), format!("{a}事件{b}")] {
                    assert_eq!(trim(&t), t.trim(), "{:?}", t);
                }
            }
        }
    }

    #[test]
    fn a_broken_bom_file_names_the_offset() {
        let err = to_utf8(Path::new("x.csv"), b"\xEF\xBB\xBFab\xFF").unwrap_err();
        assert!(err.to_string().contains("offset 5"), "{err}");
    }
}
