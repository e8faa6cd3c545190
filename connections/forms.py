from typing import Any, cast

from django import forms
from django.db import models

from connections.models import Connection, ConnectionKind

SECRET_FIELDS = ("auth_token", "api_key_secret")


class SecretInput(forms.PasswordInput):
    """Write-only: never renders a stored value back into the page."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False)


class ConnectionAdminForm(forms.ModelForm[Connection]):
    auth_token = forms.CharField(label="Auth Token", required=False, widget=SecretInput())
    api_key_secret = forms.CharField(label="API Key secret", required=False, widget=SecretInput())
    clear_auth_token = forms.BooleanField(
        required=False,
        label="Remove the stored Auth Token",
        help_text="API-key connections only. Inbound webhook triggers stop working without it.",
    )

    class Meta:
        model = Connection
        fields = ["workspace", "name", "kind", "account_sid", "auth_token", "api_key_sid", "api_key_secret"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            self.initial.pop(name, None)  # the stored value never travels to the browser
            stored = getattr(self.instance, name, None)
            field = self.fields[name]
            model_help = cast("models.Field[Any, Any]", Connection._meta.get_field(name)).help_text
            if stored:
                masked = getattr(self.instance, f"{name}_masked")
                field.help_text = f"Stored: {masked}. Leave blank to keep it. {model_help}".strip()
            else:
                field.help_text = model_help

    def _kept(self, name: str) -> str | None:
        value = (self.cleaned_data.get(name) or "").strip()
        return value or getattr(self.instance, name, None)

    def clean_auth_token(self) -> str | None:
        return self._kept("auth_token")

    def clean_api_key_secret(self) -> str | None:
        return self._kept("api_key_secret")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # ModelForm.clean returns cleaned_data
        if cleaned.get("clear_auth_token"):
            if cleaned.get("kind") != ConnectionKind.API_KEY:
                self.add_error("clear_auth_token", "Only an API-key connection can do without it.")
            else:
                cleaned["auth_token"] = None
        return cleaned
