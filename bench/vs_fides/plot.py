"""Request time against data size, both tools, log-log (from results.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(data: dict[str, Any], out: Path) -> None:
    results = sorted(data["results"], key=lambda r: r["customers"])
    sizes = [r["customers"] for r in results]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    styles = {("fides", "access"): ("tab:red", "o", "-"), ("fides", "erasure"): ("tab:red", "s", "--"),
              ("pledge", "access"): ("tab:blue", "o", "-"), ("pledge", "erasure"): ("tab:blue", "s", "--")}
    for (tool, kind), (colour, marker, line) in styles.items():
        ys = [r[kind][f"{tool}_s"] for r in results]
        label = f"{'Fides ' + data['fides_version'] if tool == 'fides' else 'Pledge'} {kind}"
        ax.plot(sizes, ys, color=colour, marker=marker, linestyle=line, label=label)
        for x, y in zip(sizes, ys, strict=True):
            ax.annotate(f"{y:.3g} s", (x, y), textcoords="offset points", fontsize=7,
                        xytext=(6, 4) if kind == "erasure" else (6, -10))  # apart when the two are close
    for kind, marker in (("access", "o"), ("erasure", "s")):  # the bare lookups (#19), where measured
        if all("bare_s" in r[kind] for r in results):
            ys = [r[kind]["bare_s"] for r in results]
            ax.plot(sizes, ys, color="tab:gray", marker=marker, linestyle=":",
                    label=f"bare statements by hand {kind}")
            for x, y in zip(sizes, ys, strict=True):
                ax.annotate(f"{y:.3g} s", (x, y), textcoords="offset points", fontsize=7,
                            xytext=(6, 4) if kind == "erasure" else (6, -10))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("customers in the shop (about 16 rows each)")
    ax.set_ylabel("seconds per request, approval to completion (median)")
    ax.set_title("One data-subject request on PostgreSQL: Pledge and Fides")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    plot(json.loads((here / "results.json").read_text()), here / "plot.png")
