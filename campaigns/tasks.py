"""django-q2 task entry points: thin, by id; the work is in `campaigns.services`."""

from twilioflow.core.redaction import redacted_task


@redacted_task
def campaign_lane_task(campaign_id: int, lane: int) -> str:
    from campaigns.services import campaign_lane_run

    return campaign_lane_run(campaign_id, lane)


@redacted_task
def campaigns_tick_task() -> dict[str, int]:
    from campaigns.services import campaigns_tick

    return campaigns_tick()
