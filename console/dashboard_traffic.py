"""Traffic cards and charts, read from the hourly rollup (``console.models.TrafficHour``) only."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Sum

from accounts.admin_scope import Area
from console.dashboard_scope import DashboardScope, table
from console.models import TrafficHour
from console.rollups import HOUR, hour_start
from messaging.models import Channel, Direction, MessageStatus

CHART_HOURS = 48
CHART_CHANNELS = 8  # the busiest channels get a line each; the rest share one
FAILURE_DAYS = 7
FAILURE_CODES = 10
OTHER_CHANNELS = "Other channels"


def traffic_section(scope: DashboardScope, *, now: datetime) -> dict[str, Any]:
    """Messages in and out per channel and hour for the last ``CHART_HOURS`` hours, and failures by error code."""
    if not scope.sees(Area.CONVERSATIONS):
        return {"visible": False}
    hours = [hour_start(now) - HOUR * step for step in reversed(range(CHART_HOURS))]
    recent = scope.filter(TrafficHour.objects.filter(hour__gte=hours[0]), Area.CONVERSATIONS)
    per_hour = recent.values_list("hour", "channel_id", "direction").annotate(total=Sum("count")).order_by()
    series: dict[str, dict[uuid.UUID, dict[datetime, int]]] = {direction: defaultdict(dict) for direction in Direction}
    for hour, channel_id, direction, total in per_hour:
        series[direction][channel_id][hour] = total
    names = _channel_names({channel for by_channel in series.values() for channel in by_channel})
    day_start = hours[-24]
    return {
        "visible": True,
        "inbound_chart": _chart(hours, series[Direction.INBOUND], names),
        "outbound_chart": _chart(hours, series[Direction.OUTBOUND], names),
        "inbound_24h": _total_since(series[Direction.INBOUND], day_start),
        "outbound_24h": _total_since(series[Direction.OUTBOUND], day_start),
        "failures": _failures(scope, since=hour_start(now) - timedelta(days=FAILURE_DAYS)),
    }


def _failures(scope: DashboardScope, *, since: datetime) -> dict[str, Any]:
    failed = TrafficHour.objects.filter(hour__gte=since, status=MessageStatus.FAILED)
    by_code = (
        scope.filter(failed, Area.CONVERSATIONS)
        .values_list("failure_code")
        .annotate(total=Sum("count"))
        .order_by("-total")[:FAILURE_CODES]
    )
    rows = [("none" if code is None else str(code), total) for code, total in by_code]
    dataset = {"label": "Failed sends", "data": [total for _, total in rows]}
    chart = {"labels": [code for code, _ in rows], "datasets": [dataset]}
    return {
        "table": table(["Meta error code", f"Failed sends, last {FAILURE_DAYS} days"], [list(row) for row in rows]),
        "chart": json.dumps(chart),
        "total": sum(total for _, total in rows),
    }


def _chart(hours: list[datetime], by_channel: dict[uuid.UUID, dict[datetime, int]], names: dict[uuid.UUID, str]) -> str:
    busiest = sorted(by_channel, key=lambda channel: -sum(by_channel[channel].values()))
    datasets = [
        {"label": names.get(channel, str(channel)), "data": [by_channel[channel].get(hour, 0) for hour in hours]}
        for channel in busiest[:CHART_CHANNELS]
    ]
    rest = busiest[CHART_CHANNELS:]
    if rest:
        data = [sum(by_channel[channel].get(hour, 0) for channel in rest) for hour in hours]
        datasets.append({"label": OTHER_CHANNELS, "data": data})
    return json.dumps({"labels": [f"{hour:%d %H}h" for hour in hours], "datasets": datasets})


def _total_since(by_channel: dict[uuid.UUID, dict[datetime, int]], since: datetime) -> int:
    return sum(total for by_hour in by_channel.values() for hour, total in by_hour.items() if hour >= since)


def _channel_names(channel_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not channel_ids:
        return {}
    return {channel.pk: str(channel) for channel in Channel.objects.filter(pk__in=channel_ids)}
