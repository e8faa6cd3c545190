"""Choices for workspace fields. Public and stable: migrations reference them by path."""

import zoneinfo

import phonenumbers


def time_zone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def country_choices():
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    return [(r, f"{r} (+{phonenumbers.country_code_for_region(r)})") for r in regions]
