"""`voice_agent`: a workspace's `VoiceAgent` talks with the caller, question by question,
on the live call. Inputs: agent (its name). The step stays at the cursor for the whole
conversation (parked in the database between turns; its progress is in the call session).
Output: answers (typed, by question id), heard, completed, end_reason."""

from __future__ import annotations

from datetime import timedelta

from twilioflow.core import clock, errors
from twilioflow.core.errors import TwilioFlowError
from voice.agents.conversation import agent_spec, conversation_start, conversation_turn, outcome, reply_verbs
from voice.agents.llm_conversation import (
    LlmStep,
    llm_gather,
    llm_give_up,
    llm_late_reply,
    llm_start,
    llm_turn,
)
from voice.agents.questions import Reply
from voice.live import caller_input_take, session_write, verbs_add
from voice.models import AgentType, CallSession, SessionState, VoiceAgent
from voice.stepping import (
    CALLER_GRACE_SECONDS,
    AwaitingStep,
    required_problems,
    session_required,
    text_input,
)
from workflows.engine.attempts import close
from workflows.engine.context import record_output
from workflows.engine.outcomes import Advance, Outcome, Park
from workflows.models import Run, Step, StepKind, StepStatus, WaitingFor


def _agent(run: Run, step: Step) -> VoiceAgent:
    name = str(text_input(run, step, "agent"))
    agent = VoiceAgent.objects.filter(workspace_id=run.workspace_id, name=name).first()
    if agent is None:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR,
            f"agent: no voice agent {name!r} in this workspace.",
            fields={"agent": ["Name a voice agent of this workspace."]},
        )
    return agent


class VoiceAgentStep(AwaitingStep):
    kind = StepKind.VOICE_AGENT
    title = "Voice agent"

    def input_problems(self, inputs):
        return required_problems(inputs, "agent")

    def begin(self, run: Run, step: Step, session: CallSession, step_run) -> Outcome:
        agent = _agent(run, step)
        state = {"step": step.name, "sequence": run.sequence + 1, "agent": agent.name}
        reply = (
            llm_start(agent, state) if agent.agent_type == AgentType.LLM else conversation_start(agent, state)
        )
        step_run.inputs = {"agent": agent.name}
        step_run.save(update_fields=["inputs"])
        return self._say(run, step, session, agent, state, reply, step_run)

    def _say(self, run, step, session: CallSession, agent, state, reply, step_run) -> Outcome:
        if agent.agent_type == AgentType.LLM:
            said, _ = reply_verbs(agent, None, Reply(say=reply.say, ended=True))
            ask = llm_gather(agent) if reply.ask and not reply.ended else None
        else:
            said, ask = reply_verbs(agent, agent_spec(agent), reply)
        awaiting = None if ask is None else {"step": step.name, "sequence": run.sequence + 1, "verb": ask}
        session_write(session, verbs=said, agent_state=state, awaiting=awaiting)
        if ask is None:
            output = record_output(run, step, outcome(state))
            close(step_run, StepStatus.SUCCEEDED, output=output)
            return Advance()
        step_run.retry_at = clock.now() + timedelta(seconds=int(ask.get("timeout", 5)) + CALLER_GRACE_SECONDS)
        step_run.save(update_fields=["retry_at"])
        return Park(WaitingFor.CALL, step_run.retry_at)

    def _resume(self, run: Run, step: Step, waiting) -> Outcome:
        session = session_required(run)
        agent = _agent(run, step)
        state = dict(session.agent_state)
        given = caller_input_take(session, sequence=run.sequence + 1)
        if agent.agent_type == AgentType.LLM:
            return self._resume_llm(run, step, waiting, session, agent, state, given)
        if given is None:
            if session.state == SessionState.LIVE and waiting.retry_at and waiting.retry_at > clock.now():
                return Park(WaitingFor.CALL, waiting.retry_at)
            state.update(ended=True, end_reason="hangup" if session.state != SessionState.LIVE else "timeout")
            CallSession.objects.filter(pk=session.pk).update(agent_state=state, awaiting={})
            output = record_output(run, step, outcome(state))
            close(waiting, StepStatus.SUCCEEDED, output=output)
            return Advance()
        reply = conversation_turn(agent, state, given)
        return self._say(run, step, session, agent, state, reply, waiting)

    def _resume_llm(self, run, step, waiting, session, agent, state, given) -> Outcome:
        turn: LlmStep | None
        if given is not None:
            turn = llm_turn(agent, state, given, session)
        elif state.get("pending"):
            turn = llm_late_reply(agent, state, session)
            if turn is None:
                if session.state == SessionState.LIVE and waiting.retry_at and waiting.retry_at > clock.now():
                    return Park(WaitingFor.CALL, waiting.retry_at)  # the model still thinks
                turn = LlmStep(llm_give_up(agent, state))
        elif session.state == SessionState.LIVE and waiting.retry_at and waiting.retry_at > clock.now():
            return Park(WaitingFor.CALL, waiting.retry_at)
        else:
            turn = LlmStep(llm_give_up(agent, state))
            state["end_reason"] = "hangup" if session.state != SessionState.LIVE else "timeout"
        if turn.waiting:
            # The filler now; Twilio holds and comes back; the reply wakes the run.
            said, _ = reply_verbs(agent, None, Reply(say=turn.reply.say, ended=True))
            verbs_add(session, *said)
            CallSession.objects.filter(pk=session.pk).update(agent_state=state)
            waiting.retry_at = clock.now() + timedelta(
                seconds=(agent.llm.request_timeout if agent.llm else 20) + 10
            )
            waiting.save(update_fields=["retry_at"])
            return Park(WaitingFor.CALL, waiting.retry_at)
        return self._say(run, step, session, agent, state, turn.reply, waiting)
