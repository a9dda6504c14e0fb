"""Wire-faithful fake OpenAI, Anthropic and Gemini servers with fault knobs.

Real HTTP servers on loopback that speak each provider's own wire format, so the
gateway talks to them exactly as it would to the real providers. Used by the
tests, the benchmarks and ``grove-gateway demo``. Start all three with
``gateway.fakes.run.start_fakes()`` (not re-exported here, so that
``python -m gateway.fakes.run`` runs cleanly).
"""

from gateway.fakes.anthropic_fake import create_anthropic_app
from gateway.fakes.gemini_fake import create_gemini_app
from gateway.fakes.knobs import FakeState, Knobs, RecordedRequest
from gateway.fakes.openai_fake import create_openai_app

__all__ = [
    "FakeState",
    "Knobs",
    "RecordedRequest",
    "create_anthropic_app",
    "create_gemini_app",
    "create_openai_app",
]
