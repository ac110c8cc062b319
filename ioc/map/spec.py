"""The map's layer specification, built with pydeck and rendered in the page by `@deck.gl/json`.

The spec carries only what does not change while the page is open: the province shapes (by URL, so
the JSON stays small), label positions and the initial view. The page colours the provinces and
suffixes the labels from live data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import pydeck as pdk

PROVINCES_LAYER_ID = "provinces"
PROVINCE_LABELS_LAYER_ID = "province-labels"
SPECIAL_ZONE_LABELS_LAYER_ID = "special-zone-labels"

LabelKind = Literal["province", "special_zone"]

# Mainland, Hoàng Sa and Trường Sa (west, south, east, north); the page refits to these on resize.
VIETNAM_BOUNDS: tuple[float, float, float, float] = (102.1, 7.6, 117.0, 23.4)
# Fits VIETNAM_BOUNDS into a map panel of roughly 1000 × 900 px; the page refits to the real size.
INITIAL_VIEW = pdk.ViewState(latitude=15.3, longitude=109.5, zoom=4.6, min_zoom=3.5, max_zoom=10)

# Fonts with Vietnamese glyphs first; the canvas falls back like CSS does.
_LABEL_FONT = "'Noto Sans, DejaVu Sans, Liberation Sans, Arial, sans-serif'"


def _literal(text: str) -> str:
    # pydeck turns a bare string into an accessor expression ("@@=..."); quoting keeps it a string.
    return f"'{text}'"


def map_labels(
    provinces_geojson: Mapping[str, Any], special_zones: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Label rows for `build_map_spec`: one per province (at its label point) and per special zone."""
    rows: list[dict[str, Any]] = []
    for feature in provinces_geojson["features"]:
        props = feature["properties"]
        rows.append(
            {
                "kind": "province",
                "code": str(props["code"]),
                "text": str(props["short_name"]),
                "lat": float(props["label_lat"]),
                "lon": float(props["label_lon"]),
            }
        )
    for zone in special_zones:
        rows.append(
            {
                "kind": "special_zone",
                "code": None,
                "text": str(zone["name"]),
                "lat": float(zone["lat"]),
                "lon": float(zone["lon"]),
            }
        )
    return rows


def _text_layer(
    layer_id: str, rows: list[dict[str, Any]], *, size: int, colour: list[int], offset_px: int = 0
) -> pdk.Layer:
    return pdk.Layer(
        "TextLayer",
        rows,
        id=layer_id,
        get_position=["lon", "lat"],
        get_text="text",
        get_size=size,
        size_units=_literal("pixels"),
        get_color=colour,
        font_family=_LABEL_FONT,
        font_weight=600,
        # "auto" builds the glyph atlas from the label text, so Vietnamese letters (ộ, ư, ạ ...) and
        # the overdue suffixes the page adds later are drawn instead of blanks.
        character_set=_literal("auto"),
        font_settings={"sdf": True, "fontSize": 64, "buffer": 6},
        outline_width=3,
        outline_color=[10, 15, 25, 230],
        get_text_anchor=_literal("middle"),
        get_alignment_baseline=_literal("center"),
        get_pixel_offset=[0, offset_px],
        pickable=False,
    )


def build_map_spec(geojson_url: str, labels: list[dict[str, Any]]) -> dict[str, Any]:
    """The deck.gl JSON (pydeck `Deck.to_json()`) for the province map; `labels` from `map_labels`."""
    provinces = pdk.Layer(
        "GeoJsonLayer",
        geojson_url,
        id=PROVINCES_LAYER_ID,
        pickable=True,
        stroked=True,
        filled=True,
        # Grey until the first snapshot: the page replaces this with an on-time-rate accessor.
        get_fill_color=[150, 156, 166, 255],
        get_line_color=[15, 20, 30, 255],
        line_width_units=_literal("pixels"),
        get_line_width=1,
        line_width_min_pixels=1,
        auto_highlight=True,
        highlight_color=[255, 255, 255, 90],
    )
    province_rows = [_label_row(row) for row in labels if row["kind"] == "province"]
    zone_rows = [_label_row(row) for row in labels if row["kind"] == "special_zone"]
    deck = pdk.Deck(
        layers=[
            provinces,
            _text_layer(PROVINCE_LABELS_LAYER_ID, province_rows, size=12, colour=[255, 255, 255, 255]),
            # Above the islands rather than on them, so the archipelagos stay visible.
            _text_layer(SPECIAL_ZONE_LABELS_LAYER_ID, zone_rows, size=13, colour=[255, 236, 170, 255], offset_px=-18),
        ],
        initial_view_state=INITIAL_VIEW,
        views=[pdk.View(type="MapView", controller=True)],
        map_provider=None,
        map_style=None,
    )
    spec: dict[str, Any] = json.loads(deck.to_json())
    return spec


def _label_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"code": row.get("code"), "text": row["text"], "lat": row["lat"], "lon": row["lon"]}
