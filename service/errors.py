"""Errors a user can cause (bad file, bad column, missing model): the CLI prints them and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message names the file/line/key and what to do."""

    exit_code = 2


class ValidationErrors(UserError):
    """Several problems found in one pass (e.g. every bad line of a manifest)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s); nothing was written:\n{lines}")
