"""The evaluation set: one frozen, versioned image set per task that the promotion gate always judges on.

The team chooses it on the Models page (a dataset version's val split, or its test split when it has one); until
then it is, by default, the production model's validation split, recorded at its first promotion. Dataset versions
are immutable, so a set is frozen by naming one. It grows only through reviewed, versioned edits: a new version of
the set is made by an explicit action, checked and audited through `store.audit.authorize` (scientists and admins),
that adopts a newer version of the same dataset descending from the current one (the Annotate page's edits make
them), with a written reason. The set's history keeps who chose or adopted what, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.core.access import Actor, Permission
from backend.core.enums import DetectionTask, EvalSetAction, EvalSplit
from backend.core.errors import BadInputError
from backend.core.limits import TextKind, require_within
from backend.store import datasets as dataset_store
from backend.store import eval_sets as eval_set_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion, EvalSet
from backend.training.matching import EvalImages, load_eval_images

TASK = DetectionTask.FOOD  # this console's one task
DEFAULT_REASON = "default: the production model's validation split at its first promotion"


@dataclass(frozen=True)
class EvalSetSpec:
    """A split of a dataset version as an evaluation set, recorded or about to be.

    Attributes:
        name: E.g. "demo-food v1 val".
        dataset_version_id: The frozen dataset version.
        split: Which of its splits.
        images: Images in the split.
        instances: Ground-truth boxes in it.
        class_names: The dataset's class names.
        class_instances: Boxes per class.
        number: The set's version (0 while not recorded).
    """

    name: str
    dataset_version_id: int
    split: str
    images: int
    instances: int
    class_names: tuple[str, ...]
    class_instances: dict[str, int]
    number: int = 0

    @property
    def label(self) -> str:
        """E.g. "eval set 'demo-food v1 val' (80 images, 412 boxes)", as figures and reasons name their basis."""
        return f"eval set '{self.name}' ({self.images} images, {self.instances} boxes)"

    @classmethod
    def of(cls, record: EvalSet) -> EvalSetSpec:
        """The spec of a recorded set."""
        return cls(
            name=record.name,
            dataset_version_id=record.dataset_version_id,
            split=record.split,
            images=record.images,
            instances=record.instances,
            class_names=tuple(str(n) for n in record.class_names),
            class_instances={str(k): int(v) for k, v in record.class_instances.items()},
            number=record.number,
        )


def _version(version_id: int) -> tuple[DatasetVersion, str]:
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
        dataset = dataset_store.get_dataset(session=session, dataset_id=version.dataset_id)
    return version, dataset.name


def available_splits(version: DatasetVersion) -> list[EvalSplit]:
    """The splits of a version an evaluation set can be made of: test (when it has one) and val."""
    counts = version.counts
    return [split for split, n in ((EvalSplit.TEST, counts.test), (EvalSplit.VAL, counts.val)) if n]


def describe_split(version_id: int, split: str = EvalSplit.VAL) -> tuple[EvalSetSpec, EvalImages]:
    """Read a dataset version's split as an evaluation set: its name, size and class counts, and its images.

    Raises:
        NotFoundError: No such version.
        BadInputError: Not val or test, or the split has no image on disk.
    """
    try:
        split = EvalSplit(split)
    except ValueError as exc:
        raise BadInputError(f"An evaluation set is a val or test split, not '{split}'.") from exc
    version, dataset_name = _version(version_id)
    images = load_eval_images(Path(version.data_yaml), split)
    spec = EvalSetSpec(
        name=f"{dataset_name} {version.label} {split}",
        dataset_version_id=version.id,
        split=str(split),
        images=len(images.images),
        instances=images.instances,
        class_names=images.classes,
        class_instances=images.instances_per_class(),
    )
    return spec, images


def open_eval_set(spec: EvalSetSpec) -> EvalImages:
    """The images of an evaluation set, checked to be the ones it was recorded with.

    Raises:
        BadInputError: The files changed since the set was recorded (a frozen set never changes), or are gone.
    """
    now, images = describe_split(spec.dataset_version_id, spec.split)
    if (now.images, now.instances, now.class_names) != (spec.images, spec.instances, spec.class_names):
        raise BadInputError(
            f"The files of {spec.label} changed since it was recorded (now {now.images} images, {now.instances} "
            "boxes); a frozen evaluation set never changes. Restore the dataset version, or adopt a new version."
        )
    return images


def current_eval_set() -> EvalSet | None:
    """The evaluation set the gate uses now, or None before the first promotion or choice."""
    with session_scope() as session:
        return eval_set_store.current_eval_set(session=session, task=TASK)


def eval_set_history() -> list[EvalSet]:
    """Every version of the evaluation set, newest first (who, when, why)."""
    with session_scope() as session:
        return eval_set_store.eval_set_history(session=session, task=TASK)


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise BadInputError("Write why: the evaluation set's history keeps the reason for every version.")
    return require_within(TextKind.EVAL_SET_REASON, reason)


def _record(spec: EvalSetSpec, *, action: EvalSetAction, actor: str, reason: str) -> EvalSet:
    with session_scope() as session:
        return eval_set_store.add_eval_set_version(
            session=session,
            task=TASK,
            name=spec.name,
            dataset_version_id=spec.dataset_version_id,
            split=EvalSplit(spec.split),
            images=spec.images,
            instances=spec.instances,
            class_names=spec.class_names,
            class_instances=spec.class_instances,
            action=action,
            actor=actor,
            reason=reason,
        )


def choose_eval_set(version_id: int, split: str | None = None, *, actor: Actor, reason: str) -> EvalSet:
    """Make a dataset version's split the evaluation set (the team's choice on the Models page).

    Args:
        version_id: The dataset version.
        split: "test" or "val"; default its test split when it has one, else val.
        actor: Who chooses; needs `choose_eval_set` (scientists and admins).
        reason: Why; required, kept in the set's history.

    Returns:
        The new version of the set.

    Raises:
        AccessDeniedError: The actor may not choose it.
        NotFoundError: No such version.
        BadInputError: No reason, or the split has no image.
    """
    authorize(actor, Permission.CHOOSE_EVAL_SET, f"choose dataset version {version_id} as the evaluation set")
    reason = _reason(reason)
    version, _ = _version(version_id)
    if split is None:
        split = (available_splits(version) or [EvalSplit.VAL])[0]
    spec, _ = describe_split(version_id, split)
    return _record(spec, action=EvalSetAction.CHOSEN, actor=actor.name, reason=reason)


def _descends_from(version: DatasetVersion, ancestor_id: int) -> bool:
    """True when `ancestor_id` is on the chain of parents of `version` (edits record their base as parent)."""
    seen: set[int] = set()
    parent = version.parent_id
    with session_scope() as session:
        while parent is not None and parent not in seen:
            if parent == ancestor_id:
                return True
            seen.add(parent)
            parent = dataset_store.get_version(session=session, version_id=parent).parent_id
    return False


def adoptable_versions() -> list[DatasetVersion]:
    """Newer versions of the current set's dataset made by edits of it: what `adopt_eval_set_version` accepts."""
    current = current_eval_set()
    if current is None:
        return []
    base, _ = _version(current.dataset_version_id)
    with session_scope() as session:
        versions = dataset_store.list_versions(session=session, dataset_id=base.dataset_id)
    return [v for v in versions if v.number > base.number and _descends_from(v, base.id)]


def adopt_eval_set_version(version_id: int, *, actor: Actor, reason: str) -> EvalSet:
    """Make a new version of the evaluation set from a newer, edited version of the same dataset (same split).

    Args:
        version_id: The newer dataset version (it must descend, through edits, from the set's current one).
        actor: Who adopts; needs `choose_eval_set` (scientists and admins).
        reason: Why; required, kept in the set's history.

    Returns:
        The new version of the set.

    Raises:
        AccessDeniedError: The actor may not adopt it.
        NotFoundError: No such version.
        BadInputError: No set yet, no reason, another dataset, not newer, or not an edit of the set's version.
    """
    authorize(actor, Permission.CHOOSE_EVAL_SET, f"adopt dataset version {version_id} into the evaluation set")
    reason = _reason(reason)
    current = current_eval_set()
    if current is None:
        raise BadInputError("There is no evaluation set yet to adopt a version into; choose one first.")
    base, dataset_name = _version(current.dataset_version_id)
    version, other_name = _version(version_id)
    if version.dataset_id != base.dataset_id:
        raise BadInputError(
            f"The evaluation set is made of {dataset_name}; {other_name} {version.label} is another dataset. "
            "Choose a new evaluation set instead."
        )
    if version.number <= base.number or not _descends_from(version, base.id):
        raise BadInputError(
            f"{dataset_name} {version.label} is not a newer edit of {base.label} (the set's version); only edits "
            "made from it can grow the evaluation set."
        )
    spec, _ = describe_split(version_id, current.split)
    return _record(spec, action=EvalSetAction.ADOPTED, actor=actor.name, reason=reason)


def record_default_eval_set(spec: EvalSetSpec, *, actor: Actor) -> EvalSet:
    """Record the default set (the production model's validation split) at its first promotion.

    Called by the promotion, which already authorised the actor to promote; the history names them.
    """
    return _record(spec, action=EvalSetAction.DEFAULT, actor=actor.name, reason=DEFAULT_REASON)
