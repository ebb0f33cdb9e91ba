//! Finding acquisition dates in file names and metadata.

use chrono::{Datelike, NaiveDate};

/// Years a satellite or drone acquisition can plausibly have (Landsat 1 flew in 1972).
const YEARS: std::ops::RangeInclusive<i32> = 1972..=2100;

/// The first plausible date in `text`: `YYYY-MM-DD` (also with `_`, `:` or `/`), else eight digits
/// `YYYYMMDD` inside a run of digits (Landsat scene ids and Sentinel-2 product names hold one there).
pub fn date_in_text(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    for start in 0..bytes.len() {
        if bytes.len() - start < 10 {
            break;
        }
        let s = &bytes[start..start + 10];
        let sep = s[4];
        if matches!(sep, b'-' | b'_' | b':' | b'/')
            && s[7] == sep
            && s.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
            && (start == 0 || !bytes[start - 1].is_ascii_digit())
        {
            let y = parse(&s[0..4]);
            if let Some(d) = plausible(y, parse(&s[5..7]), parse(&s[8..10])) {
                return Some(d);
            }
        }
    }
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &bytes[run_start..i];
        for w in run.windows(8) {
            if let Some(d) = plausible(parse(&w[0..4]), parse(&w[4..6]), parse(&w[6..8])) {
                return Some(d);
            }
        }
    }
    None
}

fn parse(digits: &[u8]) -> i32 {
    digits.iter().fold(0, |acc, d| acc * 10 + (d - b'0') as i32)
}

fn plausible(y: i32, m: i32, d: i32) -> Option<NaiveDate> {
    if !YEARS.contains(&y) {
        return None;
    }
    NaiveDate::from_ymd_opt(y, m as u32, d as u32).filter(|date| date.year() == y)
}

/// Adds whole calendar months, clamping the day (Jan 31 + 1 month = Feb 28/29), as "three months" means
/// to an analyst.
pub fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(chrono::Months::new(months)).unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn finds_dates_in_the_usual_places() {
        assert_eq!(date_in_text("scene_2024-03-05.tif"), Some(d(2024, 3, 5)));
        assert_eq!(date_in_text("2024:03:05 10:11:12"), Some(d(2024, 3, 5)));
        assert_eq!(date_in_text("S2A_MSIL2A_20230105T030121_N0509"), Some(d(2023, 1, 5)));
        // ENVI band name of the Taizhou Landsat-7 scene (PROVENANCE.txt: 2000-03-17).
        assert_eq!(date_in_text("Resize (ETM+ Meta (Band 1):L71119038_03820000317_MTL.txt)"), Some(d(2000, 3, 17)));
        assert_eq!(date_in_text("2000TM"), None);
        assert_eq!(date_in_text("plot 12345678"), None);
    }

    #[test]
    fn months_clamp_to_month_end() {
        assert_eq!(add_months(d(2026, 1, 31), 1), d(2026, 2, 28));
        assert_eq!(add_months(d(2026, 3, 4), 3), d(2026, 6, 4));
    }
}
