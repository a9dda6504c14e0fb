"""Routing cost: ``extract_features`` + ``Router.decide`` on a synthetic 50-model catalog.

    .venv/bin/python -m bench.routing_bench            # median and p99 µs per request shape
    .venv/bin/python -m bench.routing_bench --tokens   # token estimate vs real tokenizers

The ``--tokens`` comparison uses tiktoken (a litellm dependency) with the encodings litellm ships,
so it runs offline.
"""

from __future__ import annotations

import argparse
import gc
import glob
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.catalog import Catalog
from gateway.routing import Decision, Health, Router, extract_features
from gateway.routing.tokens import text_tokens

MODELS = 50
ROOT = Path(__file__).resolve().parent.parent


def synthetic_catalog(models: int = MODELS) -> Catalog:
    """``models`` models over three providers with spread-out scores, prices, windows and
    supports; a few deprecated and retired; chain, weighted and capability routes."""
    providers = [
        {"id": f"p{i}", "kind": "openai-compatible", "base_url": f"http://127.0.0.1:{9000 + i}/v1"} for i in range(3)
    ]
    specs: list[dict[str, Any]] = []
    for i in range(models):
        status = "retired" if i % 17 == 16 else "deprecated" if i % 11 == 10 else "active"
        spec: dict[str, Any] = {
            "id": f"model-{i:02d}",
            "provider": f"p{i % 3}",
            "context_window": (8_000, 32_000, 128_000, 200_000, 1_000_000)[i % 5],
            "max_output_tokens": (4_096, 8_192, 16_384, 32_000, 64_000)[i % 5],
            "capabilities": {
                "reasoning": (i * 7) % 11,
                "creativity": (i * 3) % 11,
                "precision": (i * 5) % 11,
                "speed": 10 - (i * 7) % 11,
                "context": (i % 5) * 2.5,
            },
            "supports": {"tools": i % 4 != 0, "vision": i % 3 != 0, "json": i % 2 == 0},
            "prices": {"input_per_mtok": 0.05 * (1 + i % 13) ** 1.5, "output_per_mtok": 0.2 * (1 + i % 13) ** 1.5},
            "status": status,
        }
        if status != "active":
            spec["successor"] = f"model-{(i + 1) % models:02d}"
        specs.append(spec)
    routes = [
        {"name": "chain", "models": [f"model-{i:02d}" for i in range(0, 10)]},
        {
            "name": "ab",
            "strategy": "weighted",
            "variants": [
                {"name": "a", "weight": 90, "models": ["model-01", "model-02", "model-03"]},
                {"name": "b", "weight": 10, "models": ["model-04", "model-05"]},
            ],
        },
        {"name": "planner", "strategy": "capability", "weights": {"reasoning": 3, "precision": 2}},
    ]
    return Catalog.from_dict({"providers": providers, "models": specs, "routes": routes,
                              "components": {"planner": "planner"}})  # fmt: skip


def _messages(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": text}]


SHAPES: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "auto, short chat": ("auto", {"messages": _messages("Hi! What's a good name for a cat?")}, {}),
    "auto, 60k-token prompt + tools": (
        "auto",
        {
            "messages": _messages("Summarise this log:\n" + "INFO request served in 12 ms\n" * 8_000),
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        },
        {},
    ),
    "auto, code + JSON + image + hint header": (
        "auto",
        {
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Fix this:\n```python\ndef f(x): return x[0]\n```"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ]},
            ],
            "response_format": {"type": "json_object"},
            "max_tokens": 2000,
        },
        {"x-grove-capabilities": "reasoning=3,precision=2,speed=1"},
    ),
    "auto via component (route weights)": ("auto", {"messages": _messages("Plan the migration.")}, {}),
    "chain route (10 models)": ("chain", {"messages": _messages("Hello")}, {}),
    "weighted route": ("ab", {"messages": _messages("Hello"), "user": "user-42"}, {}),
    "model id": ("model-07", {"messages": _messages("Hello")}, {}),
}


def measure(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    for _ in range(min(runs, 500)):
        fn()
    samples = []
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter_ns()
            fn()
            samples.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def bench(runs: int) -> None:
    catalog = synthetic_catalog()
    router = Router(catalog)
    keys = [f"model-{i:02d}@1" for i in range(MODELS)]
    health = Health(
        open=frozenset(keys[::9]),
        latency_ms={k: 200.0 + 37 * (i % 13) for i, k in enumerate(keys)},
        error_rate={k: 0.01 * (i % 5) for i, k in enumerate(keys)},
    )
    print(f"{MODELS}-model catalog, {runs} runs per shape, health for every model (every 9th breaker open)")
    print(f"{'shape':42} {'median µs':>10} {'p99 µs':>8}   chain")
    for name, (model, body, headers) in SHAPES.items():
        component = "planner" if "component" in name else None

        def run(model: str = model, body: dict[str, Any] = body, headers: dict[str, str] = headers,
                component: str | None = component) -> Decision:  # fmt: skip
            features = extract_features(body, headers)
            return router.decide(model, features, component=component, sticky_id="req-1", health=health)

        median, p99 = measure(run, runs)
        print(f"{name:42} {median:10.1f} {p99:8.1f}   {' > '.join(run().chain)}")


def _encodings() -> dict[str, Callable[[str], int]]:
    spec = importlib.util.find_spec("litellm")  # finds the package without importing it (6 s)
    assert spec is not None and spec.submodule_search_locations
    cache = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    import tiktoken

    out: dict[str, Callable[[str], int]] = {}
    for name in ("o200k_base", "cl100k_base"):
        encoding = tiktoken.get_encoding(name)
        out[name] = lambda text, e=encoding: len(e.encode(text, disallowed_special=()))
    return out


SAMPLES = {
    "zh": "人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的方式做出反应的智能机器。"
    "请帮我写一份关于项目进度的周报，包括本周完成的工作、遇到的问题以及下周的计划。",
    "ja": "人工知能とは、人間の知的能力をコンピュータ上で実現する様々な技術やソフトウェア、コンピュータシステムのことです。"
    "明日の会議の議題をまとめて、参加者全員にメールで送ってください。",
    "ko": "인공지능은 인간의 학습능력, 추론능력, 지각능력을 인공적으로 구현하려는 컴퓨터 과학의 세부분야 중 하나이다. "
    "다음 보고서를 요약하고 주요 결론을 알려 주세요.",
    "ru": "Искусственный интеллект — свойство интеллектуальных систем выполнять творческие функции, которые "
    "традиционно считаются прерогативой человека. Пожалуйста, напишите краткое резюме документа.",
    "de": "Künstliche Intelligenz ist ein Teilgebiet der Informatik, das sich mit der Automatisierung intelligenten "
    "Verhaltens befasst. Bitte fasse den folgenden Bericht zusammen und nenne die wichtigsten Ergebnisse.",
    "ar": "الذكاء الاصطناعي هو سلوك وخصائص معينة تتسم بها البرامج الحاسوبية تجعلها تحاكي القدرات الذهنية البشرية. "
    "من فضلك لخص التقرير التالي واذكر أهم النتائج.",
}


def token_accuracy() -> None:
    texts: dict[str, list[str]] = {}
    prose = sorted(glob.glob("/usr/share/common-licenses/*")) + [str(ROOT / "README.md")]
    code = sorted(glob.glob(str(ROOT / "gateway" / "**" / "*.py"), recursive=True))
    for kind, paths in (("prose", prose), ("python", code)):
        for path in paths:
            try:
                texts.setdefault(kind, []).append(Path(path).read_text(encoding="utf-8")[:20_000])
            except (OSError, UnicodeDecodeError):
                continue
    catalog = synthetic_catalog().to_dict()
    texts["json"] = [__import__("json").dumps(catalog, indent=1)]
    for lang, text in SAMPLES.items():
        texts[lang] = [text * 4]
    encodings = _encodings()
    print(f"{'text':8} {'chars':>8}  " + "  ".join(f"{n + ' est/real':>20}" for n in encodings))
    for kind, items in texts.items():
        estimate = sum(text_tokens(t) for t in items)
        cells = []
        for count in encodings.values():
            real = sum(count(t) for t in items)
            cells.append(f"{estimate:8.0f}/{real:<8} {estimate / real:4.2f}")
        print(f"{kind:8} {sum(map(len, items)):8}  " + "  ".join(f"{c:>20}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--tokens", action="store_true", help="compare the token estimate with tiktoken")
    args = parser.parse_args(argv)
    if args.tokens:
        token_accuracy()
    else:
        bench(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
