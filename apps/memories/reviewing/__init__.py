"""Memories in the review queue: proposals, agents' edits, conflicts and promotions.

The queue (apps.reviews) is generic; this package is the memory kinds' handler
(`kind.MemoryReview`, registered from MemoriesConfig.ready()), how memory writes open and
close requests (`intake`), promotions (`promotion`), the decision page's panels (`panels`) and
the demo queue (`demo`). Import the modules, not this package: intake is imported by the memory
services, which the handler itself imports.
"""
