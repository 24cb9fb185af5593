"""The model in shadow: which candidate answers live Detect traffic in the background, and how far it agrees.

A candidate (a registered model that is not production, or a finished run's weights) is put in shadow from the
Models page; from then on `backend.serving.shadow` has it answer every logged Detect picture after the end user's
answer, and logs its answers apart (`shadow_predictions`). One model is in shadow at a time: putting another in
replaces it, taking it out stops it. Both are checked with `authorize` (the promotion right) and kept in the
registry's audit trail as `shadow_on` / `shadow_off` events, which are also where the choice is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from backend.core.access import Actor, Permission
from backend.core.enums import ModelStage, RunStatus
from backend.core.errors import BadInputError, NotFoundError, cap_message
from backend.core.settings import get_settings
from backend.registry.agreement import Agreement, agreement
from backend.serving.service import forget_shadow_choice
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store import shadow as shadow_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import ModelEvent

MAX_PAIRS = 2000  # the newest pictures compared; older shadow answers stay in the store


@dataclass(frozen=True)
class ShadowChoice:
    """The model in shadow.

    Attributes:
        model_id: Its registry id, or None for a run's weights.
        run_id: The run it came from, when known.
        name: The model's or run's name.
        log_label: How its answers are labelled in `shadow_predictions` (`ServingModel.log_label`).
        since: When it was put in shadow.
        actor: Who put it there.
    """

    model_id: int | None
    run_id: int | None
    name: str
    log_label: str
    since: datetime
    actor: str


def current_shadow() -> ShadowChoice | None:
    """The model in shadow now, or None."""
    with session_scope() as session:
        event = shadow_store.current_shadow(session=session)
    return _choice(event) if event is not None else None


def _choice(event: ModelEvent) -> ShadowChoice:
    figures = event.figures
    run_id = figures.get("run_id")
    return ShadowChoice(
        model_id=event.model_id,
        run_id=run_id if isinstance(run_id, int) else None,
        name=str(figures.get("name", "")),
        log_label=str(figures.get("log_label", "")),
        since=event.created_at,
        actor=event.actor,
    )


def put_in_shadow(*, actor: Actor, run_id: int, reason: str = "") -> ShadowChoice:
    """Have a candidate answer live Detect traffic in the background (replacing any model in shadow).

    Args:
        actor: The acting user; needs the promotion right.
        run_id: The finished run whose model goes in shadow: its registered model when it has one, else its weights.
        reason: Why, for the audit trail.

    Returns:
        The model now in shadow.

    Raises:
        AccessDeniedError: The actor may not promote (the refusal is in the audit trail).
        NotFoundError: No such run.
        BadInputError: The run is production, did not finish, or has no weights in the runs folder.
    """
    authorize(actor, Permission.PROMOTE, f"shadow run {run_id}")
    with session_scope() as session:
        run = run_store.get_run(session=session, run_id=run_id)
        model = model_store.find_model_for_run(session=session, run_id=run_id)
        previous = shadow_store.current_shadow(session=session)
    if model is not None and model.stage == ModelStage.PRODUCTION:
        raise BadInputError(f"{run.name} is the production model; only a candidate can answer in shadow.")
    if run.status != RunStatus.SUCCEEDED or not run.weights_path:
        raise BadInputError(f"Run {run.name} (#{run.id}) is {run.status}; only a finished run can answer in shadow.")
    weights = Path(run.weights_path).resolve()
    if model is None and (not weights.is_file() or not weights.is_relative_to(get_settings().runs_dir.resolve())):
        raise BadInputError(f"Run {run.name} has no weights in the workspace runs folder.")
    name = model.name if model is not None else run.name
    log_label = f"model {model.id}: {name}" if model is not None else f"run {run.id}: {name}"
    with session_scope() as session:
        if previous is not None:
            model_store.add_event(
                session=session,
                action=shadow_store.SHADOW_OFF,
                model_id=previous.model_id,
                actor=actor.name,
                reason=cap_message(f"replaced by {name}", 200),
                figures=previous.figures,
            )
        event = model_store.add_event(
            session=session,
            action=shadow_store.SHADOW_ON,
            model_id=model.id if model is not None else None,
            actor=actor.name,
            reason=cap_message(reason, 2000),
            figures={"run_id": run.id, "name": name, "log_label": log_label},
        )
    forget_shadow_choice()
    return _choice(event)


def take_out_of_shadow(*, actor: Actor, reason: str = "") -> None:
    """Stop the model in shadow; its logged answers stay.

    Raises:
        AccessDeniedError: The actor may not promote.
        BadInputError: No model is in shadow.
    """
    authorize(actor, Permission.PROMOTE, "shadow off")
    with session_scope() as session:
        previous = shadow_store.current_shadow(session=session)
        if previous is None:
            raise BadInputError("No model is in shadow.")
        model_store.add_event(
            session=session,
            action=shadow_store.SHADOW_OFF,
            model_id=previous.model_id,
            actor=actor.name,
            reason=cap_message(reason, 2000),
            figures=previous.figures,
        )
    forget_shadow_choice()


def shadow_agreement(choice: ShadowChoice | None = None, *, worst: int = 8) -> Agreement | None:
    """The agreement of the model in shadow (or `choice`) with production on the newest pictures both answered.

    Returns:
        None when no model is in shadow.
    """
    choice = choice or current_shadow()
    if choice is None:
        return None
    if not choice.log_label:
        raise NotFoundError("The shadow entry of the audit trail names no model.")
    with session_scope() as session:
        pairs = shadow_store.shadow_pairs(session=session, model_label=choice.log_label, limit=MAX_PAIRS)
    return agreement(pairs, worst=worst)
