"""Publish: which marts a build rebuilt, and write-audit-publish of them as a snapshot readers query."""
