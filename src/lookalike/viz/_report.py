"""An HTML page of duplicate groups: thumbnails side by side, the keeper first, similarities under each.

The page is one self-contained file: thumbnails are embedded as base64 JPEG (data URIs), no
script, no external resource. Every file name and path is HTML-escaped, so a name such as
``<img src=x onerror=alert(1)>.jpg`` shows as text and runs nothing.
"""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any

from lookalike.errors import LookalikeError, ParameterError

__all__ = ["duplicates_html", "thumbnail_data_uri", "write_duplicates_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } p.summary { color: #555; }
section.group { border: 1px solid #ccc; border-radius: 6px; margin: 1em 0; padding: 0.6em; }
section.group h2 { font-size: 1em; margin: 0 0 0.5em 0; }
div.row { display: flex; flex-wrap: wrap; gap: 0.8em; }
figure { margin: 0; width: %(size)dpx; }
figure img { max-width: %(size)dpx; max-height: %(size)dpx; display: block; background: #eee; }
figure.keeper img { outline: 3px solid #2a7; }
figcaption { font-size: 0.8em; word-break: break-all; }
span.sim { font-weight: bold; } span.keeper { color: #2a7; font-weight: bold; }
div.missing { width: %(size)dpx; height: %(size)dpx; background: #eee; color: #a33; font-size: 0.8em;
              display: flex; align-items: center; justify-content: center; text-align: center; }
"""


def thumbnail_data_uri(path: str, *, size: int = 160, quality: int = 80) -> str:
    """A JPEG thumbnail of an image file as a ``data:image/jpeg;base64,...`` URI (longest side ``size``).

    Raises
    ------
    ImageReadError
        The file cannot be read.
    """
    from PIL import Image

    from lookalike.io import load_image

    pixels = load_image(path, mode="rgb", alpha="white", draft=(size, size))
    if pixels.dtype != "uint8":
        pixels = (pixels.astype("float64") / 257.0).round().astype("uint8") if pixels.dtype == "uint16" else (
            (pixels.clip(0, 1) * 255).round().astype("uint8"))
    image = Image.fromarray(pixels)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def picture_html(path: str, size: int) -> str:
    """An ``<img>`` of the file's embedded thumbnail, or a ``div.missing`` saying why it cannot be shown."""
    name = html.escape(os.path.basename(path))
    try:
        return f'<img src="{thumbnail_data_uri(path, size=size)}" alt="{name}">'
    except (LookalikeError, OSError) as exc:
        return f'<div class="missing">cannot show: {html.escape(str(getattr(exc, "reason", exc)))}</div>'


def _figure(member: Any, *, keeper: bool, size: int) -> str:
    name = html.escape(os.path.basename(member.path))
    full = html.escape(member.path)
    picture = picture_html(member.path, size)
    dims = f"{member.width}&times;{member.height}" if member.width and member.height else "size unknown"
    kb = f", {member.size / 1024:.0f} KB" if member.size is not None else ""
    label = ('<span class="keeper">keeper</span>' if keeper else
             f'<span class="sim">{member.similarity * 100:.1f}%</span>' + (" exact copy" if member.exact else ""))
    if not keeper and getattr(member, "via", None):  # below the threshold to the keeper: what put it here
        via = html.escape(member.via)
        label += f'<br><span title="{via}">copy of {html.escape(os.path.basename(member.via))}</span>'
    return (f'<figure class="{"keeper" if keeper else "member"}">{picture}<figcaption>{label}<br>'
            f'<span title="{full}">{name}</span><br>{dims}{kb}</figcaption></figure>')


def duplicates_html(report: Any, *, thumbnail: int = 160, title: str = "Duplicate images") -> str:
    """The HTML page of a :class:`lookalike.pipelines.DuplicateReport`, as a string.

    Parameters
    ----------
    report : DuplicateReport
    thumbnail : int, keyword-only
        Longest side of the thumbnails, in pixels.
    title : str, keyword-only

    Examples
    --------
    >>> from lookalike.pipelines import DuplicateReport
    >>> page = duplicates_html(DuplicateReport((), ("/photos",), 3, 0.85), title="<none>")
    >>> "&lt;none&gt;" in page, "<script" in page
    (True, False)
    """
    if isinstance(thumbnail, bool) or not isinstance(thumbnail, int) or not 16 <= thumbnail <= 1024:
        raise ParameterError(f"thumbnail must be an integer from 16 to 1024 pixels, got {thumbnail!r}")
    roots = ", ".join(html.escape(r) for r in report.roots)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE % {'size': thumbnail}}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="summary">{len(report.groups)} group{"s" if len(report.groups) != 1 else ""}, '
        f"{report.duplicates} duplicate{'s' if report.duplicates != 1 else ''} among {report.files} images "
        f"in {roots}, at a similarity of {report.min_similarity * 100:.0f}% or more. "
        "The suggested keeper (by the keep rule, --keep) comes first.</p>",
    ]
    for number, group in enumerate(report.groups, 1):
        kind = "exact copies" if group.exact else "near-duplicates"
        parts.append(f'<section class="group"><h2>Group {number}: {len(group.members) + 1} files, {kind}</h2>'
                     '<div class="row">')
        parts.append(_figure(group.keeper, keeper=True, size=thumbnail))
        parts.extend(_figure(m, keeper=False, size=thumbnail) for m in group.members)
        parts.append("</div></section>")
    if not report.groups:
        parts.append("<p>No duplicates found.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_duplicates_html(report: Any, path: str | os.PathLike[str], *, thumbnail: int = 160,
                          title: str = "Duplicate images") -> str:
    """Write :func:`duplicates_html` to ``path`` (UTF-8); returns the path written."""
    text = duplicates_html(report, thumbnail=thumbnail, title=title)
    target = os.fspath(path)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
    return target
