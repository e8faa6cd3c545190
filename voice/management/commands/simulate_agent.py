"""`manage.py simulate_agent <agent> [--workspace slug] [--say "..."]…`: talk to a voice agent
from a script, through the same code path as a live call (minus Twilio)."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from twilioflow.core.redaction import redact_data
from voice.models import VoiceAgent
from voice.simulator import simulation_say, simulation_start, simulation_wait


class Command(BaseCommand):
    help = "Simulate a call to a voice agent: each --say is what the caller says (digits, * and # are keys)."

    def add_arguments(self, parser):
        parser.add_argument("agent")
        parser.add_argument("--workspace", help="The workspace's slug (needed when two have this agent).")
        parser.add_argument("--say", action="append", default=[], help="What the caller says (repeatable).")
        parser.add_argument("--confidence", type=float, default=1.0)

    def handle(self, *args, **options):
        agents = VoiceAgent.objects.filter(name=options["agent"])
        if options["workspace"]:
            agents = agents.filter(workspace__slug=options["workspace"])
        if agents.count() != 1:
            raise CommandError(f"{agents.count()} voice agents match; name one (and --workspace).")
        heard = simulation_start(agents.get())
        self.stdout.write(f"agent: {heard.said}")
        for text in options["say"]:
            if heard.ended:
                break
            self.stdout.write(f"caller: {text}")
            heard = simulation_say(heard.session, text, confidence=options["confidence"])
            for _ in range(30):  # a slow model: come back like Twilio's redirect would
                last = heard.session.call_turns.order_by("-index").first()
                if heard.ended or (last is not None and "<Gather" in last.twiml):
                    break
                time.sleep(0.3)
                heard = simulation_wait(heard.session)
            self.stdout.write(f"agent: {heard.said}")
        state = {k: v for k, v in heard.state.items() if k in ("answers", "end_reason", "question", "turns")}
        self.stdout.write(json.dumps(redact_data({"ended": heard.ended, **state}), indent=2, default=str))
