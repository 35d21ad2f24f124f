"""The health model in force: the shipped one, or a team's file re-read when it changes.

A file that turns invalid while csdesk runs is refused (logged, with its problems) and the last good model
stays in force; at start there is no last good model, so an invalid file stops the start.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.auth.audit import record
from store.database.models import AuditEvent
from store.health.model import HealthModel, ModelFileError, default_model, load_model

logger = logging.getLogger(__name__)
AUDIT_ACTION = "health_model.apply"


class HealthModelSource:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp = self._stat()
        self._model = load_model(path) if path is not None else default_model()
        # The newest refusal of the file, until a valid version of it is read.
        self.refusal: str | None = None

    def _stat(self) -> tuple[float, int] | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime, stat.st_size

    def current(self) -> HealthModel:
        """The model in force, re-read first if its file changed."""
        stamp = self._stat()
        if self.path is not None and stamp != self._stamp:
            self._stamp = stamp
            try:
                self._model = load_model(self.path)
                self.refusal = None
                logger.warning("health model %s read from %s", self._model.id, self.path)
            except ModelFileError as refused:
                self.refusal = str(refused)
                logger.error("%s\nthe model in force stays %s", refused, self._model.id)
        return self._model


async def record_model_in_force(session: AsyncSession, model: HealthModel, *, at: datetime, principal: str) -> bool:
    """Audit the model assessments are about to use, when it is not the one last audited; True if it was new."""
    # By entity and a fixed entity id, the audit trail's index finds it at any size.
    last = await session.scalar(select(AuditEvent.after).where(AuditEvent.entity == "health_model",
                                                               AuditEvent.entity_id == 0)
                                .order_by(AuditEvent.id.desc()).limit(1))
    before = last if isinstance(last, dict) else None
    if before is not None and before.get("model") == model.id:
        return False
    record(session, principal=principal, action=AUDIT_ACTION, entity="health_model", entity_id=0,
           at=at, before=before, after={"model": model.id, "name": model.name, "version": model.version,
                                        "source": model.source})
    return True
