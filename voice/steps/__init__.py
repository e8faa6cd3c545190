"""Voice step kinds (`workflows.models.StepKind`), registered with the engine's step kind
registry by `voice.apps.VoiceConfig.ready`: one module each."""
