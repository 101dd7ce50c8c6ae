"""The eval-video report: evaluation.json (every figure), report.md, report.html and timeline.png.

Each file is written to a temporary name beside it and renamed into place, so a reader never sees half a report;
the JSON goes last, so its presence means the report is complete.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from service.evaluation.evaluate import SCALE_RANGE
from service.evaluation.replay import ReplayResult
from service.evaluation.truth import VideoTruth
from service.files import atomic_open, atomic_path

JSON_NAME = "evaluation.json"
MD_NAME = "report.md"
HTML_NAME = "report.html"
PLOT_NAME = "timeline.png"

DEFINITIONS = (
    "Frame ROC-AUC: analysed frames in pain vs calm segments whose face was found and scored; the score is the "
    "model's pain probability.",
    "Window agreement: every step_s seconds from the first full window, the estimated facial score of the last "
    "window_s seconds (the service's own window rule) against the truth score of that window (the scale rule on the "
    "true pain share of its face-visible time); low-evidence and unknown estimates are counted apart. Linear "
    "weighted kappa over the scale's full range (score differences as weights).",
    "Alert latency: for each pain segment, the first pain-episode alert opened between its onset and "
    "end + window_s + open_after_s, minus the onset. False pain alerts: pain-episode alerts opened outside every "
    "such span, per hour of calm video.",
    "No-face share: analysed frames without a detected face, of all analysed frames.",
)


def _fmt(value: Any, digits: int = 3, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def headline_rows(report: dict[str, Any]) -> list[list[str]]:
    figures = report["figures"]
    frames, windows, alerts = figures["frames"], figures["windows"], figures.get("alerts")
    rows = [
        ["Frames decoded / analysed", f"{frames['decoded']} / {frames['analysed']}"],
        ["Frame ROC-AUC (pain vs calm)", _fmt(frames.get("roc_auc"))],
        ["Window score: linear weighted kappa", _fmt(windows.get("weighted_kappa_linear"))],
        ["Window score: exact agreement", _fmt(windows.get("exact_agreement"))],
        ["Windows compared", str(windows.get("compared"))],
        ["No-face share of analysed frames", _fmt(frames.get("no_face_share"))],
    ]
    if "roc_auc_frames" in frames:
        counts = frames["roc_auc_frames"]
        rows.insert(2, ["Frames in the ROC-AUC (pain / calm)", f"{counts['pain']} / {counts['calm']}"])
    if "skipped_low_evidence" in windows:
        rows.append(["Windows skipped (low evidence / unknown)",
                     f"{windows['skipped_low_evidence']} / {windows['skipped_unknown']}"])  # fmt: skip
    if alerts is not None:
        rows += [
            ["Pain onsets with an alert", f"{alerts['detected_onsets']} of {len(alerts['pain_onsets'])}"],
            ["Alert latency from onset (median)", _fmt(alerts["median_latency_s"], 1, " s")],
            ["False pain alerts", str(alerts["false_pain_alerts"])],
            ["False pain alerts per hour of calm video", _fmt(alerts["false_pain_alerts_per_hour"], 2)],
        ]
    return rows


def _facts(report: dict[str, Any]) -> list[str]:
    model, opts = report["model"], report["options"]
    facts = [
        f"Video: {report['video']} ({report['duration_s']:.1f} s at {report['fps']:g} fps)",
        f"Truth: {report['truth']['kind']} {report['truth']['path']}"
        + (" (SYNTHETIC)" if report["truth"].get("synthetic") else ""),
        f"Model: {model['name']}/{model['version']} ({model['file']}, sha256 {model['sha256'][:16]}...)"
        + (" (DEMO model, not for clinical use)" if model["demo"] else ""),
        f"Pipeline: detector {opts['detector']} (min score {opts['min_score']:g}), "
        + (f"{opts['rate_hz']:g} analysed frames per video second" if opts["rate_hz"] else "every frame")
        + f", scale {opts['scale']}, window {opts['window_s']:g} s, pain threshold {opts['pain_threshold']:g}, "
        f"alert after {opts['open_after_s']:g} s at score >= enter, close after {opts['close_after_s']:g} s",
        f"Command: `{report['command']}`",
        f"Replay time: {report['seconds']:.1f} s",
    ]
    return facts


def _tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    figures = report["figures"]
    tables = [("Results", ["Figure", "Value"], headline_rows(report))]
    alerts = figures.get("alerts")
    if alerts is not None and alerts["pain_onsets"]:
        tables.append((
            "Pain onsets",
            ["Onset (s)", "End (s)", "Alert opened (s)", "Latency (s)"],
            [[_fmt(o["onset_s"], 1), _fmt(o["end_s"], 1), _fmt(o["alert_opened_s"], 1), _fmt(o["latency_s"], 1)]
             for o in alerts["pain_onsets"]],
        ))  # fmt: skip
    spans = figures.get("alert_spans") or []
    if spans:
        tables.append((
            "Alerts (video time)",
            ["Kind", "Opened (s)", "Closed (s)", "Priority", "Peak score"],
            [[a["kind"], _fmt(a["opened_s"], 1), _fmt(a["closed_s"], 1), a["priority"], _fmt(a["peak_score"])]
             for a in spans],
        ))  # fmt: skip
    windows = figures["windows"]
    if "rated_windows" in windows:
        tables.append((
            "Rated windows",
            ["Video id", "Window (s)", "Raters", "Truth", "Estimate", "Pain share", "Note"],
            [[w["video_id"], f"{_fmt(w['start_s'], 1)}-{_fmt(w['end_s'], 1)}",
              ", ".join(f"{r['rater']}={r['face']}" for r in w["raters"]), _fmt(w["truth"]), _fmt(w["estimate"]),
              _fmt(w.get("pain_fraction")),
              w.get("excluded_reason") or ("low evidence" if w.get("low_evidence") else "") or w.get("note", "")]
             for w in windows["rated_windows"]],
        ))  # fmt: skip
    confusion = windows.get("confusion_truth_by_estimate")
    if confusion and windows.get("compared"):
        cats = list(next(iter(confusion.values())))
        tables.append((
            "Window scores: truth (rows) by estimate (columns)",
            ["Truth \\ estimate", *cats],
            [[t, *[str(confusion[t][e]) for e in cats]] for t in confusion],
        ))  # fmt: skip
    return tables


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Video evaluation: {Path(report['video']).name}", ""]
    lines += [f"- {f}" for f in _facts(report)] + [""]
    for title, header, rows in _tables(report):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows] + [""]
    lines += ["## Timeline", "", f"![timeline]({PLOT_NAME})", "", "## Definitions", ""]
    lines += [f"- {d}" for d in DEFINITIONS]
    for note in (report["figures"]["frames"].get("roc_auc_note"), report["figures"].get("alerts_note")):
        if note:
            lines.append(f"- Not computed: {note}.")
    return "\n".join(lines) + "\n"


def render_html(report: dict[str, Any]) -> str:
    esc = html.escape
    body = [f"<h1>Video evaluation: {esc(Path(report['video']).name)}</h1>", "<ul>"]
    body += [f"<li>{esc(f.replace('`', ''))}</li>" for f in _facts(report)] + ["</ul>"]
    for title, header, rows in _tables(report):
        body.append(f"<h2>{esc(title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        body += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows]
        body.append("</table>")
    body.append(f'<h2>Timeline</h2><img src="{PLOT_NAME}" alt="timeline"><h2>Definitions</h2><ul>')
    body += [f"<li>{esc(d)}</li>" for d in DEFINITIONS] + ["</ul>"]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
        "img{max-width:100%}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>painwatch video evaluation</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def draw_timeline(path: Path, result: ReplayResult, report: dict[str, Any], truth: VideoTruth | None) -> None:
    """Probability (per frame and smoothed), estimated vs truth score, truth segments and alert spans."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    shades = {"pain": ("#e45756", 0.18), "no_face": ("#999999", 0.25)}
    for ax in (top, bottom):
        for segment in truth.segments if truth is not None else ():
            if segment.label in shades:
                colour, alpha = shades[segment.label]
                ax.axvspan(segment.start_s, segment.end_s, color=colour, alpha=alpha, lw=0)
    ok = [f for f in result.frames if f.probability is not None]
    top.scatter([f.t for f in ok], [f.probability for f in ok], s=4, color="#4c78a8", label="pain probability")
    smooth = [(f.t, f.smoothed) for f in result.frames if f.smoothed is not None]
    top.plot([t for t, _ in smooth], [s for _, s in smooth], color="#1f3b73", lw=1, label="smoothed")
    top.axhline(result.options.aggregation.pain_threshold, color="#555", lw=0.8, ls="--", label="pain threshold")
    for i, alert in enumerate(result.alerts):
        end = alert.closed_s if alert.closed_s is not None else result.duration_s
        colour = "#f58518" if alert.kind == "pain_episode" else "#72b7b2"
        top.plot([alert.opened_s, end], [1.06, 1.06], color=colour, lw=6, solid_capstyle="butt",
                 label=("pain alert" if alert.kind == "pain_episode" else "technical alert")
                 if i == next(j for j, a in enumerate(result.alerts) if a.kind == alert.kind) else None)  # fmt: skip
    top.set_ylim(-0.05, 1.12)
    top.set_ylabel("probability")
    top.legend(loc="upper left", fontsize=7, ncol=5)
    estimate = [(f.t, f.estimated_score if not f.low_evidence else None) for f in result.frames]
    bottom.step([t for t, _ in estimate], [float("nan") if s is None else s for _, s in estimate], where="post",
                color="#4c78a8", label="estimated score")  # fmt: skip
    windows = report["figures"]["windows"]
    if truth is not None:  # the truth score of the same window at each analysed frame's time
        window_s, rules = result.options.aggregation.window_s, result.options.aggregation.rules
        scores = [truth.score(max(0.0, f.t - window_s), f.t, rules) if f.t > 0 else None for f in result.frames]
        bottom.step([f.t for f in result.frames], [float("nan") if s is None else s for s in scores], where="post",
                    color="#e45756", ls="--", label="truth score")  # fmt: skip
    for w in windows.get("rated_windows", []):
        if w["truth"] is not None:
            bottom.plot([w["start_s"], w["end_s"]], [w["truth"], w["truth"]], color="#e45756", lw=2, ls="--",
                        label="rated score" if w is windows["rated_windows"][0] else None)  # fmt: skip
    scale = result.options.scale
    bottom.set_yticks(list(SCALE_RANGE[scale]))
    bottom.set_ylim(-0.3, max(SCALE_RANGE[scale]) + 0.3)
    bottom.set_ylabel(f"{scale.value} face")
    bottom.set_xlabel("video time (s); shaded: truth pain (red), no face (grey)")
    bottom.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def write_report(out_dir: Path, report: dict[str, Any], result: ReplayResult, truth: VideoTruth | None) -> Path:
    """Write the four files into `out_dir` (created); returns the JSON's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    draw_timeline(out_dir / PLOT_NAME, result, report, truth)
    with atomic_open(out_dir / MD_NAME, "w", encoding="utf-8") as handle:
        handle.write(render_markdown(report))
    with atomic_open(out_dir / HTML_NAME, "w", encoding="utf-8") as handle:
        handle.write(render_html(report))
    with atomic_open(out_dir / JSON_NAME, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, allow_nan=False)
        handle.write("\n")
    return out_dir / JSON_NAME
