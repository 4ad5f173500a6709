"""Help texts that show each option's default, without noise for options that have none."""

from __future__ import annotations

import argparse


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless it has no meaningful default
    (None, a flag's False) or the help already states it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text.lower() or default is None
                or default is argparse.SUPPRESS or isinstance(default, bool)
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"
