"""The verification photo points as a GeoJSON map layer with Chinese popup fields.

The photos' URLs are the server's business: the API passes ``photo_url`` (the CLI's export
has none, so its points carry no ``url``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from geo_enforce.farmland.results import PhotoInfo, PhotoPoint
from geo_enforce.io.sanity import safe_iso
from geo_enforce.ledger import vocab

#: The layer's title on maps and in exported files.
TITLE = "核实照片点位"


def photo_points_geojson(
    points: list[PhotoPoint], photo_url: Callable[[PhotoInfo], str] | None = None
) -> dict[str, Any]:
    """A FeatureCollection (EPSG:4490 lon/lat) of ``points``.

    Properties carry the photo's values, ``far`` for styling far photos, ``result`` and the
    Chinese popup fields (核实结果, 核实人, 拍摄时间, 拍摄方向, 距核查对象), and ``url`` when
    ``photo_url`` is given.
    """
    features = []
    for pt in points:
        p = pt.photo
        props: dict[str, Any] = {**asdict(p), "taken_at": safe_iso(p.taken_at)}
        del props["stored_name"]  # the file's name on the server stays there
        if photo_url is not None:
            props["url"] = photo_url(p)
        dist = p.distance_to_target_m
        props.update(
            {
                "result": pt.result,
                "核实结果": vocab.label(vocab.VERIFICATION_RESULTS, pt.result),
                "核实人": pt.verified_by,
                "拍摄时间": props["taken_at"] or "未知",
                "拍摄方向": f"{p.heading_deg:.0f}°" if p.heading_deg is not None else "未知",
                "距核查对象": f"{dist:.0f} 米" if dist is not None else "未知",
            }
        )
        features.append(
            {
                "type": "Feature",
                "id": p.id,
                "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "name": TITLE, "features": features}
