"""Prints the characters the bundled font keeps: GB2312, ASCII, symbols, and the bundled data's."""
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
chars = {chr(c) for c in range(0x20, 0x7F)}
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars.add(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
chars.update("—–·…²³°×÷±≤≥≈→←↑↓▸▾▴◂★☆●○■□▲△▼▽◆◇✓✗✔✘‰%（）【】《》「」『』、。，；：？！“”‘’￥①②③④⑤⑥⑦⑧⑨⑩⊕⊖")
for f in ["sample-data/grids.geojson", "sample-data/incidents.csv", "sample-data/sources/jiamusi_urban_districts_wgs84.geojson",
          "testdata/heilongjiang/230200_district_amap_wgs84.geojson"]:
    chars.update((root / f).read_text(encoding="utf-8-sig"))
print("".join(sorted(c for c in chars if ord(c) >= 0x20)), end="")
