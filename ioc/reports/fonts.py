"""The TrueType font the PDF reports embed: DejaVu Sans, which covers every Vietnamese diacritic.

PDF's built-in fonts (Helvetica, Times) know only Latin-1: "Đúng hạn" would print as boxes. The
font comes from Debian's fonts-dejavu-core (installed by scripts/setup.sh); IOC_REPORT_FONT_DIR
points elsewhere. A missing font is a configuration error with a message that says how to fix it.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR_FILE = "DejaVuSans.ttf"
BOLD_FILE = "DejaVuSans-Bold.ttf"
REGULAR, BOLD = "IOC-DejaVuSans", "IOC-DejaVuSans-Bold"


class ReportSettings(BaseSettings):
    """IOC_REPORT_* settings (beside ioc/settings.py, read where reports are made)."""

    model_config = SettingsConfigDict(env_prefix="IOC_REPORT_", env_file=".env", extra="ignore")

    font_dir: Path = DEFAULT_FONT_DIR


class FontMissing(RuntimeError):
    """The configured font directory lacks the fonts a PDF report needs."""


@dataclass(frozen=True)
class FontFiles:
    regular: Path
    bold: Path


def font_files(font_dir: Path) -> FontFiles:
    files = FontFiles(font_dir / REGULAR_FILE, font_dir / BOLD_FILE)
    missing = [str(p) for p in (files.regular, files.bold) if not p.is_file()]
    if missing:
        raise FontMissing(
            f"thiếu phông chữ cho báo cáo PDF: {', '.join(missing)}. Cài gói fonts-dejavu-core "
            f"(apt-get install fonts-dejavu-core) hoặc đặt IOC_REPORT_FONT_DIR tới thư mục có {REGULAR_FILE} và "
            f"{BOLD_FILE} / PDF reports need {REGULAR_FILE} and {BOLD_FILE}: install fonts-dejavu-core or set "
            "IOC_REPORT_FONT_DIR"
        )
    return files


_lock = threading.Lock()


def register_fonts(font_dir: Path) -> tuple[str, str]:
    """Register the two faces with reportlab once per process; returns (regular, bold) font names.

    reportlab's font registry is process-wide, so the names carry a digest of the directory: two
    directories (a test's, the default) never replace one another.
    """
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    files = font_files(font_dir)
    digest = hashlib.sha256(str(font_dir.resolve()).encode()).hexdigest()[:8]
    regular, bold = f"{REGULAR}-{digest}", f"{BOLD}-{digest}"
    with _lock:
        if regular not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(regular, str(files.regular)))
            pdfmetrics.registerFont(TTFont(bold, str(files.bold)))
            addMapping(regular, 0, 0, regular)
            addMapping(regular, 1, 0, bold)
    return regular, bold
