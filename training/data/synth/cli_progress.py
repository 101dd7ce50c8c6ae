"""The `painwatch data synth` command body: options -> build_cohort, with a rich progress bar on stderr."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from training.data.synth.cohort import CohortOptions, CohortSummary, build_cohort


def build_with_progress(
    output: Path,
    seed: int,
    infants: int,
    crops_per_infant: int,
    videos: bool,
    video_seconds: float,
    fps: int,
    models_dir: Path | None,
    force: bool,
    photos: str = "packaged",
) -> CohortSummary:
    options = CohortOptions(seed=seed, infants=infants, crops_per_infant=crops_per_infant, videos=videos,
                            video_seconds=video_seconds, fps=fps, models_dir=models_dir,
                            photos=photos)  # fmt: skip
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"synthetic {stage}", total=total)
            else:
                bar.advance(tasks[stage])

        return build_cohort(output, options, force=force, progress=report)
