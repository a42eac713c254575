"""Offline HTML reports: the page registry, charts, the observability page and the insights page."""
