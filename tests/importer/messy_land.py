"""A messy legacy database, as real crawler files are, with the ids of its rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.support.legacy_db import JSON_COLOURS, REPR_COLOURS, REPR_EXIF, REPR_WEBSAFE, LegacyDatabase

# np.float64 inside, as an older analysis wrote it with str(list).
NUMPY_COLOURS = (
    "[{'rgb': (np.float64(10.4), np.float64(20.6), np.float64(30.0)), 'percentage': np.float64(62.5)}, "
    "{'rgb': (np.int64(250), np.int64(0), np.int64(5)), 'percentage': np.float64(37.5)}]"
)


@dataclass
class MessyDatabase:
    path: Path
    variant: str
    ids: dict[str, int] = field(default_factory=dict)


def build_messy_database(path: Path, variant: str = "full") -> MessyDatabase:
    """Three lands; duplicates, links across lands, dangling ids, unreadable values."""
    messy = MessyDatabase(path, variant)
    ids = messy.ids
    analysed = variant != "old"
    with LegacyDatabase(path, variant) as db:
        ids["alpha"] = db.land("alpha", description="First land", lang="fr,en", created_at="2024-03-01 12:34:56.123456")
        ids["beta"] = db.land("beta", description="Second land", created_at="2024-03-05T10:00:00Z")
        ids["gamma"] = db.land("gamma", description="Never selected", created_at="")

        ids["d_alpha"] = db.domain("alpha.example", http_status="200", title="Alpha", fetched_at="2024-03-02 08:00:00")
        ids["d_shared"] = db.domain("shared.example", created_at="garbage")

        ids["a1"] = db.expression(
            ids["alpha"],
            "https://alpha.example/",
            ids["d_alpha"],
            http_status=200,
            lang="fr",
            title="Home",
            readable="Alpha home page text.",
            published_at="2024-02-29T10:00:00+02:00",
            fetched_at="2024-03-02 08:00:00.5",
            relevance=5,
            depth=0,
        )
        ids["a2"] = db.expression(
            ids["alpha"], "https://alpha.example/a", ids["d_alpha"], created_at="not a date", depth="1"
        )
        ids["a3"] = db.expression(
            ids["alpha"], "https://shared.example/x", ids["d_shared"], fetched_at="2024-03-02 09:00:00", depth=2
        )
        # Same URL again, never fetched: collapsed into a3.
        ids["a3_dup"] = db.expression(ids["alpha"], "https://shared.example/x", ids["d_shared"], depth=2)
        # Its domain row is gone: the domain comes from the URL.
        ids["a4"] = db.expression(ids["alpha"], "https://derived.example/page", 999, depth=3)
        ids["b1"] = db.expression(ids["beta"], "https://beta.example/", relevance=1, depth=0)
        ids["g1"] = db.expression(ids["gamma"], "https://gamma.example/", depth=0)

        db.link(ids["a1"], ids["a2"])
        db.link(ids["a2"], ids["a3"])
        db.link(ids["a1"], ids["a3"])
        db.link(ids["a1"], ids["a3_dup"])  # same pair as a1 -> a3 once pages are merged
        db.link(ids["a1"], ids["b1"])  # to another land
        db.link(ids["a2"], 9999)  # to a page that no longer exists
        db.link(ids["b1"], ids["a1"])  # from beta to alpha: beta's link, to another land

        def media(name: str, page: str, url: str, type: str = "img", **fields: object) -> None:
            ids[name] = db.media(ids[page], url, type, **(fields if analysed else {}))

        # The unanalysed copy comes first: the analysed one must win.
        media("m1_dup", "a1", "https://cdn.example/One.JPG")
        media(
            "m1",
            "a1",
            "https://cdn.example/One.JPG",
            width=640,
            height=480,
            file_size=48213,
            format="JPEG",
            color_mode="RGB",
            has_transparency=0,
            aspect_ratio=1.33,
            dominant_colors=NUMPY_COLOURS,
            websafe_colors=REPR_WEBSAFE,
            exif_data=REPR_EXIF,
            image_hash="A" * 64,
            analyzed_at="2024-03-03 09:15:00.250000",
        )
        media(
            "m2",
            "a1",
            "https://cdn.example/broken.png",
            analyzed_at="2024-03-03 09:16:00",
            analysis_error="cannot identify image file <_io.BytesIO object at 0x7f>",
        )
        media("m3", "a2", "https://cdn.example/pending.gif")
        media("m4", "a2", "https://cdn.example/clip.mp4", type="video")
        media("m5", "a2", "https://cdn.example/frame.html", type="iframe")
        media("m6", "a3_dup", "https://cdn.example/shared.jpg")
        media("m7", "a3", "https://cdn.example/shared.jpg", dominant_colors="[{'rgb': (1, 2", analyzed_at="x")
        media(
            "m8",
            "a3",
            "https://cdn.example/json.png",
            dominant_colors=JSON_COLOURS,
            websafe_colors='{"#ffffff": 70.0, "#0066cc": 30.0}',
            has_transparency="1",
            analyzed_at="2024-03-04",
        )
        media("m9", "b1", "https://cdn.example/beta.jpg", dominant_colors=REPR_COLOURS, analyzed_at="2024-03-06")
        if variant == "full":
            db.conn.execute(
                'UPDATE "media" SET "content_tags" = ?, "nsfw_score" = ? WHERE "id" = ?',
                ("['landscape', 'sky']", 0.02, ids["m8"]),
            )

        ids["t_root"] = db.tag(ids["alpha"], "Topics", sorting=1, color="#336699")
        ids["t_child"] = db.tag(ids["alpha"], "Images", parent_id=ids["t_root"], sorting=2, color="#993366")
        ids["t_orphan"] = db.tag(ids["alpha"], "Orphan", parent_id=777)
        ids["t_beta"] = db.tag(ids["beta"], "Beta tag")
        ids["c1"] = db.tagged_content(ids["t_child"], ids["a1"], "Alpha home", 0, 10)
        ids["c1_dup"] = db.tagged_content(ids["t_child"], ids["a1"], "Alpha home", 0, 10)
        ids["c2"] = db.tagged_content(ids["t_root"], ids["a3_dup"], "x", 3, 4)
        ids["c3"] = db.tagged_content(ids["t_root"], ids["b1"], "beta text", 0, 4)  # page of another land
    return messy
