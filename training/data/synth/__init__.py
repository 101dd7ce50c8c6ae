"""A deterministic synthetic infant cohort for tests, demos and benchmarks (never clinical data).

Identities are derived from real face photographs that ship inside installed packages (scikit-image's
astronaut, matplotlib's Grace Hopper), warped toward infant proportions and recoloured; localized pain
cues (brow bulge, eye squeeze, nasolabial furrow, open mouth) are drawn at the detector's keypoints, each
with a pixel mask. `build_cohort` writes a crop dataset and short videos with a DAN manifest.
"""

from training.data.synth.cohort import CohortOptions, CohortSummary, build_cohort

__all__ = ["CohortOptions", "CohortSummary", "build_cohort"]
