"""Writers of an :class:`~hereabouts.evaluate.Evaluation`: a Markdown report and PNG plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.errors import MissingDependencyError

if TYPE_CHECKING:
    from ._run import Evaluation

__all__ = ["markdown", "plots"]

#: The headline metrics of the per-profile table, in order.
PROFILE_KEYS = (
    "stays.precision",
    "stays.recall",
    "stays.f1",
    "stays_trackintel.f1",
    "places.precision",
    "places.recall",
    "trips.recall",
    "trips.precision",
    "modes.accuracy",
    "routes.recall",
    "home.top1",
    "work.top1",
    "predict.top1",
)


def _fmt(v: float | None, key: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if key.endswith("_s"):
        return f"{v:.0f} s"
    if key.endswith("_m"):
        return f"{v:.0f} m"
    if key.endswith((".n", "n_detected", "n_true", "n_without", "n_queries")):
        return f"{v:.0f}"
    return f"{v:.3f}"


def markdown(ev: Evaluation) -> str:
    """The evaluation as a Markdown report."""
    m = ev.metrics
    run = ev.details.get("run", {})
    lines = [
        "# hereabouts evaluation",
        "",
        f"Simulation: {run.get('agents')} agents × {run.get('days')} days, seed {run.get('seed')}, "
        f"profile `{run.get('profile')}`; {run.get('agents_scored')} agents scored.",
        "",
        "## Overall",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for k in sorted(m):
        if "@" in k:
            continue
        lines.append(f"| `{k}` | {_fmt(m[k], k)} |")
    anchors = ev.details.get("anchors", {})
    if not anchors.get("available", False):
        lines += ["", f"Anchors (home, work): not available — {anchors.get('reason', '')}."]
    pred = ev.details.get("predict", {})
    if pred and not pred.get("available", False):
        lines += ["", f"Predictions: not scored — {pred.get('reason', '')}."]
    profiles = sorted(ev.details.get("run", {}).get("agents_by_profile", {}))
    if profiles:
        keys = [k for k in PROFILE_KEYS if any(f"{k}@{p}" in m for p in profiles)]
        lines += [
            "",
            "## By noise profile (an agent's profile is its phone's)",
            "",
            "| profile | agents | " + " | ".join(keys) + " |",
            "|---|---|" + "---|" * len(keys),
        ]
        counts = ev.details["run"]["agents_by_profile"]
        for p in profiles:
            cells = [_fmt(m.get(f"{k}@{p}"), k) for k in keys]
            lines.append(f"| {p} | {counts[p]} | " + " | ".join(cells) + " |")
    conf = ev.details.get("mode_confusion") or {}
    if conf:
        guesses = sorted({g for row in conf.values() for g in row})
        lines += [
            "",
            "## Mode confusion (rows: true mode, columns: guess)",
            "",
            "| true \\ guess | " + " | ".join(guesses) + " |",
            "|---|" + "---|" * len(guesses),
        ]
        for tm in sorted(conf):
            lines.append(f"| {tm} | " + " | ".join(str(conf[tm].get(g, 0)) for g in guesses) + " |")
    curves = ev.details.get("calibration", {})
    if curves:
        lines += [
            "",
            "## Calibration (10 bins)",
            "",
            "Of the confidences as the engine emitted them: through the shipped calibration map, or raw",
            "when the run switched the map off.",
            "",
            "| confidence | n | ECE | map applied |",
            "|---|---|---|---|",
        ]
        for kind, c in curves.items():
            if not c.get("available", True):
                lines.append(f"| {kind} | – | not available | – |")
                continue
            applied = "yes" if c.get("calibrated") else "no (raw)"
            lines.append(f"| {kind} | {c['n']} | {_fmt(c['ece'])} | {applied} |")
    t = ev.details.get("timings", {})
    if t:
        lines += ["", "## Timings", ""] + [f"- {k}: {v:.2f}" for k, v in t.items()]
    return "\n".join(lines) + "\n"


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "plots need matplotlib, which is not installed", hint="pip install 'hereabouts[evaluate]'"
        ) from exc
    return plt


def plots(ev: Evaluation, folder: Path) -> list[Path]:
    """``reliability.png`` (one panel per confidence kind) and ``profiles.png`` (per-profile bars)."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    curves = {k: c for k, c in ev.details.get("calibration", {}).items() if c.get("available", True)}
    if curves:
        fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3.4), squeeze=False)
        for ax, (kind, c) in zip(axes[0], curves.items(), strict=True):
            ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
            for curve, label, style in ((c, "calibrated" if c.get("calibrated") else "raw", "o-"),):
                xs = [
                    x
                    for x, y in zip(curve["confidence"], curve["accuracy"], strict=True)
                    if x is not None and y is not None
                ]
                ys = [
                    y
                    for x, y in zip(curve["confidence"], curve["accuracy"], strict=True)
                    if x is not None and y is not None
                ]
                ece = curve["ece"]
                ax.plot(xs, ys, style, ms=3, label=f"{label} (ECE {ece:.3f})" if ece is not None else label)
            ax.set_title(f"{kind} (n={c['n']})", fontsize=9)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xlabel("confidence", fontsize=8)
            ax.set_ylabel("share correct", fontsize=8)
            ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        p = folder / "reliability.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    profiles = sorted(ev.details.get("run", {}).get("agents_by_profile", {}))
    keys = [k for k in PROFILE_KEYS if any(f"{k}@{p}" in ev.metrics for p in profiles)]
    if profiles and keys:
        fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 0.22 * len(keys) * len(profiles))), 4.2))
        width = 0.8 / len(profiles)
        for n, prof in enumerate(profiles):
            vals = [ev.metrics.get(f"{k}@{prof}", float("nan")) for k in keys]
            ax.bar(
                [i + n * width for i in range(len(keys))],
                [0 if math.isnan(v) else v for v in vals],
                width,
                label=prof,
            )
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))])
        ax.set_xticklabels(keys, rotation=35, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, ncol=len(profiles), loc="upper center", bbox_to_anchor=(0.5, -0.35))
        ax.set_title("by noise profile", fontsize=9)
        fig.tight_layout()
        p = folder / "profiles.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    return written
