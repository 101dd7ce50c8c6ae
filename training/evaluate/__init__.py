"""`painwatch eval-video`: the bedside pipeline replayed offline on a recording and scored against its truth
(a sidecar JSON or a rater manifest); the replay and metrics live in `service/evaluation/`."""
