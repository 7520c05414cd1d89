"""Property-based tests: random operation sequences checked against an independent model."""

from hypothesis import settings

from allocator_model import AllocatorMachine

TestMemoryBackend = AllocatorMachine.TestCase
TestMemoryBackend.settings = settings(stateful_step_count=60, deadline=None)
