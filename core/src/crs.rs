//! Coordinate systems met in Chinese map data, and conversion to WGS84.
//!
//! WGS84 and CGCS2000 differ by centimetres and are treated as one. GCJ-02 (Amap, Tencent) is
//! WGS84 with the published non-linear offset; BD-09 (Baidu) is a further transform of GCJ-02.
//! The forward formulas are the public ones (the same as in `eviltransform`/`coordtransform`);
//! the inverses iterate the forward transform until the residual is below 1e-9° (~0.1 mm), so a
//! round trip stays far inside the 2 m the centres need. The offset applies inside China only;
//! outside it every system equals WGS84.
//!
//! Written by hand: the crates that do this (`eviltransform`, `coord_transforms`) are small,
//! unmaintained and only give the one-step approximate inverse (1–2 m error); the maths is 40 lines.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A geographic coordinate system of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crs {
    /// WGS84 (GPS, EPSG:4326); also CGCS2000 (天地图), which differs by centimetres.
    #[default]
    Wgs84,
    /// GCJ-02 (高德 Amap, 腾讯 Tencent).
    Gcj02,
    /// BD-09 (百度 Baidu).
    Bd09,
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        })
    }
}

impl FromStr for Crs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace(['-', '_', ' '], "").as_str() {
            "wgs84" | "epsg4326" | "4326" | "crs84" | "cgcs2000" | "epsg4490" | "4490" => Ok(Crs::Wgs84),
            "gcj02" | "gcj" | "mars" | "amap" => Ok(Crs::Gcj02),
            "bd09" | "bd09ll" | "baidu" => Ok(Crs::Bd09),
            other => Err(format!("unknown coordinate system '{other}' (expected wgs84, cgcs2000, gcj02 or bd09)")),
        }
    }
}

impl Crs {
    /// Converts a lon/lat in this system to WGS84.
    pub fn to_wgs84(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lon, lat),
            Crs::Gcj02 => gcj02_to_wgs84(lon, lat),
            Crs::Bd09 => {
                let (glon, glat) = bd09_to_gcj02(lon, lat);
                gcj02_to_wgs84(glon, glat)
            }
        }
    }

    /// Converts a WGS84 lon/lat into this system.
    pub fn from_wgs84(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lon, lat),
            Crs::Gcj02 => wgs84_to_gcj02(lon, lat),
            Crs::Bd09 => {
                let (glon, glat) = wgs84_to_gcj02(lon, lat);
                gcj02_to_bd09(glon, glat)
            }
        }
    }
}

const A: f64 = 6_378_245.0; // Krasovsky 1940 semi-major axis used by GCJ-02
const EE: f64 = 0.006_693_421_622_965_943; // its first eccentricity squared
const X_PI: f64 = PI * 3000.0 / 180.0;

/// The rough China bounding box inside which GCJ-02 applies (the usual public test).
pub fn in_china(lon: f64, lat: f64) -> bool {
    (72.004..=137.8347).contains(&lon) && (0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// WGS84 → GCJ-02 (the published forward formula).
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if !in_china(lon, lat) {
        return (lon, lat);
    }
    let dlat = transform_lat(lon - 105.0, lat - 35.0);
    let dlon = transform_lon(lon - 105.0, lat - 35.0);
    let radlat = lat / 180.0 * PI;
    let magic = 1.0 - EE * radlat.sin() * radlat.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI);
    let dlon = (dlon * 180.0) / (A / sqrt_magic * radlat.cos() * PI);
    (lon + dlon, lat + dlat)
}

/// GCJ-02 → WGS84 by fixed-point iteration of the forward transform (converges in 3–5 steps).
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if !in_china(lon, lat) {
        return (lon, lat);
    }
    let (mut wlon, mut wlat) = (lon, lat);
    for _ in 0..30 {
        let (glon, glat) = wgs84_to_gcj02(wlon, wlat);
        let (dlon, dlat) = (glon - lon, glat - lat);
        wlon -= dlon;
        wlat -= dlat;
        if dlon.abs() < 1e-10 && dlat.abs() < 1e-10 {
            break;
        }
    }
    (wlon, wlat)
}

/// GCJ-02 → BD-09 (Baidu's published formula).
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// BD-09 → GCJ-02: the published approximate inverse, refined by iteration to ~1e-10°.
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon - 0.0065;
    let y = lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    let (mut glon, mut glat) = (z * theta.cos(), z * theta.sin());
    for _ in 0..10 {
        let (blon, blat) = gcj02_to_bd09(glon, glat);
        let (dlon, dlat) = (blon - lon, blat - lat);
        glon -= dlon;
        glat -= dlat;
        if dlon.abs() < 1e-10 && dlat.abs() < 1e-10 {
            break;
        }
    }
    (glon, glat)
}

/// Great-circle distance in metres (haversine, mean Earth radius); for tests and tolerances.
pub fn distance_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let r = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vectors of googollee/eviltransform (its Python and PHP test suites):
    // (wgs lat, wgs lng, gcj lat, gcj lng) for Shanghai, Shenzhen and Beijing.
    const EVIL_WGS_GCJ: [(f64, f64, f64, f64); 3] = [
        (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
        (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
        (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
    ];
    // (bd lat, bd lng, wgs lat, wgs lng) from the same suites.
    const EVIL_BD_WGS: [(f64, f64, f64, f64); 2] = [
        (29.199786, 120.019809, 29.196131605295484, 120.00877901149691),
        (29.210504, 120.036455, 29.206795749156136, 120.0253853970846),
    ];

    #[test]
    fn wgs84_to_gcj02_matches_the_eviltransform_vectors_within_a_centimetre() {
        for (wlat, wlon, glat, glon) in EVIL_WGS_GCJ {
            let (lon, lat) = wgs84_to_gcj02(wlon, wlat);
            let d = distance_m(lon, lat, glon, glat);
            assert!(d < 0.01, "({wlon},{wlat}) -> ({lon},{lat}) is {d} m from ({glon},{glat})");
        }
    }

    #[test]
    fn bd09_to_wgs84_is_exact_where_the_one_step_inverse_is_metres_off() {
        // eviltransform's bd2wgs uses the one-step GCJ-02 inverse (its own suite trusts that to
        // 5 m). Ours iterates: the forward transform of our answer lands back on the BD-09
        // input, while the forward transform of theirs misses it by metres.
        for (blat, blon, wlat, wlon) in EVIL_BD_WGS {
            let (lon, lat) = Crs::Bd09.to_wgs84(blon, blat);
            let (fx, fy) = Crs::Bd09.from_wgs84(lon, lat);
            assert!(distance_m(fx, fy, blon, blat) < 0.01, "our inverse does not round-trip at ({blon},{blat})");
            let (ex, ey) = Crs::Bd09.from_wgs84(wlon, wlat);
            let one_step_error = distance_m(ex, ey, blon, blat);
            assert!(one_step_error > 1.0, "the one-step inverse is off by {one_step_error} m");
            assert!(distance_m(lon, lat, wlon, wlat) < one_step_error + 1.0);
        }
    }

    #[test]
    fn forward_transforms_match_the_coordtransform_readme_outputs() {
        // wandergis/coordtransform test/app.js, for the input (116.404, 39.915).
        let (lon, lat) = gcj02_to_bd09(116.404, 39.915);
        assert!((lon - 116.41036949371029).abs() < 1e-12 && (lat - 39.92133699351021).abs() < 1e-12, "({lon},{lat})");
        let (lon, lat) = wgs84_to_gcj02(116.404, 39.915);
        assert!(distance_m(lon, lat, 116.41024449916938, 39.91640428150164) < 0.01, "({lon},{lat})");
    }

    #[test]
    fn gcj02_offset_in_heilongjiang_is_about_500_m_east_and_230_m_north() {
        // Shared data: the GCJ-02 copy of Qiqihar sits ~+0.0066° lon, +0.0021° lat off WGS84.
        let (lon, lat) = wgs84_to_gcj02(123.95, 47.35);
        assert!((lon - 123.95 - 0.0066).abs() < 0.0008, "dlon {}", lon - 123.95);
        assert!((lat - 47.35 - 0.0021).abs() < 0.0008, "dlat {}", lat - 47.35);
    }

    #[test]
    fn round_trips_stay_within_two_metres_across_china() {
        for lon in (74..135).step_by(3) {
            for lat in (19..53).step_by(3) {
                let (lon, lat) = (lon as f64 + 0.123, lat as f64 + 0.456);
                for crs in [Crs::Gcj02, Crs::Bd09] {
                    let (x, y) = crs.from_wgs84(lon, lat);
                    assert!(distance_m(x, y, lon, lat) > 1.0, "{crs} should move the point");
                    let (bl, bt) = crs.to_wgs84(x, y);
                    let d = distance_m(lon, lat, bl, bt);
                    assert!(d < 0.01, "{crs} round trip at ({lon},{lat}) is off by {d} m");
                }
            }
        }
    }

    #[test]
    fn outside_china_every_system_is_wgs84() {
        assert_eq!(Crs::Gcj02.to_wgs84(-122.4, 37.7), (-122.4, 37.7));
        assert_eq!(Crs::Gcj02.from_wgs84(-73.9, 40.7), (-73.9, 40.7));
    }

    #[test]
    fn names_parse_case_and_dash_insensitively() {
        assert_eq!("GCJ-02".parse::<Crs>(), Ok(Crs::Gcj02));
        assert_eq!("CGCS2000".parse::<Crs>(), Ok(Crs::Wgs84));
        assert_eq!("bd09".parse::<Crs>(), Ok(Crs::Bd09));
        assert!("utm50".parse::<Crs>().is_err());
    }
}
