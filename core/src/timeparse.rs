//! Timestamps as real exports write them, parsed to local milliseconds.
//!
//! Every time in the core is "local wall-clock milliseconds since 1970-01-01 00:00" (naive local
//! time, China Standard Time by default), because centres count days and deadlines in local time.
//! A timestamp that carries an offset (`Z`, `+08:00`) is converted into the local offset.
//!
//! Accepted forms (separators `-`, `/`, `.`; `T` or a space before the time; seconds and
//! fractions optional):
//! - `2024-09-01 08:30:00`, `2024/9/1 8:30`, `2024-09-01T08:30:00.123+08:00`, `2024-09-01`
//! - `2024年9月1日 8时30分`, `2024年09月01日 08:30:00`
//! - `09/01/2024 08:30:00 AM` (month first, as US 311 exports write it; day first when the first
//!   number exceeds 12)
//! - `20240901`, `20240901083000` (compact, common in Chinese systems)
//!
//! Hand-written rather than chrono's `parse_from_str` over a list of formats: this runs once per
//! cell on millions of rows, and one scanner that reads any of the forms is several times faster
//! than trying formats in turn.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// China Standard Time, the default local offset.
pub const CST_OFFSET_MIN: i32 = 8 * 60;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The years a time may have.
const FIRST_YEAR: i64 = 1900;
const LAST_YEAR: i64 = 2200;
const MONTHS: usize = ((LAST_YEAR - FIRST_YEAR + 1) * 12) as usize;

/// The day number of the first of every month of the years times may have, and of the month
/// after the last: a date's day is a lookup (millions of cells), a month's length a difference.
static MONTH_STARTS: [i32; MONTHS + 1] = {
    let mut t = [0i32; MONTHS + 1];
    let mut k = 0;
    while k <= MONTHS {
        let y = FIRST_YEAR + (k / 12) as i64;
        t[k] = days_from_civil(y, (k % 12) as u32 + 1, 1) as i32;
        k += 1;
    }
    t
};

/// Local milliseconds of a wall-clock date and time; `None` when a field is out of range.
#[inline]
pub fn local_ms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> Option<i64> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&y) || !(1..=12).contains(&mo) || d == 0 {
        return None;
    }
    let k = (y - FIRST_YEAR) as usize * 12 + mo as usize - 1;
    let (first, next) = (MONTH_STARTS[k] as i64, MONTH_STARTS[k + 1] as i64);
    if d as i64 > next - first {
        return None;
    }
    if h > 24 || mi > 59 || s > 60 || (h == 24 && (mi > 0 || s > 0)) {
        return None;
    }
    let days = first + d as i64 - 1;
    Some(days * DAY_MS + (h as i64 * 3600 + mi as i64 * 60 + s.min(59) as i64) * 1000 + ms as i64)
}

/// Formats local milliseconds as `YYYY-MM-DD HH:MM:SS`.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS) / 1000;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Formats local milliseconds as `YYYY-MM-DD HH:MM:SS`, with `.mmm` when there are any (what
/// the parser reads back to the same millisecond).
pub fn format_ms_exact(ms: i64) -> String {
    let frac = ms.rem_euclid(1000);
    if frac == 0 { format_ms(ms) } else { format!("{}.{frac:03}", format_ms(ms)) }
}

/// Formats local milliseconds as `YYYY-MM-DD`.
pub fn format_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// An Excel serial date (days since 1899-12-30, fraction = time of day) to local milliseconds.
pub fn excel_serial_to_ms(serial: f64) -> Option<i64> {
    if !(1.0..=200_000.0).contains(&serial) {
        return None;
    }
    Some(((serial - 25_569.0) * DAY_MS as f64).round() as i64)
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn num(&mut self, max_digits: usize) -> Option<(u32, usize)> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i < self.b.len() && self.i - start < max_digits && self.b[self.i].is_ascii_digit() {
            v = v * 10 + (self.b[self.i] - b'0') as u32;
            self.i += 1;
        }
        (self.i > start).then_some((v, self.i - start))
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_str(&mut self, s: &str) -> bool {
        if self.b[self.i..].starts_with(s.as_bytes()) {
            self.i += s.len();
            true
        } else {
            false
        }
    }
    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }
}

/// Parses a timestamp into local milliseconds. `local_offset_min` is the local offset from UTC
/// (480 for China) used when the text carries its own offset.
pub fn parse_datetime(text: &str, local_offset_min: i32) -> Option<i64> {
    let t = crate::load::text::trim(text);
    if t.is_empty() {
        return None;
    }
    parse_common(t.as_bytes()).or_else(|| parse_general(t, local_offset_min))
}

/// [`parse_datetime`] of a trimmed, non-empty text by the scanner that reads every form.
fn parse_general(t: &str, local_offset_min: i32) -> Option<i64> {
    let b = t.as_bytes();
    // Compact all-digit forms.
    if b.iter().all(u8::is_ascii_digit) {
        return parse_compact(b);
    }
    let mut sc = Scan { b, i: 0 };
    let (first, first_len) = sc.num(4)?;
    let (y, mo, d);
    if first_len == 4 {
        // Year first: Y-M-D, Y/M/D, Y.M.D or Y年M月D日
        y = first as i64;
        if sc.eat_str("年") {
            let (m, _) = sc.num(2)?;
            if !sc.eat_str("月") {
                return None;
            }
            let (dd, _) = sc.num(2)?;
            sc.eat_str("日");
            mo = m;
            d = dd;
        } else {
            let sep = sc.peek()?;
            if !matches!(sep, b'-' | b'/' | b'.') {
                return None;
            }
            sc.i += 1;
            let (m, _) = sc.num(2)?;
            if !sc.eat(sep) {
                return None;
            }
            let (dd, _) = sc.num(2)?;
            mo = m;
            d = dd;
        }
    } else {
        // Month or day first with the year last: 09/01/2024 (US) or 13/01/2024 (day first).
        let sep = sc.peek()?;
        if !matches!(sep, b'/' | b'-' | b'.') {
            return None;
        }
        sc.i += 1;
        let (second, _) = sc.num(2)?;
        if !sc.eat(sep) {
            return None;
        }
        let (year, ylen) = sc.num(4)?;
        if ylen != 4 {
            return None;
        }
        y = year as i64;
        if first > 12 {
            d = first;
            mo = second;
        } else {
            mo = first;
            d = second;
        }
    }
    // Time part.
    let (mut h, mut mi, mut s, mut frac_ms) = (0u32, 0u32, 0u32, 0u32);
    let mut offset: Option<i32> = None;
    if !sc.done() {
        if !(sc.eat(b'T') || sc.eat(b' ') || sc.eat(b'\t')) {
            return None;
        }
        sc.skip_spaces();
        if !sc.done() {
            let (hh, _) = sc.num(2)?;
            h = hh;
            if sc.eat(b':') {
                mi = sc.num(2)?.0;
                if sc.eat(b':') {
                    s = sc.num(2)?.0;
                    if sc.eat(b'.') || sc.eat(b',') {
                        let (f, flen) = sc.num(9)?;
                        frac_ms = match flen {
                            1 => f * 100,
                            2 => f * 10,
                            3 => f,
                            n => f / 10u32.pow(n as u32 - 3),
                        };
                    }
                }
            } else if sc.eat_str("时") || sc.eat_str("点") {
                if let Some((m2, _)) = sc.num(2) {
                    mi = m2;
                    sc.eat_str("分");
                    if let Some((s2, _)) = sc.num(2) {
                        s = s2;
                        sc.eat_str("秒");
                    }
                }
            } else {
                return None;
            }
            sc.skip_spaces();
            // AM/PM
            let rest = &sc.b[sc.i..];
            if rest.len() >= 2 {
                let ap = [rest[0].to_ascii_uppercase(), rest[1].to_ascii_uppercase()];
                if ap == *b"AM" || ap == *b"PM" {
                    if h == 0 || h > 12 {
                        return None;
                    }
                    if ap == *b"AM" && h == 12 {
                        h = 0;
                    } else if ap == *b"PM" && h != 12 {
                        h += 12;
                    }
                    sc.i += 2;
                }
            } else if rest.starts_with("上午".as_bytes()) || rest.starts_with("下午".as_bytes()) {
                return None;
            }
            sc.skip_spaces();
            // Offset: Z, +08:00, +0800, +08
            match sc.peek() {
                Some(b'Z') | Some(b'z') => {
                    sc.i += 1;
                    offset = Some(0);
                }
                Some(c @ (b'+' | b'-')) => {
                    sc.i += 1;
                    let (oh, olen) = sc.num(4)?;
                    let (oh, om) = if olen == 4 {
                        (oh / 100, oh % 100)
                    } else {
                        let om = if sc.eat(b':') { sc.num(2)?.0 } else { 0 };
                        (oh, om)
                    };
                    let total = (oh * 60 + om) as i32;
                    offset = Some(if c == b'-' { -total } else { total });
                }
                _ => {}
            }
        }
    }
    sc.skip_spaces();
    if !sc.done() {
        return None;
    }
    let local = local_ms(y, mo, d, h, mi, s, frac_ms)?;
    Some(match offset {
        Some(off) => local + (local_offset_min - off) as i64 * 60_000,
        None => local,
    })
}

/// `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD HH:MM` and `YYYY-MM-DD` (or with `/`, or `T` before the
/// time): the forms nearly every export writes, read at fixed places without the scanner. Only a
/// valid time of exactly these forms gives a value; anything else (another form, an impossible
/// date) is left to the general parser, which reads these forms to the same value (tested).
fn parse_common(b: &[u8]) -> Option<i64> {
    if !matches!(b.len(), 10 | 16 | 19) {
        return None;
    }
    #[inline(always)]
    fn digits(b: &[u8], i: usize) -> Option<u32> {
        let (a, c) = (b.get(i)?.wrapping_sub(b'0'), b.get(i + 1)?.wrapping_sub(b'0'));
        (a < 10 && c < 10).then_some(a as u32 * 10 + c as u32)
    }
    let two = |i: usize| digits(b, i);
    let sep = b[4];
    if !matches!(sep, b'-' | b'/') || b[7] != sep {
        return None;
    }
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    let (mut h, mut mi, mut s) = (0, 0, 0);
    if b.len() > 10 {
        if !matches!(b[10], b' ' | b'T') || b[13] != b':' {
            return None;
        }
        (h, mi) = (two(11)?, two(14)?);
        if b.len() == 19 {
            if b[16] != b':' {
                return None;
            }
            s = two(17)?;
        }
    }
    local_ms(year as i64, month, day, h, mi, s, 0)
}

fn parse_compact(b: &[u8]) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| -> u32 { b[r].iter().fold(0, |a, c| a * 10 + (c - b'0') as u32) };
    match b.len() {
        8 => local_ms(n(0..4) as i64, n(4..6), n(6..8), 0, 0, 0, 0),
        12 => local_ms(n(0..4) as i64, n(4..6), n(6..8), n(8..10), n(10..12), 0, 0),
        14 => local_ms(n(0..4) as i64, n(4..6), n(6..8), n(8..10), n(10..12), n(12..14), 0),
        _ => None,
    }
}

/// Parses a date or date-time given on the command line (`2024-01-01`, `2024-01-01 08:00`).
pub fn parse_cli_datetime(text: &str) -> Result<i64, String> {
    parse_datetime(text, CST_OFFSET_MIN)
        .ok_or_else(|| format!("'{text}' is not a date or time (expected e.g. 2024-09-01 or 2024-09-01 08:00)"))
}

/// The clock as local milliseconds (China Standard Time, the time the data's times are read in).
pub fn now_local_ms() -> i64 {
    let utc = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    utc + CST_OFFSET_MIN as i64 * 60_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<String> {
        parse_datetime(s, CST_OFFSET_MIN).map(format_ms)
    }

    #[test]
    fn the_usual_forms_parse_to_the_same_instant() {
        for s in [
            "2024-09-01 08:30:05",
            "2024/09/01 08:30:05",
            "2024/9/1 8:30:05",
            "2024.09.01 08:30:05",
            "2024-09-01T08:30:05",
            "2024-09-01T08:30:05.250",
            "2024-09-01T00:30:05Z",
            "2024-09-01T08:30:05+08:00",
            "2024-09-01T02:30:05+0200",
            "2024年9月1日 8时30分5秒",
            "2024年09月01日 08:30:05",
            "09/01/2024 08:30:05 AM",
            "20240901083005",
            "  2024-09-01 08:30:05 ",
        ] {
            assert_eq!(p(s).as_deref(), Some("2024-09-01 08:30:05"), "{s}");
        }
    }

    #[test]
    fn dates_without_time_are_midnight() {
        assert_eq!(p("2024-09-01").as_deref(), Some("2024-09-01 00:00:00"));
        assert_eq!(p("20240901").as_deref(), Some("2024-09-01 00:00:00"));
        assert_eq!(p("2024年9月1日").as_deref(), Some("2024-09-01 00:00:00"));
        assert_eq!(p("2024-09-01 08:30").as_deref(), Some("2024-09-01 08:30:00"));
    }

    #[test]
    fn twelve_hour_clock_and_day_first_forms() {
        assert_eq!(p("09/01/2024 12:00:00 AM").as_deref(), Some("2024-09-01 00:00:00"));
        assert_eq!(p("09/01/2024 12:20:58 PM").as_deref(), Some("2024-09-01 12:20:58"));
        assert_eq!(p("09/01/2024 01:05:00 pm").as_deref(), Some("2024-09-01 13:05:00"));
        assert_eq!(p("13/01/2024 10:00").as_deref(), Some("2024-01-13 10:00:00"));
    }

    #[test]
    fn garbage_and_impossible_dates_are_rejected() {
        for s in
            ["", "NA", "abc", "2024-13-01", "2024-02-30", "2024-09-01 25:00", "2024-09", "1/2", "2024-09-01 08:30 XM", "13:00 PM"]
        {
            assert_eq!(p(s), None, "{s}");
        }
        assert_eq!(p("09/01/2024 13:00:00 PM"), None);
    }

    /// The fixed-place reading of the common forms gives what the general scanner gives, for
    /// every variation of those forms and their near misses (a digit or separator changed,
    /// dropped or added, impossible dates and times).
    #[test]
    fn the_common_forms_read_at_fixed_places_as_the_scanner_reads_them() {
        let general = |s: &str| if s.trim().is_empty() { None } else { parse_general(s.trim(), CST_OFFSET_MIN) };
        let seeds = [
            "2024-09-01 08:30:05",
            "2024/09/01 08:30:05",
            "2024-09-01T08:30:05",
            "2024-02-29 23:59:59",
            "2023-02-29 10:00:00",
            "2024-09-01 24:00:00",
            "2024-09-01 24:00",
            "2024-12-31 00:00",
            "2024-09-01",
            "1899-12-31",
            "2200-01-01 00:00:60",
        ];
        let alphabet = b"0123456789-/: T.x";
        let mut next = crate::xorshift(0x2545_f491_4f6c_dd1d);
        let mut checked = 0;
        for seed in seeds {
            for _ in 0..4000 {
                let mut b = seed.as_bytes().to_vec();
                for _ in 0..(next() % 3) {
                    let i = (next() as usize) % b.len();
                    let c = alphabet[(next() as usize) % alphabet.len()];
                    match next() % 4 {
                        0 if b.len() > 1 => {
                            b.remove(i);
                        }
                        1 => b.insert(i, c),
                        _ => b[i] = c,
                    }
                }
                let s = String::from_utf8(b).unwrap();
                assert_eq!(parse_datetime(&s, CST_OFFSET_MIN), general(&s), "'{s}'");
                checked += parse_common(s.as_bytes()).is_some() as usize;
            }
        }
        assert!(checked > 5000, "the fast path was taken {checked} times");
    }

    #[test]
    fn day_numbers_round_trip() {
        for days in [-1000, 0, 1, 19_967, 20_000, 60_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn exact_formatting_reads_back_to_the_millisecond() {
        for ms in [0i64, 1_700_000_000_123, 1_700_000_000_000, 1_700_000_000_999, -86_400_001] {
            assert_eq!(parse_cli_datetime(&format_ms_exact(ms)).ok(), Some(ms), "{}", format_ms_exact(ms));
        }
    }

    #[test]
    fn excel_serials_become_local_times() {
        // 45536 is 2024-09-01 in Excel's 1900 system; .5 is noon.
        assert_eq!(excel_serial_to_ms(45_536.5).map(format_ms).as_deref(), Some("2024-09-01 12:00:00"));
        assert_eq!(excel_serial_to_ms(-3.0), None);
    }

    /// The table of month starts gives every date's day number and rejects the days a month
    /// does not have, over the whole range of years, as the calendar arithmetic does.
    #[test]
    fn dates_by_the_table_are_dates_by_the_calendar() {
        for y in FIRST_YEAR - 1..=LAST_YEAR + 1 {
            for m in 0..=13 {
                for d in 0..=32 {
                    let want =
                        ((FIRST_YEAR..=LAST_YEAR).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
                            .then(|| days_from_civil(y, m, d) * DAY_MS + 3_723_000);
                    assert_eq!(local_ms(y, m, d, 1, 2, 3, 0), want, "{y}-{m}-{d}");
                }
            }
        }
    }
}
