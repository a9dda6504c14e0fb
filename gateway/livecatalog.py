"""The live catalog: config files + runtime changes, the same on every replica within a second.

Promises:
- The effective catalog is the config files with the runtime changes (``gateway.overlay``) on
  top. The changes live in the store under ``OVERLAY_KEY``, so they survive restarts and every
  replica sees them; they are applied at start and on every reload of the files.
- ``change(edit)`` applies one runtime change: it reads the stored changes, lets ``edit`` derive
  the new ones, validates files + changes exactly as a config is validated, and stores them
  together with the new published catalog in one compare-and-set (``Store.doc_write``). A
  concurrent change on another replica makes it redo the edit on top of that one, so no change is
  lost and what is published always matches what is stored.
- The published catalog wins. Every replica checks ``grove:registry:current`` every
  ``sync_interval_s`` (one GET) and installs the catalog published under a version it does not
  serve. A replica publishes its own files + the stored changes when it starts, when its files
  change (the watcher, or ``reload()``), and with each runtime change it applies; so if the files
  differ between replicas, the files of the replica that published last are the ones served.
  Keep the files the same on every replica (one image, one ConfigMap).
- The watcher (off with ``reload_interval_s=None``) reads the config files in a thread every
  ``reload_interval_s`` and reloads when their contents change. A reload that does not validate
  is rejected: logged with every ``file:line key.path: message``, announced as
  ``config.rejected``, and the previous catalog keeps serving. A valid one installs, publishes
  and is announced as ``config.reloaded``.
- Parsing, validation and building snapshots run in threads, never on the event loop; the
  snapshot swap is one assignment (``Registry.swap``), so requests in flight are not disturbed.
- With the store unreachable, the replica keeps serving what it has; a runtime change answers
  503; a reload installs locally and is published once the store answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gateway.catalog import Catalog, ConfigError, ConfigIssue, load_catalog, read_config_files
from gateway.configwatch import every, fingerprint
from gateway.errors import InvalidConfig, ServiceUnavailable
from gateway.outage import Outage
from gateway.overlay import Overlay, apply, shadowed
from gateway.registry import CATALOG_KEY, CURRENT_KEY, Registry, Snapshot, publication, published_catalog
from gateway.store import StoreUnavailable

log = logging.getLogger("grove.catalog")

OVERLAY_KEY = "grove:registry:overlay"
_ATTEMPTS = 8  # compare-and-set retries of one change before giving up (only under heavy contention)

EventSink = Callable[[str, dict[str, object]], None]


def _no_events(kind: str, data: dict[str, object]) -> None:
    pass


@dataclass(frozen=True, slots=True)
class Edit:
    """What a runtime change produces from the current changes and catalog: the new changes,
    and the event that announces them (``registry_version`` is added to its data)."""

    overlay: Overlay
    event: str
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Applied:
    catalog: Catalog
    previous_version: str

    @property
    def changed(self) -> bool:
        return self.catalog.version != self.previous_version


def issue_dicts(exc: ConfigError) -> list[dict[str, object]]:
    return [asdict(issue) for issue in exc.issues]


def invalid(exc: ConfigError) -> InvalidConfig:
    """The 400 for a change or config that does not validate; ``param`` is the first issue's path."""
    first = exc.issues[0].path if exc.issues else None
    return InvalidConfig(str(exc), issue_dicts(exc), param=first or None)


class LiveCatalog:
    def __init__(self, registry: Registry, config_dir: Path, *, publish_event: EventSink | None = None,
                 sync_interval_s: float = 0.25, reload_interval_s: float | None = 1.0) -> None:
        self.registry = registry
        self.store = registry.store
        self.config_dir = config_dir
        self.publish_event = publish_event or _no_events
        self.sync_interval_s = sync_interval_s
        self.reload_interval_s = reload_interval_s
        self._lock = asyncio.Lock()  # one catalog change at a time in this process
        self._files = Catalog()
        self._overlay = Overlay()
        self._unpublished = False  # installed while the store was unreachable: publish when it is back
        self._unusable: str | None = None  # a published version this replica could not build
        self._fingerprint = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._outage = Outage(log, "catalog publication")

    @property
    def files(self) -> Catalog:
        """The catalog of this replica's config files alone."""
        return self._files

    @property
    def watching(self) -> bool:
        """Whether the config-file watcher runs."""
        return any(task.get_name() == "config-watch" and not task.done() for task in self._tasks)

    # --- life cycle ------------------------------------------------------------------------

    async def start(self, files: Catalog | None = None) -> Snapshot:
        """Load the files (or take ``files``), apply the stored changes, install and publish.
        Raises ConfigError when the files, or the files with the stored changes, do not validate."""
        if self.reload_interval_s is not None:
            self._fingerprint = await asyncio.to_thread(fingerprint, self.config_dir)
        if files is None:
            files = await asyncio.to_thread(load_catalog, self.config_dir)
        async with self._lock:
            await self._publish_files(files)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(every(self.sync_interval_s, self.sync), name="catalog-sync"))
        if self.reload_interval_s is not None:
            self._tasks.append(loop.create_task(every(self.reload_interval_s, self.watch), name="config-watch"))
        return self.registry.snapshot

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()

    # --- runtime changes -------------------------------------------------------------------

    async def change(self, edit: Callable[[Overlay, Catalog], Edit]) -> Applied:
        """Apply one runtime change. ``edit`` may run more than once (when another replica
        changed the catalog meanwhile) and raises the 4xx errors of the change itself; a
        result that does not validate raises InvalidConfig; an unreachable store, 503."""
        async with self._lock:
            for _ in range(_ATTEMPTS):
                revision, overlay = await self._read_changes()
                current = await self._build(self._files, overlay)
                done = edit(overlay, current)
                catalog = await self._build(self._files, done.overlay)
                try:
                    stored = await self.store.doc_write(OVERLAY_KEY, revision, done.overlay.encode(),
                                                        publication(catalog))
                except StoreUnavailable:
                    raise _store_down() from None
                if stored is None:
                    continue
                self._overlay = done.overlay
                await self._install(catalog)
                if catalog.version != current.version:
                    self._emit(done.event, {**done.data, "registry_version": catalog.version})
                return Applied(catalog, current.version)
        raise ServiceUnavailable("The catalog kept changing while this change was being applied; try again.")

    async def _read_changes(self) -> tuple[int, Overlay]:
        try:
            revision, raw = await self.store.doc_read(OVERLAY_KEY)
        except StoreUnavailable:
            raise _store_down() from None
        try:
            return revision, await asyncio.to_thread(Overlay.decode, raw)
        except ConfigError as exc:
            raise ServiceUnavailable(f"The runtime changes stored under {OVERLAY_KEY} cannot be read, so no "
                                     f"change is possible: {exc}") from None

    async def _build(self, files: Catalog, overlay: Overlay) -> Catalog:
        try:
            return await asyncio.to_thread(apply, files, overlay)
        except ConfigError as exc:
            raise invalid(exc) from None

    # --- files -------------------------------------------------------------------------------

    async def reload(self, *, source: str = "admin") -> Applied:
        """Reload the config files now. Raises ConfigError (after logging it and announcing
        ``config.rejected``) when they, or they with the runtime changes, do not validate."""
        async with self._lock:
            previous = self.registry.snapshot.version
            try:
                files = await asyncio.to_thread(load_catalog, self.config_dir)
                catalog = await self._publish_files(files)
            except ConfigError as exc:
                log.error("config reload rejected, still serving version %s:\n%s", previous, exc)
                self._emit("config.rejected", {"source": source, "registry_version": previous,
                                               "errors": issue_dicts(exc)})  # fmt: skip
                raise
        if catalog.version != previous:
            log.info("config reloaded (%s): version %s -> %s", source, previous, catalog.version)
            self._emit("config.reloaded", {"source": source, "previous_version": previous,
                                           "registry_version": catalog.version})  # fmt: skip
        return Applied(catalog, previous)

    async def watch(self) -> None:
        """One look at the config files: reload if their contents changed since the last look."""
        seen = await asyncio.to_thread(fingerprint, self.config_dir)
        if seen == self._fingerprint:
            return
        self._fingerprint = seen
        try:
            await self.reload(source="watch")
        except ConfigError:
            pass  # logged and announced; the previous catalog keeps serving

    async def check(self, texts: Mapping[str, str]) -> Catalog:
        """The catalog a reload would install if ``texts`` (file name → YAML) replaced their
        namesakes in the config directory (or joined it); raises ConfigError, applies nothing."""
        files, issues = await asyncio.to_thread(read_config_files, self.config_dir)
        merged = {path: text for path, text in files.items() if Path(path).name not in texts}
        merged.update(texts)
        ordered = dict(sorted(merged.items(), key=lambda item: Path(item[0]).name))
        catalog = await asyncio.to_thread(Catalog.from_yaml_text, ordered, issues)
        try:
            overlay = Overlay.decode((await self.store.doc_read(OVERLAY_KEY))[1])
        except StoreUnavailable:
            overlay = self._overlay
        return await asyncio.to_thread(apply, catalog, overlay)

    async def reset(self) -> Applied:
        """Drop every runtime change: the files alone serve (everywhere)."""
        return await self.change(lambda overlay, current: Edit(Overlay(), "config.reloaded", {"source": "reset"}))

    async def _publish_files(self, files: Catalog) -> Catalog:
        """Install files + the stored changes and publish them (unless the store is down).
        Runs under the lock; raises ConfigError."""
        for _ in range(_ATTEMPTS):
            try:
                revision, raw = await self.store.doc_read(OVERLAY_KEY)
                overlay = await asyncio.to_thread(Overlay.decode, raw)
            except StoreUnavailable as exc:
                self._outage.failed(exc, "using the runtime changes last seen")
                revision, overlay = -1, self._overlay
            else:
                self._outage.ok()
            catalog = await asyncio.to_thread(apply, files, overlay)
            stored: int | None = -1
            if revision >= 0:
                try:
                    stored = await self.store.doc_write(OVERLAY_KEY, revision, None, publication(catalog))
                except StoreUnavailable:
                    revision = -1
            if stored is None:
                continue  # a runtime change landed meanwhile: apply the files to it instead
            self._unpublished = revision < 0
            self._files, self._overlay = files, overlay
            hidden = shadowed(files, overlay)
            if hidden:
                log.warning("runtime changes override these config file entries: %s", ", ".join(hidden))
            await self._install(catalog)
            return catalog
        raise ConfigError([ConfigIssue(OVERLAY_KEY, None, "", "kept changing while the files were applied")])

    # --- other replicas ----------------------------------------------------------------------

    async def sync(self) -> None:
        """One look at the published version: install the published catalog if it is another."""
        try:
            if self._unpublished:
                async with self._lock:
                    await self._publish_files(self._files)
            raw = await self.store.get(CURRENT_KEY)
        except StoreUnavailable:
            return  # keep serving what we have; the next look may reach it
        except ConfigError as exc:  # the stored changes no longer fit our files: keep what we have
            log.error("could not publish this replica's catalog:\n%s", exc)
            self._unpublished = False
            return
        if raw is None or raw.decode() in (self.registry.snapshot.version, self._unusable):
            return
        async with self._lock:
            await self._install_published()

    async def _install_published(self) -> None:
        try:
            raw = await self.store.get(CURRENT_KEY)
            if raw is None or raw.decode() == self.registry.snapshot.version:
                return  # a change of ours got there while we waited for the lock
            version = raw.decode()
            body = await self.store.get(CATALOG_KEY.format(version=version))
        except StoreUnavailable:
            return
        try:
            if body is None:
                raise ConfigError([ConfigIssue(CATALOG_KEY.format(version=version), None, "", "is missing")])
            catalog = await asyncio.to_thread(published_catalog, body)
        except (ConfigError, ValueError) as exc:
            self._unusable = version
            log.error("cannot install published registry version %s, still serving %s: %s", version,
                      self.registry.snapshot.version, exc)
            return
        await self._install(catalog)
        log.info("installed registry version %s published by another replica", version)

    # --- installing --------------------------------------------------------------------------

    async def _install(self, catalog: Catalog) -> None:
        if self.registry.loaded and self.registry.snapshot.version == catalog.version:
            return
        snapshot = await asyncio.to_thread(Snapshot, catalog, self.registry.env)
        self.registry.swap(snapshot)

    def _emit(self, kind: str, data: dict[str, object]) -> None:
        try:
            self.publish_event(kind, data)
        except Exception:  # an event sink's failure must not undo or fail the change
            log.exception("publishing event %s failed", kind)


def _store_down() -> ServiceUnavailable:
    return ServiceUnavailable("The shared store is unreachable, so the catalog cannot be changed now; "
                              "the gateway keeps serving the current one. Try again.")
