"""The triggers' public services, by what they are about (this module only re-exports them):

* `triggers.events` — receiving a signed request: store, dedupe, fan out, answer
  (`webhook_receive`, `event_receive`, `trigger_matches`);
* `triggers.continuations` — a follow-up request for a run a trigger started (`run_continue`);
* `triggers.validation` — whether a trigger can be saved (`trigger_problems`);
* `triggers.kinds.<kind>` — what each kind does on receipt and answers;
* `workflows.inbound` — resuming waiting runs and delivery tracking (workflow services).
"""

from triggers.continuations import run_continue as run_continue
from triggers.events import event_receive as event_receive
from triggers.events import trigger_matches as trigger_matches
from triggers.events import webhook_receive as webhook_receive
from triggers.kinds.base import Answer as Answer
from triggers.validation import trigger_problems as trigger_problems
