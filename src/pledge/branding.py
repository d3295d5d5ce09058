"""What people see as the platform: its name, logo, colour and support address.

``branding:`` in pledge.yaml (:class:`pledge.settings.Branding`) sets them; what it leaves
out comes from the policy (the controller's name and email). Every page reads
:func:`brand_of` (the base template's header, title and footer, and ``/brand.css``), and
every email (:class:`pledge.notify.Notifier`: the sender's name and the footer).

The colour reaches pages only as a CSS custom property in ``/brand.css``, built from a
value the config loader checked against ``#rgb``/``#rrggbb``; the name is text, escaped
wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pledge.settings import COLOUR_RE

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["Brand", "brand_css", "brand_of", "mail_footer"]

LOGO_PATH = "/brand/logo"


@dataclass(frozen=True)
class Brand:
    name: str
    support_email: str | None = None
    colour: str | None = None
    #: where a page loads the logo from: an https:// address, or ``/brand/logo`` (a file Pledge serves)
    logo_url: str | None = None
    logo_file: Path | None = None

    @property
    def logo_origin(self) -> str | None:
        """The logo's origin when it is on another site (for the pages' img-src)."""
        if self.logo_url and self.logo_url.startswith("https://"):
            return "https://" + self.logo_url[len("https://"):].split("/", 1)[0]
        return None


def brand_of(engine: Context) -> Brand:
    cfg = engine.config.branding
    policy = engine.policy
    logo_file = cfg.logo_file(engine.config.base_dir)
    logo_url = LOGO_PATH if logo_file is not None else cfg.logo
    return Brand(name=cfg.name or policy.controller.name,
                 support_email=cfg.support_email or policy.controller.email,
                 colour=cfg.primary_colour, logo_url=logo_url, logo_file=logo_file)


def _luminance(colour: str) -> float:
    digits = colour[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = []
    for i in (0, 2, 4):
        c = int(digits[i:i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def brand_css(brand: Brand) -> str:
    """``/brand.css``: the colour as custom properties, with text that stays readable on it.

    ``--brand`` paints the header, ``--brand-ink`` is white or near-black, whichever reads
    better on it. Links and buttons take the colour (``--accent``) only when it reads on
    white at 4.5:1 (WCAG AA); a light colour leaves them as they were."""
    colour = brand.colour
    if colour is None or not COLOUR_RE.fullmatch(colour):  # checked at load; never written unchecked
        return ":root {}\n"
    dark = "#1b1f24"
    ink = "#ffffff" if contrast(colour, "#ffffff") >= contrast(colour, dark) else dark
    lines = [f"--brand: {colour};", f"--brand-ink: {ink};"]
    if contrast(colour, "#ffffff") >= 4.5:
        lines += [f"--accent: {colour};", "--accent-ink: #ffffff;"]
    return ":root { " + " ".join(lines) + " }\n"


def mail_footer(brand: Brand, lang: str, preferences_url: str | None = None, *, separated: bool = False) -> str:
    """The lines under every email: the choices link (to a person, about their request),
    then the brand and where to ask for help, in the email's language. ``separated``: the
    body already has its signature separator (``-- ``), so the lines join it."""
    from pledge.i18n import translator

    _ = translator(lang, ("requests_mail",))
    lines = [""] if separated else ["", "", "-- "]
    if preferences_url:
        lines.append(_("Your privacy choices (give or withdraw each consent): {url}", url=preferences_url))
    lines.append(brand.name)
    if brand.support_email:
        lines.append(_("Questions? Write to {email}", email=brand.support_email))
    return "\n".join(lines)
