"""Reference peers for the benchmark and for exact agreement checks.

    python3 tools/peers.py duckdb|geopandas GRIDS.geojson INCIDENTS.csv OUT_COUNTS.csv

Does what `gridcentre` does with the same files: load the grids and the incidents, assign each
incident to the grid containing its point (or, for a row with no coordinates, to the grid its
网格编码 names), and count incidents and closed (办理状态 == 已办结) per grid. Prints one JSON line
of timings (seconds) and peak memory; writes `grid_code,incidents,closed` sorted by code.

Boundary rule: the peers' predicates (ST_Contains, within) put a point that lies exactly on an
edge shared by two grids in neither. gridcentre gives it to the grid east of the edge (north of
a horizontal edge). So a point that intersects a grid but is contained by none is tested again
nudged 1e-9° east and 1e-11° north, which is that rule; the number of such points is printed.

Install the peers with `pip install -r tools/requirements-peers.txt` (DuckDB's spatial extension
comes from PyPI's duckdb-extension-spatial, so nothing is downloaded at run time).
"""
import glob
import json
import os
import resource
import sys
import time

CODE, LON, LAT, STATUS, DECLARED = "网格编码", "经度", "纬度", "办理状态", "网格编码"


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_duckdb(grids, incidents, out):
    import duckdb
    import duckdb_extension_spatial as ext

    t0 = time.perf_counter()
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    path = glob.glob(os.path.join(os.path.dirname(ext.__file__), "extensions", "*", "spatial.duckdb_extension"))[0]
    con.execute(f"LOAD '{path}'")
    con.execute(f"CREATE TABLE grids AS SELECT \"{CODE}\" AS code, geom FROM ST_Read('{grids}')")
    con.execute(
        f"CREATE TABLE inc AS SELECT row_number() OVER () AS rid, \"{LON}\"::DOUBLE AS lon, \"{LAT}\"::DOUBLE AS lat, "
        f"\"{STATUS}\" AS status, \"{DECLARED}\" AS declared FROM read_csv('{incidents}', all_varchar=true)"
    )
    t1 = time.perf_counter()
    con.execute(
        "CREATE TABLE hit AS SELECT i.rid, min(g.code) AS code FROM inc i JOIN grids g "
        "ON ST_Contains(g.geom, ST_Point(i.lon, i.lat)) WHERE i.lon IS NOT NULL GROUP BY i.rid"
    )
    # Points on a boundary: located, in no grid's interior, but touching one.
    con.execute(
        "CREATE TABLE edge AS SELECT i.rid, i.lon, i.lat FROM inc i ANTI JOIN hit h USING (rid) "
        "WHERE i.lon IS NOT NULL AND EXISTS (SELECT 1 FROM grids g WHERE ST_Intersects(g.geom, ST_Point(i.lon, i.lat)))"
    )
    on_edges = con.execute("SELECT count(*) FROM edge").fetchone()[0]
    con.execute(
        "INSERT INTO hit SELECT e.rid, min(g.code) FROM edge e JOIN grids g "
        "ON ST_Contains(g.geom, ST_Point(e.lon + 1e-9, e.lat + 1e-11)) GROUP BY e.rid"
    )
    con.execute(
        "CREATE TABLE assigned AS SELECT i.rid, i.status, coalesce(h.code, CASE WHEN i.lon IS NULL THEN g.code END) AS code "
        "FROM inc i LEFT JOIN hit h USING (rid) LEFT JOIN grids g ON g.code = i.declared"
    )
    t2 = time.perf_counter()
    rows = con.execute(
        "SELECT code, count(*) AS incidents, count(*) FILTER (WHERE status = '已办结') AS closed "
        "FROM assigned WHERE code IS NOT NULL GROUP BY code ORDER BY code"
    ).fetchall()
    t3 = time.perf_counter()
    write(out, rows)
    return t1 - t0, t2 - t1, t3 - t2, on_edges


def run_geopandas(grids, incidents, out):
    import geopandas as gpd
    import pandas as pd

    t0 = time.perf_counter()
    g = gpd.read_file(grids)[[CODE, "geometry"]].rename(columns={CODE: "code"})
    df = pd.read_csv(incidents, dtype=str, keep_default_na=False, na_values=[""], usecols=[LON, LAT, STATUS, DECLARED])
    df["lon"] = pd.to_numeric(df[LON])
    df["lat"] = pd.to_numeric(df[LAT])
    t1 = time.perf_counter()
    located = df[df["lon"].notna()]
    pts = gpd.GeoDataFrame(located[[STATUS]], geometry=gpd.points_from_xy(located["lon"], located["lat"]), crs=g.crs)
    j = gpd.sjoin(pts, g, predicate="within", how="inner")
    j = j.reset_index().groupby("index")["code"].min()
    # Points on a boundary (see the module doc): touching a grid, inside none.
    rest = pts.loc[pts.index.difference(j.index)]
    touching = gpd.sjoin(rest, g, predicate="intersects", how="inner").index.unique()
    nudged = rest.loc[touching].copy()
    nudged["geometry"] = gpd.points_from_xy(located.loc[touching, "lon"] + 1e-9, located.loc[touching, "lat"] + 1e-11)
    k = gpd.sjoin(nudged, g, predicate="within", how="inner").reset_index().groupby("index")["code"].min()
    on_edges = len(touching)
    df["code"] = None
    df.loc[j.index, "code"] = j.values
    df.loc[k.index, "code"] = k.values
    no_xy = df["lon"].isna() & df[DECLARED].isin(set(g["code"]))
    df.loc[no_xy, "code"] = df.loc[no_xy, DECLARED]
    t2 = time.perf_counter()
    a = df[df["code"].notna()]
    agg = a.groupby("code").agg(incidents=(STATUS, "size"), closed=(STATUS, lambda s: int((s == "已办结").sum())))
    rows = [(c, int(r.incidents), int(r.closed)) for c, r in agg.sort_index().iterrows()]
    t3 = time.perf_counter()
    write(out, rows)
    return t1 - t0, t2 - t1, t3 - t2, on_edges


def write(out, rows):
    with open(out, "w", encoding="utf-8") as f:
        f.write("grid_code,incidents,closed\n")
        for code, n, closed in rows:
            f.write(f"{code},{n},{closed}\n")


if __name__ == "__main__":
    peer, grids, incidents, out = sys.argv[1:5]
    fn = {"duckdb": run_duckdb, "geopandas": run_geopandas}[peer]
    load, assign, aggregate, on_edges = fn(grids, incidents, out)
    print(json.dumps({"peer": peer, "load_s": load, "assign_s": assign, "aggregate_s": aggregate,
                      "total_s": load + assign + aggregate, "peak_mb": peak_mb(), "points_on_edges": on_edges}))
