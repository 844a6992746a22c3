"""How a member of a cluster relates to its representative, told from their hashes and sizes.

:func:`relation` names what the hashes show, cheaply enough to be derived whenever a
cluster is shown or exported (nothing is stored): ``identical file``, ``framed`` (a
plain border was added), ``frame removed``, ``cropped (centre)`` / ``(no left)`` /
``(no left, less top)``... (the member is a region of the representative), ``square crop``,
``wider`` (the representative is a crop of the member), ``mirrored``, ``greyscale``,
``resized``, ``overlay`` (a band or mark over part of the picture, matched by the
overlay rule alone), and ``re-encoded`` when the same picture differs by its bytes only. Several
may apply (``framed, resized``). A member linked to the representative through other
members only, or by a manual merge, is ``indirect``: its own hashes do not say how.
"""

from __future__ import annotations

from dataclasses import dataclass

from media_analysis.engine.duplicates.clusterer import ClusterParams, overlay_match
from media_analysis.engine.duplicates.hashes import HashedImage, hamming, mirror_dhash, mirror_phash
from media_analysis.engine.image.regions import REGIONS

# A whole-image match looser than this is not trusted to describe the pair.
_WHOLE_PHASH = 10
_WHOLE_DHASH = 12
_REGION_PHASH = 6
_REGION_DHASH = 12
_OVERLAY = ClusterParams()
# Sizes within this share of each other are "the same size" (encoders round).
_SIZE_TOLERANCE = 0.02


@dataclass(frozen=True)
class Member:
    item: HashedImage
    width: int | None = None
    height: int | None = None
    greyscale: bool = False


def _region_match(a: HashedImage, b: HashedImage) -> tuple[int, int, int] | None:
    """(distance, region of a, region of b) of the closest confirmed match of a's whole to b's regions."""
    if a.region_phashes is None or b.region_phashes is None or a.region_dhashes is None or b.region_dhashes is None:
        return None
    best = None
    for ra in (0,):  # the whole, as the clusterer searches
        for rb in range(len(REGIONS)):
            dp = hamming(a.region_phashes[ra], b.region_phashes[rb])
            if dp <= _REGION_PHASH and hamming(a.region_dhashes[ra], b.region_dhashes[rb]) <= _REGION_DHASH:
                # Prefer the plainest explanation at equal distance: whole before square before crops.
                candidate = (dp, ra + rb, ra, rb)
                if best is None or candidate < best:
                    best = candidate
    return None if best is None else (best[0], best[2], best[3])


def _crop_label(region: int) -> str:
    name = REGIONS[region].name
    if name == "square":
        return "square crop"
    return f"cropped ({name})"


def relation(representative: Member, member: Member) -> str:
    """What the hashes say of ``member`` against ``representative`` (see the module doc)."""
    rep, mem = representative.item, member.item
    if rep.key == mem.key:
        return "representative"
    if rep.sha256 and rep.sha256 == mem.sha256:
        return "identical file"
    labels: list[str] = []
    whole = mirrored = False
    if rep.phash is not None and mem.phash is not None and rep.dhash is not None and mem.dhash is not None:
        direct = hamming(rep.phash, mem.phash)
        flipped = hamming(mirror_phash(rep.phash), mem.phash)
        if direct <= _WHOLE_PHASH and hamming(rep.dhash, mem.dhash) <= _WHOLE_DHASH:
            whole = True
        elif flipped <= _WHOLE_PHASH and hamming(mirror_dhash(rep.dhash), mem.dhash) <= _WHOLE_DHASH:
            whole = mirrored = True
    inner = _region_match(mem, rep)
    outer = _region_match(rep, mem)
    overlay = not whole and inner is None and outer is None and overlay_match(rep, mem, _OVERLAY)
    if not whole and inner is None and outer is None and not overlay:
        # Joined through other members or by hand: these two alone do not say how.
        return "indirect"
    if mem.trimmed and not rep.trimmed:
        labels.append("framed")
    elif rep.trimmed and not mem.trimmed:
        labels.append("frame removed")
    cropped = False
    if inner is not None and (outer is None or inner[0] <= outer[0]):
        # The member's whole is a region of the representative.
        if inner[2] != 0:
            labels.append(_crop_label(inner[2]))
            cropped = True
    elif outer is not None and outer[2] != 0:
        labels.append("wider")
        cropped = True
    if mirrored:
        labels.append("mirrored")
    if overlay:
        labels.append("overlay")
    if member.greyscale and not representative.greyscale:
        labels.append("greyscale")
    reframed = cropped or any(label.startswith("fram") for label in labels)
    if not reframed and _resized(representative, member):
        labels.append("resized")
    if not labels:
        return "re-encoded"
    return ", ".join(labels)


def _resized(a: Member, b: Member) -> bool:
    if not (a.width and a.height and b.width and b.height):
        return False
    return abs(a.width - b.width) > _SIZE_TOLERANCE * a.width or abs(a.height - b.height) > _SIZE_TOLERANCE * a.height
