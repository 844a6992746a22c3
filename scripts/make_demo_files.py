"""Regenerate media_analysis/jobs/demo_files/ from the photos that scikit-learn ships.

The files are committed so the demo runs offline and identically everywhere;
run this only to change the set: .venv/bin/python scripts/make_demo_files.py
"""

from __future__ import annotations

import io
import json
import struct
import wave
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from sklearn.datasets import load_sample_image

OUT = Path(__file__).resolve().parents[1] / "media_analysis" / "jobs" / "demo_files"


def save(name: str, image: Image.Image, **options) -> None:
    image.save(OUT / name, **options)


CAPTION = "READ THE TEXT\nIN PICTURES"
CAPTION_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def captioned(photo: Image.Image) -> Image.Image:
    """A meme: the photo with a white, outlined caption over its sky (read when the job has OCR)."""
    image = photo.resize((640, 427))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(CAPTION_FONT, 42)
    for line, top in zip(CAPTION.split("\n"), (16, 70), strict=True):
        left = (640 - draw.textlength(line, font=font)) / 2
        draw.text((left, top), line, font=font, fill="white", stroke_width=3, stroke_fill="black")
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    photos = {name: Image.fromarray(load_sample_image(f"{name}.jpg")) for name in ("china", "flower")}
    manifest: list[dict] = []
    index = 0
    for name, photo in photos.items():
        width, height = photo.size
        for scale in (1.0, 0.75, 0.5):
            for left in (0, width // 4):
                box = (left, 0, left + int(width * 0.75), int(height * 0.9))
                crop = photo.crop(box)
                crop = crop.resize((max(1, int(crop.width * scale)), max(1, int(crop.height * scale))))
                index += 1
                filename = f"{name}-{index:02d}.jpg"
                save(filename, crop, quality=85)
                manifest.append({"file": filename, "type": "img", "expect": "done"})
        small = photo.resize((160, 120))
        save(f"{name}-thumb.png", small)
        manifest.append({"file": f"{name}-thumb.png", "type": "img", "expect": "done", "note": "non-conforming"})
        save(f"{name}.webp", photo.resize((320, 214)), quality=80)
        manifest.append({"file": f"{name}.webp", "type": "img", "expect": "done"})
        rgba = photo.resize((300, 200)).convert("RGBA")
        alpha = Image.new("L", rgba.size, 255)
        ImageDraw.Draw(alpha).ellipse((50, 20, 250, 180), fill=90)
        rgba.putalpha(alpha)
        save(f"{name}-alpha.png", rgba)
        manifest.append({"file": f"{name}-alpha.png", "type": "img", "expect": "done"})
    frames = [photos["flower"].resize((240, 160)).rotate(angle) for angle in (0, 10, 20, 30)]
    frames[0].save(OUT / "flower-spin.gif", save_all=True, append_images=frames[1:], duration=120, loop=0)
    manifest.append({"file": "flower-spin.gif", "type": "img", "expect": "done"})

    save("caption.jpg", captioned(photos["china"]), quality=88)
    manifest.append({"file": "caption.jpg", "type": "img", "expect": "done", "text": CAPTION})

    # Broken and hostile files: each must end "failed" with its reason.
    good = (OUT / "china-01.jpg").read_bytes()
    (OUT / "truncated.jpg").write_bytes(good[: len(good) // 3])
    manifest.append({"file": "truncated.jpg", "type": "img", "expect": "failed", "error_class": "corrupt_image"})
    (OUT / "not-an-image.jpg").write_bytes(b"<!doctype html><html><body>Moved</body></html>")
    manifest.append({"file": "not-an-image.jpg", "type": "img", "expect": "failed", "error_class": "not_an_image"})
    (OUT / "empty.png").write_bytes(b"")
    manifest.append({"file": "empty.png", "type": "img", "expect": "failed", "error_class": "not_an_image"})
    bomb = io.BytesIO()
    Image.new("1", (1, 1)).save(bomb, format="PNG")
    data = bytearray(bomb.getvalue())
    data[16:24] = struct.pack(">II", 40000, 40000)  # IHDR width/height: 1.6 gigapixels declared
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # a valid IHDR checksum: only the size is hostile
    (OUT / "bomb.png").write_bytes(bytes(data))
    manifest.append({"file": "bomb.png", "type": "img", "expect": "failed", "error_class": "decompression_bomb"})
    manifest.append(
        {
            "file": "oversized.jpg",
            "type": "img",
            "expect": "failed",
            "error_class": "too_large",
            "note": "streamed by the demo server, larger than MEDIA_ANALYSIS_MAX_FILE_SIZE",
        }
    )
    manifest.append(
        {
            "file": "missing.jpg",
            "type": "img",
            "expect": "failed",
            "error_class": "http_status",
            "note": "the demo server answers 404",
        }
    )

    audio = io.BytesIO()
    with wave.open(audio, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 8000 * 2)
    (OUT / "tone.wav").write_bytes(audio.getvalue())
    manifest.append({"file": "tone.wav", "type": "audio", "expect": "done"})
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(manifest)} demo media, {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
