from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "voice"
    label = "voice"
    verbose_name = "Voice: live calls and voice agents"

    def ready(self) -> None:
        import voice.steps
        from triggers.kinds.call_status import call_status_listen
        from triggers.kinds.incoming_call import live_call_answerer_set
        from voice.editors import voice_editors_register
        from voice.live import call_answer_first, call_status
        from voice.outbound import make_call_extend
        from voice.transfer import voice_transfer_register
        from workflows.engine.registry import step_kind_package_add

        # Voice step kinds need call sessions (this app), so they register from here.
        step_kind_package_add(voice.steps)
        voice_editors_register()
        live_call_answerer_set(call_answer_first)
        call_status_listen(call_status)
        make_call_extend()
        voice_transfer_register()
