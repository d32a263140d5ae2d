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

/// Reads a whole file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| CoreError::io(path, e))
}

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
    fn a_broken_bom_file_names_the_offset() {
        let err = to_utf8(Path::new("x.csv"), b"\xEF\xBB\xBFab\xFF").unwrap_err();
        assert!(err.to_string().contains("offset 5"), "{err}");
    }
}
