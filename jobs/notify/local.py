"""Delivery to a folder on this machine (the command line, embedded use): ``chat`` is the folder, the
result lands in it as ``<job id>.jpg`` and the status is written next to it as ``<job id>.txt``."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from jobs.errors import ChatUnavailable
from jobs.notify import Target
from jobs.results import Result


def _safe(job_id: str) -> str:
    return job_id.replace(":", "_").replace("/", "_")


class LocalNotifier:
    platform = "local"

    async def status(self, target: Target, text: str) -> None:
        await asyncio.to_thread(self._write, target, ".txt", text.encode())

    async def notice(self, target: Target, text: str) -> None:
        await self.status(target, text)

    async def deliver(self, target: Target, result: Result, caption: str) -> str:
        path = await asyncio.to_thread(self._write, target, ".jpg", result.data)
        return f"file:{path}"

    async def resend(self, target: Target, ref: str, caption: str) -> str:
        source = Path(ref.removeprefix("file:"))
        destination = Path(target.delivery.chat) / f"{_safe(target.job_id)}.jpg"
        if source != destination:
            await asyncio.to_thread(shutil.copyfile, source, destination)
        return f"file:{destination}"

    async def close(self) -> None:
        return None

    @staticmethod
    def _write(target: Target, suffix: str, data: bytes) -> Path:
        folder = Path(target.delivery.chat)
        if not folder.is_dir():
            raise ChatUnavailable(f"no folder {folder}")
        path = (folder / f"{_safe(target.job_id)}{suffix}").resolve()
        tmp = path.with_suffix(suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # never a half-written result
        return path
