"""Promotion, rollback, ONNX export and the model history: what the Models page and `jobs.promote` call.

Exactly one model is in production (the store demotes the previous one). Every promotion runs the gate
(`backend.registry.gate`); a blocked one goes through only with a written reason. Before a model becomes production,
its weights are checked against the sha256 recorded when it was registered: a changed or corrupt file is refused and
the current production model keeps answering. Rollback goes back one step along the production history kept in the
model history. The Detect page asks `serving_model()` on each request, so a new production model answers at once.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.core.access import Actor, Permission
from backend.core.enums import ModelStage, RunStatus
from backend.core.errors import BadInputError, NotFoundError
from backend.core.hashing import file_sha256
from backend.core.limits import TextKind, require_within
from backend.core.params import Params, get_params
from backend.core.settings import get_settings
from backend.registry.gate import EvaluateFn, GateFigures, decide, summary
from backend.registry.publishing import publish_stage
from backend.store import datasets as dataset_store
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import ModelEvent, RegisteredModel, Run

log = logging.getLogger(__name__)

PRODUCTION_ACTIONS = ("promoted", "overridden", "rolled_back")


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
            metrics=summary(evaluation),
            weights_sha256=file_sha256(weights),
            class_thresholds=evaluation.get("class_thresholds") or {},
        )


# --------------------------------------------------------------------------------------------------- the gate


def _frozen_split(candidate: Run | None, production: Run | None) -> tuple[Path, str]:
    """The data.yaml the gate evaluates both models on, and how to name it."""
    for run, whose in ((candidate, "candidate's"), (production, "production model's")):
        if run is None or run.dataset_version_id is None:
            continue
        with session_scope() as session:
            version = dataset_store.get_version(session=session, version_id=run.dataset_version_id)
            dataset = dataset_store.get_dataset(session=session, dataset_id=version.dataset_id)
        data_yaml = Path(version.data_yaml)
        if data_yaml.is_file():
            return data_yaml, f"{dataset.name} {version.label} val split ({whose} dataset version)"
    raise BadInputError(
        "Neither the candidate nor the production model has a dataset version on disk to evaluate on; "
        "train the candidate on a dataset version first."
    )


def _evaluator(run: Run | None, params: Params) -> EvaluateFn:
    """Evaluate on CPU at the run's own training size (the size it is served at)."""
    imgsz = int((run.params if run else {}).get("imgsz") or params.evaluate.imgsz)

    def evaluate_fn(weights: Path, data_yaml: Path) -> dict[str, Any]:
        from backend.training.evaluation import evaluate

        return evaluate(
            weights, data_yaml, imgsz=imgsz, device="cpu", conf=params.evaluate.conf, iou=params.evaluate.iou
        ).to_dict()

    return evaluate_fn


def _get_run(run_id: int | None) -> Run | None:
    if run_id is None:
        return None
    with session_scope() as session:
        try:
            return run_store.get_run(session=session, run_id=run_id)
        except NotFoundError:
            return None


def run_gate(
    run_id: int,
    *,
    evaluate_fn: EvaluateFn | None = None,
    params: Params | None = None,
) -> tuple[GateFigures, RegisteredModel, dict[str, Any]]:
    """Evaluate a run's model and the production model on the same frozen split and decide.

    Args:
        run_id: The candidate's training run.
        evaluate_fn: Evaluation to use for both models (default: `backend.training.evaluation.evaluate` on CPU at
            each run's training size).
        params: The project params (default: params.yaml).

    Returns:
        (figures, candidate model, candidate's full evaluation).

    Raises:
        NotFoundError: No such run.
        BadInputError: The run cannot be promoted (not finished, already in production, no split to evaluate on).
        WeightsIntegrityError: The candidate's weights changed since registration.
    """
    params = params or get_params()
    with session_scope() as session:
        was_registered = model_store.find_model_for_run(session=session, run_id=run_id) is not None
    candidate = ensure_registered(run_id)
    if candidate.stage == ModelStage.PRODUCTION:
        raise BadInputError(f"{candidate.name} (#{candidate.id}) is already the production model.")
    try:
        figures, cand_eval = _judge(candidate, params, evaluate_fn)
    except BaseException:
        # A gate that cannot decide (no split, a failed evaluation, changed weights) leaves the registry as it found
        # it: a run it registered just now is not left behind as a candidate nobody chose.
        if not was_registered:
            with session_scope() as session:
                model_store.delete_model(session=session, model_id=candidate.id)
        raise
    return figures, candidate, cand_eval


def _judge(
    candidate: RegisteredModel, params: Params, evaluate_fn: EvaluateFn | None
) -> tuple[GateFigures, dict[str, Any]]:
    """The gate's figures for a registered candidate, and its full evaluation (`run_gate`'s decision)."""
    weights = verify_weights(candidate)
    with session_scope() as session:
        production = model_store.get_production_model(session=session)
    cand_run, prod_run = _get_run(candidate.run_id), _get_run(production.run_id if production else None)
    data_yaml, dataset = _frozen_split(cand_run, prod_run)

    cand_eval = (evaluate_fn or _evaluator(cand_run, params))(weights, data_yaml)
    prod_eval: dict[str, Any] | None = None
    if production is not None:
        prod_weights = verify_weights(production)
        prod_eval = (evaluate_fn or _evaluator(prod_run, params))(prod_weights, data_yaml)
    checks, reasons = decide(cand_eval, prod_eval, params=params.registry)
    figures = GateFigures(
        candidate_model_id=candidate.id,
        candidate_run_id=candidate.run_id,
        production_model_id=production.id if production else None,
        dataset=dataset,
        data_yaml=str(data_yaml),
        passed=not reasons,
        reasons=reasons,
        classes=checks,
        candidate=summary(cand_eval),
        production=summary(prod_eval) if prod_eval is not None else {},
        max_ap50_drop=params.registry.max_ap50_drop,
        latency_budget_ms=params.registry.latency_budget_ms,
    )
    return figures, cand_eval


def promote_run(
    run_id: int,
    *,
    actor: Actor,
    reason: str = "",
    evaluate_fn: EvaluateFn | None = None,
    export: bool | None = None,
) -> GateFigures:
    """Run the gate and, when it passes (or a written reason overrides a block), make the run's model production.

    Args:
        run_id: The candidate's training run.
        reason: Why the user promotes; required to override a block, kept in the model history either way.
        actor: Who promotes (the console user, or the shell user on the command line); needs `promote`.
        evaluate_fn: Evaluation override (tests); default the real evaluation on CPU.
        export: Export the ONNX model on promotion; default `registry.export_onnx` in params.yaml.

    Returns:
        The gate's figures; `promoted` says whether the model is now in production.

    Raises:
        NotFoundError: No such run.
        BadInputError: Bad input (see `run_gate`); WeightsIntegrityError for a changed weights file.
    """
    authorize(actor, Permission.PROMOTE, f"promote run {run_id}")
    reason = require_within(TextKind.PROMOTION_REASON, reason.strip())
    params = get_params()
    figures, candidate, evaluation = run_gate(run_id, evaluate_fn=evaluate_fn, params=params)
    if not figures.passed and not reason:
        with session_scope() as session:
            model_store.add_event(
                session=session,
                action="blocked",
                model_id=candidate.id,
                previous_model_id=figures.production_model_id,
                actor=_who(actor),
                figures=figures.to_dict(),
            )
        return figures
    figures.overridden = not figures.passed
    figures.promoted = True
    thresholds = evaluation.get("class_thresholds") or candidate.class_thresholds or {}
    with session_scope() as session:
        model_store.update_model(
            session=session, model_id=candidate.id, class_thresholds=dict(thresholds), metrics=figures.candidate
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
    with session_scope() as session:
        updated = model_store.update_model(
            session=session, model_id=model.id, onnx_path=str(Path(out).resolve()), onnx_sha256=file_sha256(out)
        )
        model_store.add_event(
            session=session,
            action="exported",
            model_id=model.id,
            actor=_who(actor),
            figures={"onnx": str(out), "imgsz": size},
        )
    return updated


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
