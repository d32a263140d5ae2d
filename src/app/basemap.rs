//! Basemaps for an intranet: none (the default), a local folder of `{z}/{x}/{y}` tiles, an
//! MBTiles file, a PMTiles file (walkers' own reader), or an XYZ URL template for an intranet tile
//! server (walkers' HTTP tiles). Nothing reaches the network unless the user types a URL.
//!
//! walkers has no folder or MBTiles source, so [`LocalTiles`] implements its small `Tiles`
//! trait: tiles are read and decoded on a background thread, kept in a bounded cache, and a
//! missing tile is drawn from the nearest lower zoom until it arrives (or for zooms past the
//! source's deepest level).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use egui::{Rect, pos2};
use serde::{Deserialize, Serialize};
use walkers::sources::{Attribution, TileSource};
use walkers::{HttpTiles, Style, Tile, TileId, TilePiece, Tiles};

/// Which basemap, as the user configured it (persisted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BasemapKind {
    #[default]
    None,
    Folder,
    MbTiles,
    PmTiles,
    Xyz,
}

impl BasemapKind {
    pub const ALL: [BasemapKind; 5] =
        [BasemapKind::None, BasemapKind::Folder, BasemapKind::MbTiles, BasemapKind::PmTiles, BasemapKind::Xyz];
    pub fn label(self, zh: bool) -> &'static str {
        match (self, zh) {
            (BasemapKind::None, true) => "无底图 (矢量网格)",
            (BasemapKind::None, false) => "None (vector grids)",
            (BasemapKind::Folder, true) => "本地瓦片目录 {z}/{x}/{y}",
            (BasemapKind::Folder, false) => "Tile folder {z}/{x}/{y}",
            (BasemapKind::MbTiles, _) => "MBTiles",
            (BasemapKind::PmTiles, _) => "PMTiles",
            (BasemapKind::Xyz, true) => "XYZ 瓦片服务 (内网)",
            (BasemapKind::Xyz, false) => "XYZ tile server (intranet)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BasemapConfig {
    pub kind: BasemapKind,
    /// Folder or file path, or URL template with {z} {x} {y}.
    pub location: String,
    /// Shown in the map's corner, as the tile provider requires.
    pub attribution: String,
    /// The tiles are GCJ-02 (Amap, Tencent style): draw the data in GCJ-02 so both line up.
    pub gcj02: bool,
    pub opacity: f32,
}

impl Default for BasemapConfig {
    fn default() -> Self {
        Self { kind: BasemapKind::None, location: String::new(), attribution: String::new(), gcj02: false, opacity: 1.0 }
    }
}

/// Opens the configured basemap; `Ok(None)` for none.
pub fn open(cfg: &BasemapConfig, ctx: &egui::Context) -> Result<Option<Box<dyn Tiles>>, String> {
    let loc = cfg.location.trim();
    if cfg.kind != BasemapKind::None && loc.is_empty() {
        return Err("no path or URL given".into());
    }
    Ok(match cfg.kind {
        BasemapKind::None => None,
        BasemapKind::Folder => Some(Box::new(LocalTiles::new(FolderReader::open(Path::new(loc))?, ctx.clone()))),
        BasemapKind::MbTiles => Some(Box::new(LocalTiles::new(MbTilesReader::open(Path::new(loc))?, ctx.clone()))),
        BasemapKind::PmTiles => {
            if !Path::new(loc).is_file() {
                return Err(format!("{loc}: no such file"));
            }
            Some(Box::new(walkers::PmTiles::new(loc, ctx.clone())))
        }
        BasemapKind::Xyz => {
            if !(loc.contains("{z}") && loc.contains("{x}") && loc.contains("{y}")) {
                return Err("the URL template needs {z}, {x} and {y}".into());
            }
            if !(loc.starts_with("http://") || loc.starts_with("https://")) {
                return Err("the URL must start with http:// or https://".into());
            }
            Some(Box::new(HttpTiles::new(XyzSource { template: loc.to_string() }, ctx.clone())))
        }
    })
}

/// An XYZ URL template: `http://tiles.intranet/{z}/{x}/{y}.png`.
pub struct XyzSource {
    pub template: String,
}

impl XyzSource {
    pub fn url(&self, id: TileId) -> String {
        self.template.replace("{z}", &id.zoom.to_string()).replace("{x}", &id.x.to_string()).replace("{y}", &id.y.to_string())
    }
}

impl TileSource for XyzSource {
    fn tile_url(&self, id: TileId) -> String {
        self.url(id)
    }
    fn attribution(&self) -> Attribution {
        // Shown by the app from the user's own text; walkers needs a static one.
        Attribution { text: "", url: "", logo_light: None, logo_dark: None }
    }
}

/// Reads encoded tile images by id (any thread).
pub trait TileReader: Send + 'static {
    /// The bytes of a tile, `Ok(None)` when the source has no such tile.
    fn read(&mut self, id: TileId) -> Result<Option<Vec<u8>>, String>;
    /// Deepest zoom level the source has.
    fn max_zoom(&self) -> u8;
}

/// `{root}/{z}/{x}/{y}.{png,jpg,jpeg,webp}` (XYZ rows, as tile servers and most tools write).
pub struct FolderReader {
    root: PathBuf,
    max_zoom: u8,
}

impl FolderReader {
    pub fn open(root: &Path) -> Result<FolderReader, String> {
        let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
        let max_zoom = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u8>().ok()))
            .max()
            .ok_or_else(|| format!("{}: no zoom folders (0, 1, 2 …) inside", root.display()))?;
        Ok(FolderReader { root: root.to_path_buf(), max_zoom })
    }
}

impl TileReader for FolderReader {
    fn read(&mut self, id: TileId) -> Result<Option<Vec<u8>>, String> {
        let dir = self.root.join(id.zoom.to_string()).join(id.x.to_string());
        for ext in ["png", "jpg", "jpeg", "webp"] {
            let p = dir.join(format!("{}.{ext}", id.y));
            match std::fs::read(&p) {
                Ok(b) => return Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", p.display())),
            }
        }
        Ok(None)
    }
    fn max_zoom(&self) -> u8 {
        self.max_zoom
    }
}

/// An MBTiles file (SQLite; rows in TMS order, so y is flipped).
pub struct MbTilesReader {
    conn: rusqlite::Connection,
    max_zoom: u8,
}

impl MbTilesReader {
    pub fn open(path: &Path) -> Result<MbTilesReader, String> {
        if !path.is_file() {
            return Err(format!("{}: no such file", path.display()));
        }
        let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let max_zoom: Option<i64> = conn
            .query_row("SELECT MAX(zoom_level) FROM tiles", [], |r| r.get(0))
            .map_err(|e| format!("{}: not an MBTiles file ({e})", path.display()))?;
        let max_zoom = max_zoom.ok_or_else(|| format!("{}: the tiles table is empty", path.display()))?;
        Ok(MbTilesReader { conn, max_zoom: max_zoom.clamp(0, 24) as u8 })
    }
}

impl TileReader for MbTilesReader {
    fn read(&mut self, id: TileId) -> Result<Option<Vec<u8>>, String> {
        let row = (1i64 << id.zoom) - 1 - id.y as i64;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3")
            .map_err(|e| e.to_string())?;
        let mut rows = stmt.query((id.zoom as i64, id.x as i64, row)).map_err(|e| e.to_string())?;
        match rows.next().map_err(|e| e.to_string())? {
            Some(r) => r.get::<_, Vec<u8>>(0).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
    fn max_zoom(&self) -> u8 {
        self.max_zoom
    }
}

const CACHE_TILES: usize = 768;

/// A walkers tile source over a [`TileReader`], loading on its own thread.
pub struct LocalTiles {
    requests: Sender<TileId>,
    results: Receiver<(TileId, Option<Tile>)>,
    cache: HashMap<TileId, Option<Tile>>,
    order: VecDeque<TileId>,
    pending: HashSet<TileId>,
    max_zoom: u8,
    /// The last read or decode failure (shown in the layer panel).
    pub last_error: Option<String>,
    errors: Receiver<String>,
}

impl LocalTiles {
    pub fn new(mut reader: impl TileReader, ctx: egui::Context) -> LocalTiles {
        let (req_tx, req_rx) = channel::<TileId>();
        let (res_tx, res_rx) = channel();
        let (err_tx, err_rx) = channel();
        let max_zoom = reader.max_zoom();
        let spawned = std::thread::Builder::new().name("gridcentre-tiles".into()).spawn(move || {
            let style = Style;
            for id in req_rx {
                let tile = match reader.read(id) {
                    Ok(Some(bytes)) => match Tile::new(&bytes, &style, id.zoom, 256, &ctx) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            let _ = err_tx.send(format!("tile {}/{}/{}: {e}", id.zoom, id.x, id.y));
                            None
                        }
                    },
                    Ok(None) => None,
                    Err(e) => {
                        let _ = err_tx.send(e);
                        None
                    }
                };
                if res_tx.send((id, tile)).is_err() {
                    return;
                }
                ctx.request_repaint();
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start the tile thread: {e}");
        }
        LocalTiles {
            requests: req_tx,
            results: res_rx,
            cache: HashMap::new(),
            order: VecDeque::new(),
            pending: HashSet::new(),
            max_zoom,
            last_error: None,
            errors: err_rx,
        }
    }

    fn drain(&mut self) {
        for (id, tile) in self.results.try_iter() {
            self.pending.remove(&id);
            self.cache.insert(id, tile);
            self.order.push_back(id);
        }
        while self.order.len() > CACHE_TILES {
            if let Some(old) = self.order.pop_front() {
                self.cache.remove(&old);
            }
        }
        if let Some(e) = self.errors.try_iter().last() {
            self.last_error = Some(e);
        }
    }
}

/// The ancestor of `id` at `zoom` and the part of it (uv) that covers `id`.
pub fn from_lower_zoom(id: TileId, zoom: u8) -> (TileId, Rect) {
    let dz = id.zoom.saturating_sub(zoom);
    let n = (1u32 << dz) as f32;
    let parent = TileId { x: id.x >> dz, y: id.y >> dz, zoom: id.zoom - dz };
    let (ox, oy) = ((id.x - (parent.x << dz)) as f32, (id.y - (parent.y << dz)) as f32);
    (parent, Rect::from_min_max(pos2(ox / n, oy / n), pos2((ox + 1.0) / n, (oy + 1.0) / n)))
}

impl Tiles for LocalTiles {
    fn at(&mut self, id: TileId) -> Option<TilePiece> {
        self.drain();
        let want = if id.zoom > self.max_zoom { from_lower_zoom(id, self.max_zoom).0 } else { id };
        if !self.cache.contains_key(&want) && self.pending.insert(want) {
            let _ = self.requests.send(want);
        }
        // The tile itself, else the nearest lower zoom that is loaded.
        let mut z = want.zoom;
        loop {
            let (donor, uv) = from_lower_zoom(id, z);
            if let Some(Some(tile)) = self.cache.get(&donor) {
                return Some(TilePiece::new(tile.clone(), uv));
            }
            z = z.checked_sub(1)?;
        }
    }
    fn attribution(&self) -> Attribution {
        Attribution { text: "", url: "", logo_light: None, logo_dark: None }
    }
    fn tile_size(&self) -> u32 {
        256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_tile_is_the_right_quarter_of_its_parent() {
        let (p, uv) = from_lower_zoom(TileId { x: 5, y: 6, zoom: 3 }, 2);
        assert_eq!(p, TileId { x: 2, y: 3, zoom: 2 });
        assert_eq!(uv, Rect::from_min_max(pos2(0.5, 0.0), pos2(1.0, 0.5)));
        let (p, uv) = from_lower_zoom(TileId { x: 7, y: 0, zoom: 4 }, 2);
        assert_eq!(p, TileId { x: 1, y: 0, zoom: 2 });
        assert_eq!(uv, Rect::from_min_max(pos2(0.75, 0.0), pos2(1.0, 0.25)));
        assert_eq!(from_lower_zoom(TileId { x: 7, y: 1, zoom: 4 }, 4).1, Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)));
    }

    #[test]
    fn folder_and_mbtiles_read_the_same_tile() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let png = b"\x89PNG\r\n\x1a\nfake";
        let tdir = dir.path().join("tiles/12/3400");
        std::fs::create_dir_all(&tdir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(tdir.join("1440.png"), png).unwrap_or_else(|e| panic!("{e}"));
        let mut folder = FolderReader::open(&dir.path().join("tiles")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(folder.max_zoom(), 12);
        let id = TileId { x: 3400, y: 1440, zoom: 12 };
        assert_eq!(folder.read(id), Ok(Some(png.to_vec())));
        assert_eq!(folder.read(TileId { x: 1, y: 1, zoom: 12 }), Ok(None));

        let db = dir.path().join("t.mbtiles");
        let conn = rusqlite::Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);")
            .unwrap_or_else(|e| panic!("{e}"));
        let tms_row = (1i64 << 12) - 1 - 1440;
        conn.execute("INSERT INTO tiles VALUES (12, 3400, ?1, ?2)", (tms_row, png.to_vec())).unwrap_or_else(|e| panic!("{e}"));
        drop(conn);
        let mut mb = MbTilesReader::open(&db).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mb.max_zoom(), 12);
        assert_eq!(mb.read(id), Ok(Some(png.to_vec())));
        assert_eq!(mb.read(TileId { x: 3400, y: 1441, zoom: 12 }), Ok(None));
        assert!(MbTilesReader::open(&dir.path().join("tiles")).is_err());
    }

    /// A real 4 × 4 RGB PNG.
    const PNG: [u8; 73] = [
        137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 4, 0, 0, 0, 4, 8, 2, 0, 0, 0, 38, 147, 9, 41, 0,
        0, 0, 16, 73, 68, 65, 84, 120, 156, 99, 48, 72, 152, 0, 71, 12, 196, 113, 0, 206, 67, 18, 1, 181, 231, 162, 114, 0, 0, 0,
        0, 73, 69, 78, 68, 174, 66, 96, 130,
    ];

    #[test]
    fn a_folder_tile_is_decoded_in_the_background_and_lends_itself_to_deeper_zooms() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let tdir = dir.path().join("11/1766");
        std::fs::create_dir_all(&tdir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(tdir.join("722.png"), PNG).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(tdir.join("723.png"), b"not an image").unwrap_or_else(|e| panic!("{e}"));
        let reader = FolderReader::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut tiles = LocalTiles::new(reader, egui::Context::default());
        let id = TileId { x: 1766, y: 722, zoom: 11 };
        assert!(tiles.at(id).is_none(), "not loaded yet: requested");
        let _ = tiles.at(TileId { x: 1766, y: 723, zoom: 11 });
        let mut piece = None;
        for _ in 0..500 {
            std::thread::sleep(std::time::Duration::from_millis(5));
            piece = tiles.at(id);
            if piece.is_some() && tiles.last_error.is_some() {
                break;
            }
        }
        let piece = piece.unwrap_or_else(|| panic!("tile never arrived"));
        assert!(matches!(piece.tile, Tile::Raster(_)));
        assert_eq!(piece.uv, Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)));
        // Zoom 13 has no tiles: the zoom-11 tile is drawn, its matching sixteenth.
        let deeper = tiles.at(TileId { x: 1766 * 4 + 1, y: 722 * 4 + 2, zoom: 13 }).unwrap_or_else(|| panic!("over-zoom"));
        assert_eq!(deeper.uv, Rect::from_min_max(pos2(0.25, 0.5), pos2(0.5, 0.75)));
        // The broken file is reported, not fatal.
        assert!(tiles.last_error.as_deref().is_some_and(|e| e.contains("11/1766/723")), "{:?}", tiles.last_error);
    }

    #[test]
    fn configuration_errors_are_named() {
        let ctx = egui::Context::default();
        let cfg = |kind, location: &str| BasemapConfig { kind, location: location.into(), ..BasemapConfig::default() };
        assert!(matches!(open(&cfg(BasemapKind::None, ""), &ctx), Ok(None)));
        for (kind, loc) in [
            (BasemapKind::Folder, ""),
            (BasemapKind::Folder, "/nonexistent/tiles"),
            (BasemapKind::MbTiles, "/nonexistent.mbtiles"),
            (BasemapKind::PmTiles, "/nonexistent.pmtiles"),
            (BasemapKind::Xyz, "http://tiles.local/{z}/{x}.png"),
            (BasemapKind::Xyz, "tiles.local/{z}/{x}/{y}.png"),
        ] {
            assert!(open(&cfg(kind, loc), &ctx).is_err(), "{kind:?} {loc}");
        }
        let s = XyzSource { template: "http://10.0.0.5/amap/{z}/{x}/{y}.png".into() };
        assert_eq!(s.url(TileId { x: 1, y: 2, zoom: 3 }), "http://10.0.0.5/amap/3/1/2.png");
    }
}
