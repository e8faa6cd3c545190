"""Answers heard on a call, typed: numbers from digits or words ("twenty one" → 21, with
`text2num` in the call's language), yes/no from the usual words or keypad 1/2, one of a
question's options by fuzzy match (`rapidfuzz`) or its keypad position. Pure functions of
their input, property-tested: whatever a caller says, they return a value or None, never
raise."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process
from text_to_num import alpha2digit, text2num

TEXT, NUMBER, YES_NO, MULTIPLE_CHOICE = "text", "number", "yes_no", "multiple_choice"
ANSWER_TYPES = (TEXT, NUMBER, YES_NO, MULTIPLE_CHOICE)
# A fuzzy match below this score (0-100) is not taken as the option.
CHOICE_CUTOFF = 70.0
# Words meaning "nothing" where a number is asked ("none", "zero years").
ZERO_WORDS = {"none", "nothing", "zero", "no", "nada", "aucun", "aucune", "keine", "ninguno", "nessuno"}
YES_WORDS = {
    "yes", "yeah", "yep", "yup", "ya", "sure", "certainly", "correct", "right", "absolutely",
    "definitely", "ok", "okay", "affirmative", "agree", "indeed", "please", "of course",
    "i would", "i do", "i am", "i will", "si", "oui", "ja", "sim", "da",
}  # fmt: skip
NO_WORDS = {
    "no", "nope", "nah", "not", "never", "negative", "disagree", "don't", "dont", "won't",
    "wont", "wouldn't", "no thanks", "non", "nein", "nao", "niet",
}  # fmt: skip
_LANGS = {"en", "fr", "es", "de", "it", "pt", "nl"}
_DIGITS = re.compile(r"-?\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class Parsed:
    value: Any  # None: not understood
    text: str  # what was heard or keyed, as given

    @property
    def ok(self) -> bool:
        return self.value is not None


def confidence_of(value: Any) -> float | None:
    """Twilio's `Confidence` (a string 0..1) as a number; None when absent or not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0.0 <= number <= 1.0 else None


def _lang(language: str) -> str:
    code = (language or "en").split("-")[0].lower()
    return code if code in _LANGS else "en"


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.findall(r"[a-z']+|\d+", folded)


def parse_number(text: str, language: str = "en-US") -> int | float | None:
    """The number in `text`: digits as written, else words in the call's language."""
    text = str(text or "")[:500]
    found = _DIGITS.search(text)
    if found is None:
        try:
            found = _DIGITS.search(alpha2digit(text, _lang(language), threshold=0))
        except Exception:
            found = None
    if found is not None:
        value = float(found.group().replace(",", "."))
        return int(value) if value.is_integer() else value
    words = _words(text)
    for size in range(len(words), 0, -1):  # the longest run of number words
        for start in range(len(words) - size + 1):
            try:
                return int(text2num(" ".join(words[start : start + size]), _lang(language)))
            except Exception:  # noqa: S112 - not a number: try a shorter run
                continue
    if words and set(words) <= ZERO_WORDS | {"years", "year", "at", "all"}:
        return 0
    return None


def parse_yes_no(text: str = "", digits: str = "") -> bool | None:
    """True, False, or None when unclear (both, neither). Keypad: 1 yes, 2 no."""
    if digits:
        return {"1": True, "2": False}.get(digits.strip())
    words = _words(str(text or "")[:500])
    joined = " ".join(words)
    yes = any(w in YES_WORDS for w in words) or any(f" {p} " in f" {joined} " for p in YES_WORDS if " " in p)
    no = any(w in NO_WORDS for w in words) or any(f" {p} " in f" {joined} " for p in NO_WORDS if " " in p)
    if yes == no:
        return None
    return yes


def parse_choice(text: str, options: list[str], digits: str = "") -> str | None:
    """The option meant: by keypad position (1 = first), the option named inside the
    answer, or the closest by fuzzy match above CHOICE_CUTOFF."""
    options = [str(o) for o in options if str(o).strip()]
    if not options:
        return None
    if digits:
        key = digits.strip()
        return options[int(key) - 1] if key.isdigit() and 1 <= int(key) <= len(options) else None
    heard = default_process(str(text or "")[:500])
    if not heard:
        return None
    for option in sorted(options, key=len, reverse=True):  # "general inquiry" before "general"
        if default_process(option) and re.search(rf"\b{re.escape(default_process(option))}\b", heard):
            return option
    # A shortened word ("bill" for billing), when it points at one option only.
    stems = [w for w in heard.split() if len(w) >= 4]
    shortened = [
        option
        for option in options
        if any(word.startswith(stem) for word in default_process(option).split() for stem in stems)
    ]
    if len(shortened) == 1:
        return shortened[0]
    best = process.extractOne(heard, options, scorer=fuzz.WRatio, processor=default_process)
    return best[0] if best is not None and best[1] >= CHOICE_CUTOFF else None


def parse_answer(
    answer_type: str,
    *,
    speech: str = "",
    digits: str = "",
    options: list[str] | None = None,
    language: str = "en-US",
) -> Parsed:
    heard = digits or speech or ""
    if answer_type == NUMBER:
        return Parsed(parse_number(digits or speech, language), heard)
    if answer_type == YES_NO:
        return Parsed(parse_yes_no(speech, digits), heard)
    if answer_type == MULTIPLE_CHOICE:
        return Parsed(parse_choice(speech, options or [], digits), heard)
    text = str(speech or digits or "").strip()
    return Parsed(text or None, heard)
