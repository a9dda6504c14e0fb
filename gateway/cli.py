"""``grove-gateway``: serve, demo, models, config check, config schema, route explain."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway import cpupin, jsonio
from gateway.settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except SettingsError as exc:
        print(f"grove-gateway: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grove-gateway", description="An OpenAI-compatible LLM gateway.")
    sub = parser.add_subparsers(title="commands")

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", help="listen address (GROVE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (GROVE_PORT, default 8080)")
    serve.add_argument("--config", type=Path, help="config directory (GROVE_CONFIG_DIR, default ./config)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(run=_serve)

    demo = sub.add_parser("demo", help="run the gateway against built-in fake providers (no keys needed)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.set_defaults(run=_demo)

    models = sub.add_parser("models", help="list the configured models")
    models.add_argument("--config", type=Path, help="config directory (default ./config)")
    models.set_defaults(run=_models)

    config = sub.add_parser("config", help="check the config, or print its JSON Schema")
    config_sub = config.add_subparsers(title="config commands")
    check = config_sub.add_parser("check", help="validate the config directory")
    check.add_argument("--config", type=Path, help="config directory (default ./config)")
    check.set_defaults(run=_config_check)
    schema = config_sub.add_parser("schema", help="print the JSON Schema of config files")
    schema.set_defaults(run=_config_schema)

    route = sub.add_parser("route", help="explain routing decisions")
    route_sub = route.add_subparsers(title="route commands")
    explain = route_sub.add_parser("explain", help="print the decision for a request, calling no upstream")
    explain.add_argument("--config", type=Path, help="config directory (default ./config)")
    explain.add_argument("--model", help="the request's model (a model id, a route, or auto)")
    explain.add_argument("--prompt", help="a user message")
    explain.add_argument("--request", type=Path, help="a chat-completions request body (JSON file)")
    explain.add_argument("--component", help="as the x-grove-component header")
    explain.add_argument("--capabilities", help="as the x-grove-capabilities header, e.g. reasoning=3,speed=1")
    explain.set_defaults(run=_route_explain)
    return parser


def _config_dir(args: argparse.Namespace) -> Path:
    return args.config if args.config is not None else Settings.from_env().config_dir


def _config_check(args: argparse.Namespace) -> int:
    from gateway.catalog import ConfigError, load_catalog

    path = _config_dir(args)
    try:
        catalog = load_catalog(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        print(f"config check: {len(exc.issues)} error(s) in {path}", file=sys.stderr)
        return 1
    for warning in catalog.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"config ok: {len(catalog.providers)} providers, {len(catalog.models)} models, "
        f"{len(catalog.routes)} routes, {len(catalog.keys)} keys (version {catalog.version})"
    )
    return 0


def _config_schema(args: argparse.Namespace) -> int:
    from gateway.catalog import json_schema

    sys.stdout.write(jsonio.dumps_pretty(json_schema()).decode() + "\n")
    return 0


def _models(args: argparse.Namespace) -> int:
    from gateway.catalog import ConfigError, format_models_table, load_catalog

    try:
        catalog = load_catalog(_config_dir(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(format_models_table(catalog))
    return 0


def _route_explain(args: argparse.Namespace) -> int:
    from gateway.catalog import ConfigError, load_catalog
    from gateway.errors import GatewayError
    from gateway.routing import Router, extract_features

    if args.request is not None:
        body = jsonio.loads(args.request.read_bytes())
    else:
        body = {"messages": [{"role": "user", "content": args.prompt or ""}]}
    if args.model:
        body["model"] = args.model
    if not isinstance(body, dict) or not body.get("model"):
        print("route explain: give --model, or a --request body with a model", file=sys.stderr)
        return 2
    headers = {}
    if args.capabilities:
        headers["x-grove-capabilities"] = args.capabilities
    try:
        catalog = load_catalog(_config_dir(args))
        decision = Router(catalog).decide(body["model"], extract_features(body, headers), component=args.component)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except GatewayError as exc:
        print(f"route explain: {exc.status} {exc.message}", file=sys.stderr)
        return 1
    sys.stdout.write(jsonio.dumps_pretty(decision.to_dict(), sort_keys=False).decode() + "\n")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.httpserver import HttpProtocol

    # Workers are separate processes that build their app from the environment.
    if args.host:
        os.environ["GROVE_HOST"] = args.host
    if args.port:
        os.environ["GROVE_PORT"] = str(args.port)
    if args.config:
        os.environ["GROVE_CONFIG_DIR"] = str(args.config)
    settings = Settings.from_env()
    _configure_logging(settings.log_level)
    os.environ[cpupin.ENV] = "1" if cpupin.should_pin(args.workers) else "0"
    uvicorn.run(
        "gateway.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        loop="uvloop",
        http=HttpProtocol,
        access_log=False,
        server_header=False,  # no "server: uvicorn": nothing to advertise, a header less per response
        limit_concurrency=settings.max_connections,  # uvicorn's own: past it, 503 (a worker's memory bounded)
        log_level=settings.log_level,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    _configure_logging("info")
    return run_demo(args.host, args.port)


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
