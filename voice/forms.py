"""Admin forms: the LLM API key is write-only (never rendered back, blank keeps it)."""

from __future__ import annotations

from typing import Any

from django import forms

from connections.forms import SecretInput
from twilioflow.core.redaction import mask_secret
from voice.models import LlmConnection


class LlmConnectionForm(forms.ModelForm):
    api_key = forms.CharField(label="API key", required=False, widget=SecretInput())
    base_url = forms.URLField(
        assume_scheme="https", help_text="e.g. https://api.openai.com/v1 (…/chat/completions is added)."
    )

    class Meta:
        model = LlmConnection
        fields = ["workspace", "name", "base_url", "model", "api_key", "request_timeout"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("api_key", None)  # the stored key never travels to the browser
        if self.instance.pk and self.instance.api_key:
            self.fields[
                "api_key"
            ].help_text = f"Stored: {mask_secret(self.instance.api_key)}. Leave blank to keep it."

    def clean_api_key(self) -> str:
        value = (self.cleaned_data.get("api_key") or "").strip()
        return value or (self.instance.api_key or "")


class SimulatorForm(forms.Form):
    say = forms.CharField(
        label="The caller says",
        required=False,
        max_length=500,
        help_text="Words as speech; digits, * and # as keys. Empty: start a new call.",
    )
    session = forms.UUIDField(required=False, widget=forms.HiddenInput)
