"""Who may see a run: the one access decision behind every surface.

A run belongs to the project that started it. A `project` run is visible to every
principal of that project; a `private` run only to its starter and to the project's
`workflow_superadmin`s. A project API key is a principal of its project like a user
without permissions: it sees project runs and the runs it started itself, never a user's
private run. Anything not visible answers exactly as a run that does not exist (404,
never 403), so a caller cannot probe for other people's runs.

Event triggers and resume steps belong to a run and inherit its visibility.

A principal from a stream token (`Principal.run_scope`) reaches its one run and nothing
else: any other run answers 404 here, as one it may not see.
"""

from __future__ import annotations

from dataclasses import dataclass

from signalway import search_attributes as sa
from signalway.gateway.adapters.temporal import Description, RunFacts
from signalway.gateway.adapters.visibility import all_of, equals
from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.errors import WorkflowNotFound


@dataclass(frozen=True)
class VisibleRun:
    """A run the caller may see."""

    workflow_id: str
    run_id: str
    facts: RunFacts
    is_running: bool | None  # when it was just read; None when the facts came from a cache


def can_see(who: Principal, facts: RunFacts) -> bool:
    if facts.project != who.project:
        return False
    if facts.visibility == "private":
        return who.is_superadmin or facts.initiated_by == who.initiated_by
    return True


def in_scope(who: Principal, workflow_id: str | None, run_id: str | None) -> bool:
    """Whether a stream token's principal may reach this run (any other principal may try any run)."""
    if who.run_scope is None:
        return True
    scoped_workflow, scoped_run = who.run_scope
    return run_id is not None and run_id.lower() == scoped_run and workflow_id in (None, scoped_workflow)


def not_found(workflow_id: str | None, run_id: str | None = None) -> WorkflowNotFound:
    """The one answer for a run that does not exist and for one the caller may not see."""
    if workflow_id is None:
        return WorkflowNotFound(f"Run {run_id} was not found.")
    if run_id is None:
        return WorkflowNotFound(f"Workflow {workflow_id} was not found.")
    return WorkflowNotFound(f"Run {run_id} of workflow {workflow_id} was not found.")


async def run(svc: Services, who: Principal, workflow_id: str, run_id: str) -> VisibleRun:
    """A run by its ids, from the per-gateway facts cache when it can (the signal hot path)."""
    if not in_scope(who, workflow_id, run_id):
        raise not_found(workflow_id, run_id)
    try:
        facts, is_running = await svc.temporal.run_facts(workflow_id, run_id)
    except WorkflowNotFound:
        raise not_found(workflow_id, run_id) from None
    if not can_see(who, facts):
        raise not_found(workflow_id, run_id)
    return VisibleRun(workflow_id, run_id, facts, is_running)


async def describe(svc: Services, who: Principal, workflow_id: str, run_id: str | None = None) -> Description:
    """A full description of a run the caller may see (the latest run when `run_id` is None)."""
    if not in_scope(who, workflow_id, run_id):
        raise not_found(workflow_id, run_id)
    try:
        desc = await svc.temporal.describe(workflow_id, run_id=run_id)
    except WorkflowNotFound:
        raise not_found(workflow_id, run_id) from None
    if not can_see(who, svc.temporal.facts_of(desc)):
        raise not_found(workflow_id, run_id)
    return desc


async def locate(svc: Services, who: Principal, run_id: str) -> VisibleRun:
    """A run named by its run id alone: this gateway's memory, then Redis (every start through
    Signalway indexes its run there), then one visibility lookup for runs started elsewhere.

    An id found nowhere is remembered as missing for a few seconds, so a caller repeating an
    unknown id gets its 404 at once instead of a visibility query each time.
    """
    if not in_scope(who, None, run_id):
        raise not_found(None, run_id)
    found = svc.temporal.cached_run(run_id)
    if found is None and svc.temporal.known_missing(run_id):
        raise not_found(None, run_id)
    if found is None:
        found = await svc.redis.indexed_run(run_id)
    if found is None:
        found = await svc.temporal.find_run(run_id, project=who.project)
        if found is None:
            svc.temporal.remember_missing(run_id)
            raise not_found(None, run_id)
        await svc.redis.index_run(run_id, *found)
    if not can_see(who, found[1]) or not in_scope(who, found[0], run_id):
        raise not_found(None, run_id)
    svc.temporal.remember_run(run_id, *found)
    return VisibleRun(found[0], run_id, found[1], None)


async def owns(svc: Services, who: Principal, workflow_id: str | None, run_id: str | None) -> bool:
    """Whether the caller may see what belongs to this run (a trigger, a resume step).

    Nothing run-bound (a job trigger) is visible to its whole project. A run that no
    longer exists in Temporal leaves only project-level facts behind: visible to the project.
    """
    if who.run_scope is not None:
        # A stream token's principal: its own run's belongings, nothing project-wide.
        if not workflow_id or not in_scope(who, workflow_id, run_id):
            return False
    if not workflow_id or not run_id:
        return True
    try:
        facts, _ = await svc.temporal.run_facts(workflow_id, run_id)
    except WorkflowNotFound:
        return True
    return can_see(who, facts)


def scope(who: Principal, *, conversations: bool = False, unattributed_project: str | None = None) -> str:
    """The visibility-query clause of what the caller may list.

    With `unattributed_project` (SIGNALWAY_UNATTRIBUTED_RUNS_PROJECT) and a caller of that
    project, runs without Signalway's attributes (started elsewhere) are in it too, as
    project-visible runs, as `can_see` decides for one such run.
    """
    unattributed = unattributed_project is not None and who.project == unattributed_project
    project = equals(sa.PROJECT, who.project)
    clauses = [f"{project} OR {sa.PROJECT.name} IS NULL" if unattributed else project]
    if not who.is_superadmin:
        visible = f"{equals(sa.VISIBILITY, 'project')} OR {equals(sa.INITIATED_BY, who.initiated_by)}"
        clauses.append(f"{visible} OR {sa.VISIBILITY.name} IS NULL" if unattributed else visible)
    if conversations:
        clauses.append(f"{sa.INTERACTION.name} IS NOT NULL")
    if who.run_scope is not None:
        clauses += [equals("WorkflowId", who.run_scope[0]), equals("RunId", who.run_scope[1])]
    return all_of(*clauses)
