"""The validation report: the issues found and the dataset's summary, as `jobs.validate` writes them."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.data.quality.checks import CHECKS, SEVERITY_RANK, Check, Issue, Severity


@dataclass
class ValidationReport:
    """The result of `validate_dataset`.

    Attributes:
        summary: Counts and distributions (see `validate_dataset`).
        issues: One Issue per (file, check), most severe first.
    """

    summary: dict[str, Any]
    issues: list[Issue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """`{"summary": {...}, "issues": [{"file", "check", "severity", "message"}]}`."""
        return {"summary": self.summary, "issues": [i.to_dict() for i in self.issues]}

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def write(self, path: Path) -> Path:
        """Write the JSON report to `path` (folders created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path

    def has_issues_at_or_above(self, severity: Severity | str) -> bool:
        """Whether any issue is at least as severe as `severity` ("never" is never reached)."""
        if severity == "never":
            return False
        rank = SEVERITY_RANK[Severity(severity)]
        return any(SEVERITY_RANK[i.severity] >= rank for i in self.issues)

    def files_with(self, check: Check) -> list[str]:
        """Sorted file names that have an issue of `check`."""
        return sorted({i.file for i in self.issues if i.check == check})

    def summary_line(self) -> str:
        """One human line: images checked, errors, warnings and the most frequent checks."""
        by_sev = Counter(i.severity for i in self.issues)
        by_check = Counter(i.check for i in self.issues)
        ordered = sorted(by_check.items(), key=lambda kv: (-SEVERITY_RANK[CHECKS[kv[0]].severity], -kv[1], kv[0]))
        detail = ", ".join(f"{name} {count}" for name, count in ordered)
        line = (
            f"Checked {self.summary.get('images', 0)} images: {by_sev[Severity.ERROR]} errors, "
            f"{by_sev[Severity.WARNING]} warnings, {by_sev[Severity.INFO]} notes"
        )
        return f"{line} ({detail})" if detail else line
