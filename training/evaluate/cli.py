"""`painwatch eval-video`: the bedside pipeline run offline on a recording, scored against its ground truth."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from service.errors import UserError


def eval_video_command(
    video: Annotated[Path, typer.Argument(help="The recording (any format OpenCV decodes).")],
    truth: Annotated[
        Path,
        typer.Option(
            "--truth",
            help="Ground truth: a sidecar JSON (<video>.truth.json, docs/schemas/video_truth.schema.json) or a rater "
            "manifest CSV (the `painwatch data plan` format; rows whose path is VIDEO).",
        ),
    ],
    model: Annotated[
        Path | None,
        typer.Option(
            help="Exported model folder (default, as the service: $PAINWATCH_MODEL__PATH, else demo-synthetic/1 "
            "under the models root)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Report folder (default: eval-<video name> in the current folder)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="A service config YAML: its `aggregation` and `alerts` sections are used (other keys "
            "are ignored); default: the service's defaults."
        ),
    ] = None,
    rate: Annotated[
        float,
        typer.Option(
            help="Analysed frames per second of video (0: every frame). The live service manages about "
            "5 per bed on 2 cores."
        ),
    ] = 5.0,
    detector: Annotated[str, typer.Option(help="Face detector (as a bed's detector.name).")] = "mediapipe-short",
    min_score: Annotated[float, typer.Option(help="Detections below this confidence are ignored.")] = 0.5,
    step: Annotated[float, typer.Option(help="Seconds between compared windows (sidecar truth).")] = 1.0,
) -> None:
    """Run VIDEO through the bedside pipeline offline (same detector, crop, model, window score and alert engine,
    driven by the video's clock: faster than real time, deterministic) and report against TRUTH: frame ROC-AUC,
    window-score weighted kappa, alert latency, false alerts per hour, no-face share (report.md, report.html,
    timeline.png, evaluation.json)."""
    from service.evaluation.evaluate import evaluate_with_truth
    from service.evaluation.replay import ReplayOptions, replay_video
    from service.evaluation.truth import read_truth
    from training.evaluate.report import write_report

    if rate < 0:
        raise UserError(f"--rate must be 0 (every frame) or a positive number of frames per second, got {rate:g}")
    if step <= 0:
        raise UserError(f"--step must be a positive number of seconds, got {step:g}")
    if not video.is_file():
        raise UserError(f"{video}: video file not found")
    model_path = model if model is not None else _default_model()
    aggregation, alerts = _params(config)
    kind = _truth_kind(truth)
    sidecar = read_truth(truth) if kind == "sidecar" else None
    if kind == "manifest":
        from training.evaluate.manifest_truth import rated_windows

        scale, windows = rated_windows(truth, video)
    else:
        assert sidecar is not None
        scale, windows = sidecar.scale, []
    options = ReplayOptions(scale=scale, aggregation=aggregation, alerts=alerts, detector=detector,
                            min_score=min_score, rate_hz=rate or None)  # fmt: skip
    if sidecar is not None:
        _check_matches(sidecar, truth, video)
    started = time.perf_counter()
    result = replay_video(video, model_path, options, progress=_progress())
    seconds = time.perf_counter() - started
    if sidecar is not None:
        figures = evaluate_with_truth(result, sidecar, step)
    else:
        from training.evaluate.manifest_truth import evaluate_with_manifest

        figures = evaluate_with_manifest(result, windows, truth)
    report = _report(video, truth, kind, sidecar is not None and sidecar.synthetic, result, figures, seconds)
    out_dir = output if output is not None else Path(f"eval-{video.stem}")
    written = write_report(out_dir, report, result, sidecar)
    _print_summary(report, written)


def _check_matches(sidecar: Any, truth: Path, video: Path) -> None:
    """The sidecar must describe this video: same length within a frame (checked before the long replay)."""
    from service.vision.video import VideoError, probe_video

    try:
        info = probe_video(video)
    except VideoError as exc:
        raise UserError(str(exc)) from exc
    if abs(sidecar.duration_s - info.duration_s) > 1.0 / info.fps + 1e-6:
        raise UserError(
            f"{truth}: key 'duration_s' is {sidecar.duration_s:g} s but {video} lasts {info.duration_s:g} s "
            f"({info.frame_count} frames at {info.fps:g} fps): is this the video's truth?"
        )


def _default_model() -> Path:
    """As the service finds it: $PAINWATCH_MODEL__PATH (relative: to the models root), else the demo model."""
    import os

    from service.config.settings import DEFAULT_MODEL
    from service.model_card import default_models_root

    env = os.environ.get("PAINWATCH_MODEL__PATH")
    path = Path(env).expanduser() if env else DEFAULT_MODEL
    return path if path.is_absolute() else default_models_root() / path


def _truth_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "sidecar"
    if suffix == ".csv":
        return "manifest"
    raise UserError(f"{path}: --truth must be a sidecar .json or a rater manifest .csv")


def _params(config: Path | None) -> tuple[Any, Any]:
    from pydantic import ValidationError

    from service.aggregation import AggregationParams
    from service.alerts.params import AlertParams
    from service.config.loading import format_errors, read_yaml

    if config is None:
        return AggregationParams(), AlertParams()
    data = read_yaml(config)
    try:
        aggregation = AggregationParams.model_validate(data.get("aggregation") or {})
    except ValidationError as exc:
        raise UserError(f"{config}: invalid `aggregation` section:\n{format_errors(exc)}") from exc
    try:
        alerts = AlertParams.model_validate(data.get("alerts") or {})
    except ValidationError as exc:
        raise UserError(f"{config}: invalid `alerts` section:\n{format_errors(exc)}") from exc
    return aggregation, alerts


def _progress() -> Any:
    last = [-1]

    def report(done: int, total: int) -> None:
        percent = int(100 * done / max(total, 1)) // 10 * 10
        if percent != last[0]:
            last[0] = percent
            typer.echo(f"  {percent:3d}% ({done}/{total} frames)", err=True)

    return report


def _report(
    video: Path, truth: Path, kind: str, synthetic: bool, result: Any, figures: dict[str, Any], seconds: float
) -> dict[str, Any]:
    from service.files import file_sha256

    opts = result.options
    return {
        "schema_version": 1,
        "video": str(video),
        "fps": result.fps,
        "frames": result.frame_count,
        "duration_s": result.duration_s,
        "truth": {"kind": kind, "path": str(truth), "synthetic": synthetic},
        "model": {
            "name": result.model.name,
            "version": result.model.version,
            "demo": result.model.demo,
            "file": str(result.model_file),
            "sha256": file_sha256(result.model_file),
        },
        "options": {
            "scale": opts.scale.value,
            "detector": opts.detector,
            "min_score": opts.min_score,
            "rate_hz": opts.rate_hz,
            "window_s": opts.aggregation.window_s,
            "pain_threshold": opts.aggregation.pain_threshold,
            "min_face_share": opts.aggregation.min_face_share,
            "open_after_s": opts.alerts.open_after_s,
            "close_after_s": opts.alerts.close_after_s,
        },
        "command": "painwatch " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "seconds": seconds,
        "figures": figures,
    }


def _print_summary(report: dict[str, Any], written: Path) -> None:
    from training.evaluate.report import headline_rows

    for name, value in headline_rows(report):
        typer.echo(f"{name}: {value}")
    typer.echo(f"report: {written.parent / 'report.md'} (and report.html, timeline.png, {written.name})")
