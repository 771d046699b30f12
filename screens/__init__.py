"""Screens: layout and widgets only; clinical logic lives in rules/ and observations/."""
