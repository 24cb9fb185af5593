"""The newcomer path: the clicks and seconds from a fresh workspace to a first detection with recipes, in Chromium.

The console starts on an empty workspace the way `./plateops` starts it (`python -m ui.launch`, through the browser
tests' launcher `tests.e2e.conftest.start_console`), with the demo set made on first start (PLATEOPS_AUTO_DEMO on)
and the browser tour's first-start environment (`tests.e2e.test_tour.first_start_env`: a small demo set and the Quick
preset shrunk by a params file, so the training ends in minutes on a CPU). Headless Chromium (Debian's, under
Playwright) then walks the tour's own first-start steps: Home until the demo set is made → validate it on Datasets →
Quick training on Train → "Try it on Detect" with a demo picture, until the detections and the recipes are shown.

Every click, fill and upload the script performs goes through a counter that also times it: "acting" is the time
inside those actions once their element is there (the script acts at machine speed; a person adds reading and
pointing), "waiting" is the rest of each step, the time the person waits on the machine. One run, with the load
average at its start and end: a bench, not a test; nothing timed is asserted.

Run: python -m bench.newcomer [--write]   (several minutes on 2 CPU cores, nearly all of it training)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from bench.report import table, write_section

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ACTIONS = {"click": "click", "fill": "fill", "set_input_files": "upload"}  # Playwright method → what the person does
T = TypeVar("T")
# Said when the first detection found nothing (the shrunk model may not): what the figures do and do not show.
EMPTY = (
    " The shrunk model found nothing on that picture: the page showed no boxes and the recipes' empty state, so this"
    " measures the path's clicks and seconds, not a useful first model."
)


@dataclass
class Tally:
    """The actions performed so far, by kind, and the seconds spent inside them."""

    counts: Counter[str] = field(default_factory=Counter)
    acting_s: float = 0.0


class Counted:
    """A Playwright page or locator whose clicks, fills and uploads are counted and timed in `tally`.

    Everything else passes through; every locator it hands out (`page.get_by_role(…)`, `.first`, `.filter(…)`) is
    counted too, so the tour's step functions run on it unchanged.
    """

    def __init__(self, target: Any, tally: Tally) -> None:
        self._target, self._tally = target, tally

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name in ACTIONS:
            return lambda *args, **kwargs: self._act(name, value, *args, **kwargs)
        if callable(value):
            return lambda *args, **kwargs: self._wrap(value(*args, **kwargs))
        return self._wrap(value)

    def _wrap(self, value: Any) -> Any:
        from playwright.sync_api import FrameLocator, Locator

        return Counted(value, self._tally) if isinstance(value, Locator | FrameLocator) else value

    def _act(self, name: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from playwright.sync_api import Locator

        if isinstance(self._target, Locator):
            # The element appearing is the machine's part (waiting); the action once it is there is the person's.
            if name == "set_input_files":  # a file input is hidden behind its button
                self._target.wait_for(state="attached", timeout=kwargs.get("timeout"))
            else:
                self._target.wait_for(state="visible", timeout=kwargs.get("timeout"))
        started = time.perf_counter()
        result = action(*args, **kwargs)
        self._tally.acting_s += time.perf_counter() - started
        self._tally.counts[ACTIONS[name]] += 1
        return result


@dataclass
class Step:
    """One step of the path: what was done in it and how long it took."""

    name: str
    actions: Counter[str]
    wall_s: float
    acting_s: float

    @property
    def waiting_s(self) -> float:
        return self.wall_s - self.acting_s


def timed(steps: list[Step], tally: Tally, name: str, run: Callable[[], T]) -> T:
    """Run one step, appending its actions and seconds to `steps`; returns what `run` returns."""
    before, acting = Counter(tally.counts), tally.acting_s
    started = time.perf_counter()
    result = run()
    steps.append(Step(name, tally.counts - before, time.perf_counter() - started, tally.acting_s - acting))
    return result


def walk(root: Path) -> tuple[list[Step], str]:
    """The newcomer path on a fresh workspace under `root`; returns its steps and the first detection's caption."""
    from playwright.sync_api import Page, sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_console, stop_console
    from tests.e2e.test_tour import first_start_env, step_home, step_train, step_try_on_detect, step_validate

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium`")
    env = {**first_start_env(root), "PLATEOPS_AUTO_DEMO": "true"}
    tally, steps = Tally(), list[Step]()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        raw = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        raw.set_default_timeout(60_000)
        page = cast(Page, Counted(raw, tally))
        proc, console = timed(
            steps,
            tally,
            "Start the console on an empty workspace (one command)",
            lambda: start_console(root / "workspace", env),
        )
        try:
            timed(steps, tally, "Open Home; the demo set is made on first start", lambda: step_home(console, page))
            timed(steps, tally, "Validate it on Datasets", lambda: step_validate(page))
            timed(steps, tally, "Quick training on Train (shrunk)", lambda: step_train(page))
            timed(
                steps,
                tally,
                '"Try it on Detect": a demo picture, detections and recipes',
                lambda: step_try_on_detect(console, page),
            )
            detected = raw.get_by_text("Detected:").first.inner_text().strip()
        except BaseException:
            failed = Path(tempfile.gettempdir()) / "newcomer_failed.png"
            raw.screenshot(path=str(failed), full_page=True)
            print(f"Stopped; the page is in {failed}. Console log:\n{console.log.read_text(errors='replace')[-3000:]}")
            raise
        finally:
            stop_console(proc)
            browser.close()
    return steps, detected


def shrunk_training(params_file: Path) -> str:
    """What the shrunk Quick preset trains, next to what the shipped one does."""
    from backend.core.params import load_params

    shipped = load_params(PROJECT_ROOT / "params.yaml").presets["quick_cpu"].overrides
    shrunk = load_params(params_file).presets["quick_cpu"].overrides
    epochs = f"{shrunk['epochs']} epoch{'s' if shrunk['epochs'] != 1 else ''}"
    return (
        f"the Quick preset (`quick_cpu`, `{shrunk['model']}` from scratch) shrunk to {epochs} at "
        f"{shrunk['imgsz']} px (shipped: {shipped['epochs']} epochs at {shipped['imgsz']} px) by a params file, as "
        "the browser tour does"
    )


def actions_text(actions: Counter[str]) -> str:
    return ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in sorted(actions.items())) or "none"


def load_text(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.2f}" for x in load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    from backend.training.service import gpu_available
    from tests.e2e.test_tour import DEMO_IMAGES

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="plateops-newcomer-") as scratch:
        root = Path(scratch)
        steps, detected = walk(root)
        training = shrunk_training(root / "params.yaml")
    load_end = os.getloadavg()
    total = sum((s.actions for s in steps), Counter[str]())
    wall, acting = sum(s.wall_s for s in steps), sum(s.acting_s for s in steps)
    clicks = sum(total.values())
    rows: list[tuple[str, ...]] = [
        (
            s.name,
            str(sum(s.actions.values())),
            actions_text(s.actions),
            f"{s.wall_s:.1f}",
            f"{s.waiting_s:.1f}",
            f"{s.acting_s:.2f}",
        )
        for s in steps
    ]
    rows.append(
        ("**Total**", f"**{clicks}**", actions_text(total), f"**{wall:.1f}**", f"{wall - acting:.1f}", f"{acting:.2f}")
    )
    empty = detected.startswith("Detected: 0 ")
    machine = f"{os.cpu_count()} cores, {'a GPU' if gpu_available() else 'no GPU'}"
    print(
        f"Newcomer path: {clicks} clicks ({actions_text(total)}), {wall:.1f} s from a fresh workspace to a first "
        f"detection with recipes ({wall - acting:.1f} s waiting, {acting:.2f} s acting); {DEMO_IMAGES} demo pictures, "
        f"{training}; {detected}; {machine}; load {load_text(load_start)} → {load_text(load_end)}"
    )
    if args.write:
        body = (
            "## Newcomer path (`bench/newcomer.py`)\n\n"
            "From a fresh workspace to a first detection with recipes on the demo model, through the console in "
            "headless Chromium (Debian's, under Playwright), walking the browser tour's first-start steps "
            f"(`tests/e2e/test_tour.py`): {DEMO_IMAGES} demo pictures made on first start; {training}. "
            "Clicks count every click, fill and upload the script performs; *acting* is the time inside them once "
            "their element is there (at machine speed: a person adds reading and pointing), *waiting* the rest of "
            f"each step, spent on the machine. Machine: {machine}. The first detection read: “{detected}”."
            + (EMPTY if empty else "")
            + "\n\n"
            + table(rows, ("step", "clicks", "of which", "seconds", "waiting s", "acting s"))
            + f"\n\n**{clicks} clicks and {wall:.0f} s ({wall / 60:.1f} min) in all**, {wall - acting:.0f} s of it "
            "waiting on the machine. One run on a shared machine, as loaded or quiet as it was: load average "
            f"(1 / 5 / 15 min) {load_text(load_start)} at the start, {load_text(load_end)} at the end."
        )
        print(f"Wrote {write_section('newcomer', body)}")


if __name__ == "__main__":
    main()
