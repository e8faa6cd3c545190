"""One module per step kind; `workflows.engine.registry` discovers them (a new kind is a new
module here with a `StepKindSpec` subclass, plus its `StepKind` value)."""
