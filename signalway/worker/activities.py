"""The `publishUpdate` activity of `publish_update`: a progress message into the run's updates."""

from __future__ import annotations

from temporalio import activity

from signalway.redis_connect import RedisClient
from signalway.steps.contract import PUBLISH_UPDATE_ACTIVITY, PublishUpdateInput
from signalway.updates import UpdateStore


class UpdateActivities:
    def __init__(self, redis: RedisClient, *, max_per_run: int, ttl_seconds: int) -> None:
        self._updates = UpdateStore(redis, max_per_run=max_per_run, ttl_seconds=ttl_seconds)

    @activity.defn(name=PUBLISH_UPDATE_ACTIVITY)
    async def publish_update(self, input: PublishUpdateInput) -> None:
        await self._updates.publish(
            input.run_id,
            type=input.type,
            message=input.message,
            details=input.details,
            workstream_id=input.workstream_id,
            # The activity id is the same on every attempt: a retry whose first attempt did
            # publish (but did not report back) publishes nothing more.
            key=f"activity:{activity.info().activity_id}",
        )
