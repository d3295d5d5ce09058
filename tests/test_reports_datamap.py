"""The data-map SVG: well-formed, complete, sized to its content, readable in a browser."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from pledge.datamap.load import load_dataset
from pledge.datamap.model import Dataset
from pledge.policy.load import load_policy
from pledge.policy.model import Policy
from pledge.reports.datamap_svg import build_graph, datamap_svg, wrap
from tests.browser import launch_chromium
from tests.reports_support import PLATFORMS, dataset, english_policy, example_or_sample, sample_for

SVG = "{http://www.w3.org/2000/svg}"


def _inputs(platform: str) -> tuple[Policy, Dataset]:
    pol, ds = example_or_sample(platform)
    policy = load_policy(pol) if pol else Policy.model_validate(sample_for(platform))
    data = load_dataset(ds) if (pol and ds) else Dataset.model_validate(dataset())
    return policy, data


@pytest.mark.parametrize("platform", PLATFORMS)
def test_svg_has_every_node_and_a_mechanism_on_each_transfer(platform: str) -> None:
    policy, data = _inputs(platform)
    svg = datamap_svg(policy, data)
    root = ElementTree.fromstring(svg)  # well-formed XML
    width, height = float(root.get("width") or 0), float(root.get("height") or 0)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    titles = " ".join(t.text or "" for t in root.iter(f"{SVG}title"))
    for r in policy.recipients:
        assert r.name in titles
    for p in policy.purposes:
        assert p.name in titles
    nodes, edges = build_graph(policy, data)
    transfer_edges = [e for e in edges if e.dst.startswith("cty:")]
    assert len(transfer_edges) == sum(len(r.countries) for r in policy.recipients)
    for e in transfer_edges:
        assert e.label and e.label in texts
    # every box lies inside the canvas, and no label line is longer than the box allows
    for rect in root.iter(f"{SVG}rect"):
        x, y = float(rect.get("x", 0)), float(rect.get("y", 0))
        assert 0 <= x <= width and 0 <= y <= height
    assert max(len(n) for n in texts if not n.startswith(("Data map", "Policy version", "Each"))) <= 40
    assert height >= 100 + 40 * max(sum(1 for n in nodes if n.column == c) for c in range(5))


def test_invalid_transfer_is_drawn_in_red() -> None:
    policy = english_policy()
    policy["recipients"][0]["transfer"] = "privacy_shield"
    svg = datamap_svg(Policy.model_validate(policy), Dataset.model_validate(dataset()))
    assert "Privacy Shield ✗" in svg and 'stroke="#dc2626"' in svg


def test_wrap_keeps_lines_short() -> None:
    assert wrap("user.demographic.date_of_birth") == ["user.demographic.", "date_of_birth"]
    lines = wrap("A very long purpose name that goes on and on about analytics and marketing", 28, 2)
    assert len(lines) == 2 and lines[-1].endswith("…") and all(len(x) <= 28 for x in lines)


def test_cli_writes_svg(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pledge.cli import app
    from tests.reports_support import write_config

    cfg = write_config(tmp_path, english_policy())
    out = tmp_path / "map.svg"
    res = CliRunner().invoke(app, ["report", "datamap", "-c", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").startswith("<svg")


@pytest.mark.browser
def test_chromium_renders_the_picture(tmp_path: Path) -> None:
    policy, data = _inputs("omni-one")
    svg = datamap_svg(policy, data)
    w, h = (int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', svg).groups())  # type: ignore[union-attr]
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": w, "height": h})
        page.set_content(f"<html><body style='margin:0'>{svg}</body></html>")
        box = page.locator("svg").bounding_box()
        shot = tmp_path / "datamap.png"
        page.screenshot(path=str(shot), timeout=120_000)
    assert box is not None and box["width"] == w and box["height"] == h
    assert shot.stat().st_size > 10_000
