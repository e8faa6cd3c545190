"""Executing a run, step by step, so that no crash, retry or redelivery sends twice.

- `loop`: claim, lease, cursor, park, yield, finish (`run_execute` is the entry point);
- `attempts`, `retry`: a step's attempts (StepRun rows) and the retry policy;
- `outcomes`: what a step returns (`Advance`, `Park`, `Finish`, `Repeat`);
- `context`: what templates see; `children`: what for_each and run_workflow share;
- `steps/`: one module per step kind, found by `registry` (a new kind is one new file).

The engine imports `workflows.runs` (create, enqueue, finish, children); `workflows.services`
imports the engine, never the reverse.
"""

from workflows.engine.loop import adhoc_lent, execute_step, run_execute, withheld_inputs
from workflows.engine.outcomes import Advance, Finish, Park
from workflows.engine.retry import INLINE_WAIT_MAX, SLICE_SECONDS
from workflows.engine.steps.branch import compare

__all__ = [
    "INLINE_WAIT_MAX",
    "SLICE_SECONDS",
    "Advance",
    "Finish",
    "Park",
    "adhoc_lent",
    "compare",
    "execute_step",
    "run_execute",
    "withheld_inputs",
]
