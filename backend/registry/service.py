"""Promotion, rollback, ONNX export and the model history: what the Models page and `jobs.promote` call.

Exactly one model is in production (the store demotes the previous one). Every promotion runs the gate
(`backend.registry.gate`); a blocked one goes through only with a written reason. Before a model becomes production,
its weights are checked against the sha256 recorded when it was registered: a changed or corrupt file is refused and
the current production model keeps answering. Rollback goes back one step along the production history kept in the
model history. Promoting the model in shadow takes it out of shadow (`backend.registry.shadow`). The Detect page
asks `serving_model()` on each request, so a new production model answers at once.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.core.access import Actor, Permission
from backend.core.enums import EvalSplit, ModelStage, RunStatus
from backend.core.errors import BadInputError, NotFoundError, PlateOpsError
from backend.core.hashing import file_sha256
from backend.core.limits import TextKind, require_within
from backend.core.params import Params, get_params
from backend.core.settings import get_settings
from backend.registry.eval_set import (
    EvalSetSpec,
    current_eval_set,
    describe_split,
    open_eval_set,
    record_default_eval_set,
)
from backend.registry.gate import GateFigures, ScoreFn
from backend.registry.publishing import publish_stage
from backend.registry.runtime_choice import RuntimeChoice, choose_runtime
from backend.registry.verdict import Contender, OwnSplit, judge
from backend.serving.service import forget_shadow_choice
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store import shadow as shadow_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import ModelEvent, RegisteredModel, Run
from backend.training.matching import EvalImages, ModelScore
from backend.training.runtimes import served_sha256

log = logging.getLogger(__name__)

PRODUCTION_ACTIONS = ("promoted", "overridden", "rolled_back")
# a run's figures a registered model keeps (its own validation split's, with their intervals)
RUN_FIGURE_KEYS = ("map50", "map50_low", "map50_high", "map50_95", "precision", "recall", "latency_ms", "instances")


class WeightsIntegrityError(BadInputError):
    """A model's weights file is missing, outside the workspace runs folder, or differs from the registered one."""


@dataclass(frozen=True)
class ModelHistoryEntry:
    """One line of the model history (promotions, overrides, blocks, rollbacks, exports) as the Models page shows it."""

    when: datetime
    action: str
    model: str
    previous: str
    actor: str
    reason: str
    figures: dict[str, Any]


def _who(actor: Actor) -> str:
    """The name the model history shows."""
    return actor.name or default_actor()


def default_actor() -> str:
    """Who acts from the command line: "cli:<login name>"."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# --------------------------------------------------------------------------------------------------- weights


def _runs_root() -> Path:
    return get_settings().runs_dir.resolve()


def verify_weights(model: RegisteredModel, *, onnx: bool = False) -> Path:
    """Check a registered model's weights (or ONNX export) against the sha256 recorded at registration.

    Args:
        model: The registered model.
        onnx: Check the ONNX export instead of the .pt weights.

    Returns:
        The verified file's resolved path.

    Raises:
        WeightsIntegrityError: The file is gone, lies outside the workspace runs folder, has no recorded sha256, or
            its bytes changed since registration.
    """
    text, expected = (model.onnx_path, model.onnx_sha256) if onnx else (model.weights_path, model.weights_sha256)
    kind = "ONNX model" if onnx else "weights"
    if not text:
        raise WeightsIntegrityError(f"Model {model.name} (#{model.id}) has no {kind} file.")
    path = Path(text).resolve()
    if not path.is_relative_to(_runs_root()):
        raise WeightsIntegrityError(
            f"The {kind} of {model.name} (#{model.id}) lie outside the workspace runs folder ({path}); "
            "only the registry's own files are loaded."
        )
    if not path.is_file():
        raise WeightsIntegrityError(f"The {kind} of {model.name} (#{model.id}) are missing: {path}.")
    if not expected:
        raise WeightsIntegrityError(
            f"Model {model.name} (#{model.id}) has no sha256 recorded for its {kind}; register it again."
        )
    actual = file_sha256(path)
    if actual != expected:
        raise WeightsIntegrityError(
            f"The {kind} of {model.name} (#{model.id}) changed since registration (sha256 {actual[:12]}… instead "
            f"of {expected[:12]}…); refused. Restore the file or retrain. The current production model keeps answering."
        )
    return path


def ensure_registered(run_id: int) -> RegisteredModel:
    """The registry entry of a succeeded run, registering it (with the sha256 of its weights) when missing.

    Raises:
        NotFoundError: No such run.
        BadInputError: The run did not succeed or has no weights in the runs folder.
    """
    with session_scope() as session:
        run = run_store.get_run(session=session, run_id=run_id)
        existing = model_store.find_model_for_run(session=session, run_id=run_id)
    if existing is not None:
        return existing
    if run.status != RunStatus.SUCCEEDED or not run.weights_path:
        raise BadInputError(
            f"Run {run.name} (#{run.id}) is {run.status}; only a finished run with weights can be promoted."
        )
    weights = Path(run.weights_path).resolve()
    if not weights.is_file() or not weights.is_relative_to(_runs_root()):
        raise BadInputError(f"Run {run.name} has no weights in the workspace runs folder ({weights}).")
    evaluation = run.evaluation or {}
    with session_scope() as session:
        return model_store.register_model(
            session=session,
            name=run.name,
            weights_path=str(weights),
            run_id=run.id,
            metrics={key: evaluation.get(key) for key in RUN_FIGURE_KEYS},
            weights_sha256=file_sha256(weights),
            class_thresholds=evaluation.get("class_thresholds") or {},
        )


# --------------------------------------------------------------------------------------------------- the gate


def _version_val_split(run: Run | None, whose: str) -> tuple[EvalSetSpec, EvalImages] | None:
    """A run's dataset version's validation split as an evaluation set, or None when it has none on disk."""
    if run is None or run.dataset_version_id is None:
        return None
    try:
        return describe_split(run.dataset_version_id, EvalSplit.VAL)
    except (NotFoundError, BadInputError) as exc:
        log.info("the %s validation split cannot be read: %s", whose, exc)
        return None


def _evaluation_set(cand_run: Run | None, prod_run: Run | None, production: bool) -> tuple[EvalSetSpec, EvalImages]:
    """The set the gate judges on: the recorded one, else the default (the production model's validation split,
    or the candidate's at the first promotion: it is what becomes the production model's)."""
    recorded = current_eval_set()
    if recorded is not None:
        spec = EvalSetSpec.of(recorded)
        return spec, open_eval_set(spec)
    found = _version_val_split(prod_run if production else cand_run, "production model's" if production else "")
    if found is None:
        raise BadInputError(
            "There is no evaluation set yet and the "
            + ("production model" if production else "candidate")
            + " has no dataset version on disk to take its validation split from; choose an evaluation set on the "
            "Models page."
        )
    return found


def _scorer(run: Run | None, params: Params) -> ScoreFn:
    """Score on CPU at the run's own training size (the size it is served at)."""
    imgsz = int((run.params if run else {}).get("imgsz") or params.evaluate.imgsz)

    def score_fn(weights: Path, images: EvalImages) -> ModelScore:
        from backend.training.evaluation import score_weights

        return score_weights(weights, images, imgsz=imgsz, device="cpu")

    return score_fn


def _get_run(run_id: int | None) -> Run | None:
    if run_id is None:
        return None
    with session_scope() as session:
        try:
            return run_store.get_run(session=session, run_id=run_id)
        except NotFoundError:
            return None


def _own_split(cand_run: Run | None, spec: EvalSetSpec) -> OwnSplit | None:
    """The candidate's own validation split, shown beside the evaluation set."""
    if cand_run is None or cand_run.dataset_version_id is None:
        return None
    if (cand_run.dataset_version_id, spec.split) == (spec.dataset_version_id, EvalSplit.VAL):
        return OwnSplit(spec.name, None)  # the same images: the candidate's score on the set is reused
    found = _version_val_split(cand_run, "candidate's")
    return OwnSplit(found[0].name, found[1]) if found is not None else None


def run_gate(
    run_id: int,
    *,
    score_fn: ScoreFn | None = None,
    params: Params | None = None,
    confirm_classes: bool = False,
) -> tuple[GateFigures, RegisteredModel, EvalSetSpec]:
    """Score a run's model and the production model on the evaluation set and decide.

    Args:
        run_id: The candidate's training run.
        score_fn: How to score a model on the set (default: `backend.training.evaluation.score_weights` on CPU at
            each run's training size).
        params: The project params (default: params.yaml).
        confirm_classes: The promoter confirmed the class mapping (needed when the class lists differ).

    Returns:
        (figures, candidate model, the evaluation set it was judged on).

    Raises:
        NotFoundError: No such run.
        BadInputError: The run cannot be promoted (not finished, already in production, no evaluation set).
        WeightsIntegrityError: A model's weights changed since registration.
    """
    params = params or get_params()
    with session_scope() as session:
        was_registered = model_store.find_model_for_run(session=session, run_id=run_id) is not None
    candidate = ensure_registered(run_id)
    if candidate.stage == ModelStage.PRODUCTION:
        raise BadInputError(f"{candidate.name} (#{candidate.id}) is already the production model.")
    try:
        figures, spec = _judge(candidate, params, score_fn=score_fn, confirm_classes=confirm_classes)
    except BaseException:
        # A gate that cannot decide (no split, a failed evaluation, changed weights) leaves the registry as it found
        # it: a run it registered just now is not left behind as a candidate nobody chose.
        if not was_registered:
            with session_scope() as session:
                model_store.delete_model(session=session, model_id=candidate.id)
        raise
    return figures, candidate, spec


def _judge(
    candidate: RegisteredModel, params: Params, *, score_fn: ScoreFn | None, confirm_classes: bool
) -> tuple[GateFigures, EvalSetSpec]:
    """The gate's figures for a registered candidate, and the evaluation set it was judged on (`run_gate`)."""
    weights = verify_weights(candidate)
    with session_scope() as session:
        production = model_store.get_production_model(session=session)
    cand_run, prod_run = _get_run(candidate.run_id), _get_run(production.run_id if production else None)
    spec, images = _evaluation_set(cand_run, prod_run, production is not None)
    figures = judge(
        Contender(candidate.id, candidate.run_id, weights, score_fn or _scorer(cand_run, params)),
        None
        if production is None
        else Contender(
            production.id, production.run_id, verify_weights(production), score_fn or _scorer(prod_run, params)
        ),
        spec=spec,
        images=images,
        own_split=_own_split(cand_run, spec),
        confirm_classes=confirm_classes,
        params=params,
    )
    return figures, spec


def promote_run(
    run_id: int,
    *,
    actor: Actor,
    reason: str = "",
    score_fn: ScoreFn | None = None,
    export: bool | None = None,
    confirm_classes: bool = False,
) -> GateFigures:
    """Run the gate and, when it passes (or a written reason overrides a block), make the run's model production.

    A differing class mapping must be confirmed (`confirm_classes`) before anything is promoted, reason or not. At
    the first promotion, with no evaluation set chosen yet, the promoted model's validation split becomes it.

    Args:
        run_id: The candidate's training run.
        reason: Why the user promotes; required to override a block, kept in the model history either way.
        actor: Who promotes (the console user, or the shell user on the command line); needs `promote`.
        score_fn: Scoring override (tests); default the real matching on CPU.
        export: Export the ONNX model on promotion; default `registry.export_onnx` in params.yaml.
        confirm_classes: The promoter confirmed the class mapping shown by the gate.

    Returns:
        The gate's figures; `promoted` says whether the model is now in production.

    Raises:
        NotFoundError: No such run.
        BadInputError: Bad input (see `run_gate`); WeightsIntegrityError for a changed weights file.
    """
    authorize(actor, Permission.PROMOTE, f"promote run {run_id}")
    reason = require_within(TextKind.PROMOTION_REASON, reason.strip())
    params = get_params()
    figures, candidate, spec = run_gate(run_id, score_fn=score_fn, params=params, confirm_classes=confirm_classes)
    if figures.needs_confirmation or (not figures.passed and not reason):
        with session_scope() as session:
            model_store.add_event(
                session=session,
                action="blocked",
                model_id=candidate.id,
                previous_model_id=figures.production_model_id,
                actor=_who(actor),
                reason=reason,
                figures=figures.to_dict(),
            )
        return figures
    figures.overridden = not figures.passed
    figures.promoted = True
    with session_scope() as session:
        model_store.update_model(
            session=session,
            model_id=candidate.id,
            metrics={**figures.candidate, "eval_set": figures.eval_set},
        )
        model_store.set_model_stage(session=session, model_id=candidate.id, stage=ModelStage.PRODUCTION)
        model_store.add_event(
            session=session,
            action="overridden" if figures.overridden else "promoted",
            model_id=candidate.id,
            previous_model_id=figures.production_model_id,
            actor=_who(actor),
            reason=reason,
            figures=figures.to_dict(),
        )
        shadow = shadow_store.current_shadow(session=session)
        if shadow is not None and shadow.figures.get("run_id") == candidate.run_id:  # it answers for real now
            model_store.add_event(
                session=session,
                action=shadow_store.SHADOW_OFF,
                model_id=shadow.model_id,
                actor=_who(actor),
                reason="promoted to production",
                figures=shadow.figures,
            )
    forget_shadow_choice()
    if spec.number == 0:  # the default set, used for the first time: it is recorded now, frozen from here on
        recorded = record_default_eval_set(spec, actor=Actor(_who(actor), actor.role))
        figures.eval_set["number"] = recorded.number
    if params.registry.export_onnx if export is None else export:
        try:
            export_model(candidate.id, actor=actor)
        except BadInputError as exc:  # the .pt keeps serving; the page offers the export again
            log.warning("ONNX export on promotion failed: %s", exc)
    publish_stage(_get_run(candidate.run_id), ModelStage.PRODUCTION, previous=None)
    return figures


# --------------------------------------------------------------------------------------------------- rollback


def production_history() -> list[int]:
    """Model ids that were production, oldest first, as promotions push and rollbacks pop (the last is current)."""
    with session_scope() as session:
        events = model_store.list_events(session=session, limit=None, actions=PRODUCTION_ACTIONS, oldest_first=True)
    stack: list[int] = []
    for event in events:
        if event.action == "rolled_back":
            if stack:
                stack.pop()
            if event.model_id is not None and (not stack or stack[-1] != event.model_id):
                stack.append(event.model_id)
        elif event.model_id is not None:
            stack.append(event.model_id)
    return stack


def rollback_target() -> RegisteredModel | None:
    """The model a rollback would bring back: the production model before the current one, or None."""
    with session_scope() as session:
        current = model_store.get_production_model(session=session)
        if current is None:
            return None
        stack = production_history()
        if stack and stack[-1] == current.id:
            return model_store.get_model(session=session, model_id=stack[-2]) if len(stack) >= 2 else None
        # production set outside the gate: the most recently promoted other model
        earlier = [
            m for m in model_store.list_models(session=session) if m.id != current.id and m.promoted_at is not None
        ]
        return max(earlier, key=lambda m: m.promoted_at or datetime.min) if earlier else None


def rollback(*, actor: Actor, reason: str = "") -> RegisteredModel:
    """Put the previous production model back in production (one step back).

    Returns:
        The model now in production.

    Raises:
        BadInputError: Nothing to roll back to.
        WeightsIntegrityError: The previous model's weights changed since registration (nothing changes then).
    """
    authorize(actor, Permission.PROMOTE, "rollback")
    target = rollback_target()
    with session_scope() as session:
        current = model_store.get_production_model(session=session)
    if target is None or current is None:
        raise BadInputError("There is no earlier production model to roll back to.")
    verify_weights(target)
    with session_scope() as session:
        restored = model_store.set_model_stage(session=session, model_id=target.id, stage=ModelStage.PRODUCTION)
        model_store.add_event(
            session=session,
            action="rolled_back",
            model_id=target.id,
            previous_model_id=current.id,
            actor=_who(actor),
            reason=reason.strip(),  # the store refuses one over the limit
            figures={"from": current.name, "to": target.name},
        )
    publish_stage(_get_run(target.run_id), ModelStage.PRODUCTION, previous=_get_run(current.run_id))
    return restored


# --------------------------------------------------------------------------------------------------- export


def export_model(model_id: int, *, actor: Actor, imgsz: int | None = None) -> RegisteredModel:
    """Export a registered model to ONNX next to its weights and record the file and its sha256.

    Args:
        model_id: The registered model.
        imgsz: Input size; default the run's training size.
        actor: Who asked (audit trail).

    Returns:
        The updated model (with `onnx_path` and `onnx_sha256`).

    Raises:
        WeightsIntegrityError: The .pt changed since registration.
        BadInputError: The export failed.
    """
    from backend.training.export import export_onnx

    authorize(actor, Permission.EXPORT_MODEL, f"export model {model_id}")
    with session_scope() as session:
        model = model_store.get_model(session=session, model_id=model_id)
    weights = verify_weights(model)
    run = _get_run(model.run_id)
    size = imgsz or int((run.params if run else {}).get("imgsz") or get_params().evaluate.imgsz)
    out = export_onnx(weights, imgsz=size, out=weights.with_suffix(".onnx"))
    served, runtime = out, _runtime_choice(weights, out, run)
    if runtime is not None:
        served = Path(runtime.path)
    with session_scope() as session:
        updated = model_store.update_model(
            session=session, model_id=model.id, onnx_path=str(served.resolve()), onnx_sha256=served_sha256(served)
        )
        model_store.add_event(
            session=session,
            action="exported",
            model_id=model.id,
            actor=_who(actor),
            reason=runtime.summary() if runtime is not None else "",
            figures={"onnx": str(out), "served": str(served), "imgsz": size}
            | ({"runtime": asdict(runtime)} if runtime is not None else {}),
        )
    return updated


def _runtime_choice(weights: Path, onnx: Path, run: Run | None) -> RuntimeChoice | None:
    """The measured runtime choice on the evaluation set (else the run's validation split); None when off or when
    nothing can be measured (the float ONNX export then serves, as before)."""
    if not get_params().registry.choose_runtime:
        return None
    try:
        record = current_eval_set()
        if record is not None:
            spec = EvalSetSpec.of(record)
            images = open_eval_set(spec)
        elif run is not None and run.dataset_version_id is not None:
            spec, images = describe_split(run.dataset_version_id)
        else:
            return None
        return choose_runtime(weights, onnx, images, basis=spec.label)
    except (PlateOpsError, RuntimeError, OSError, ValueError) as exc:  # the ONNX export serves; the reason is logged
        log.warning("runtime choice on export failed, serving the ONNX export: %s", exc)
        return None


# --------------------------------------------------------------------------------------------------- reading


def get_production() -> RegisteredModel | None:
    """The production model, if any."""
    with session_scope() as session:
        return model_store.get_production_model(session=session)


def model_history(limit: int = 100) -> list[ModelHistoryEntry]:
    """The model history, newest first, with model names resolved."""
    with session_scope() as session:
        events: list[ModelEvent] = model_store.list_events(session=session, limit=limit)
        names = {m.id: f"{m.name} (#{m.id})" for m in model_store.list_models(session=session)}
    return [
        ModelHistoryEntry(
            when=e.created_at,
            action=e.action,
            model=names.get(e.model_id or -1, "—"),
            previous=names.get(e.previous_model_id or -1, "—"),
            actor=e.actor,
            reason=e.reason,
            figures=e.figures,
        )
        for e in events
    ]
