"""Build step that pyproject.toml cannot express: the example platforms ship in the wheel.

``examples/<platform>/`` (pledge.yaml, policy.yaml, dataset.yaml, README.md, PROMISES.md, a logo)
stays where the tests, docs and ``make demo`` expect it, at the top of the checkout. A build
copies those files into ``pledge/examples/<platform>/`` of the wheel, so that an installed
``pledge demo`` finds them (``pledge.demo.examples_dir``). The sdist carries them through
MANIFEST.in. Editable installs skip the copy: the checkout has them already.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
EXAMPLE_SUFFIXES = (".yaml", ".md", ".svg")  # .svg: a branding logo (omni-one)


class BuildPyWithExamples(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder in sorted((ROOT / "examples").iterdir()):
            if not (folder / "pledge.yaml").is_file():
                continue
            target = Path(self.build_lib) / "pledge" / "examples" / folder.name
            self.mkpath(str(target))
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix in EXAMPLE_SUFFIXES:
                    self.copy_file(str(path), str(target / path.name))


setup(cmdclass={"build_py": BuildPyWithExamples})
