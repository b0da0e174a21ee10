"""The demo gives the console retrieval history to show, once."""

from __future__ import annotations

from apps.core.demo import seed_demo
from apps.memories.models import ContextAssembly, ContextAssemblyItem, MemoryItem


def test_demo_seeds_retrieval_history_once(db):
    seed_demo(month_days=0)  # the month's history: tests/core/test_demo_month.py
    assemblies = ContextAssembly.objects.count()
    seed_demo(month_days=0)  # a second run adds nothing

    assert ContextAssembly.objects.count() == assemblies
    acme = ContextAssembly.objects.filter(workspace__slug="acme")
    assert acme.filter(trace_id="demo-trace-001").exists()
    assert ContextAssemblyItem.objects.filter(assembly__workspace__slug="acme").exists()
    assert MemoryItem.objects.filter(workspace__slug="acme", usage__retrieval_count__gt=0).exists()
