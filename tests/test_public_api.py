"""The public surface listed in ``pledge.__all__`` is real and complete."""

from __future__ import annotations

import pledge


def test_all_names_exist() -> None:
    for name in pledge.__all__:
        assert hasattr(pledge, name), name


def test_all_lists_every_public_name() -> None:
    public = {n for n in vars(pledge) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(pledge.__all__), sorted(public - set(pledge.__all__))
