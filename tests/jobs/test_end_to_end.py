"""The real classic engine through the embedded queue (``open_queue`` without Redis: the in-process
runner) on the real photos: the astronaut's face onto Tom Hanks, inputs and result as local files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from bot.texts import Catalogue
from db.jobs import Delivery, get
from db.session import Database
from engine.base import FaceEngine
from engine.factory import EngineSpec, build_engine
from jobs.config import WorkerConfig
from jobs.queue import open_queue
from jobs.request import InputRef, JobRequest
from tests.conftest import encode
from tests.db.conftest import make_user
from tests.jobs.conftest import queue_config, until


async def test_astronaut_onto_hanks_through_the_in_process_runner(
    sqlite: Database, astronaut: np.ndarray, hanks: np.ndarray, tmp_path: Path
) -> None:
    source, target = tmp_path / "astronaut.png", tmp_path / "hanks.png"
    source.write_bytes(encode(astronaut))
    target.write_bytes(encode(hanks))
    out = tmp_path / "out"
    out.mkdir()
    engines = []

    def classic(spec: EngineSpec) -> FaceEngine:
        engines.append(build_engine(spec))
        return engines[-1]

    config = WorkerConfig(
        sqlite.url.render_as_string(), queue=queue_config(redis_url=None), engine=EngineSpec()
    )
    queue = await open_queue(config, db=sqlite, engine_factory=classic, texts=Catalogue())
    try:
        user = await make_user(sqlite, balance=2)
        ticket = await queue.client.submit(
            JobRequest(
                user,
                "swap",
                InputRef.local(target),
                InputRef.local(source),
                delivery=Delivery("local", str(out)),
            )
        )

        async def finished() -> bool:
            async with sqlite.session() as session:
                return (await get(session, ticket.job_id)).status in ("succeeded", "failed")

        await until(finished, 120, "the swap")
        async with sqlite.session() as session:
            job = await get(session, ticket.job_id)
    finally:
        await queue.close()

    assert (job.status, job.error_code) == ("succeeded", None)
    result_path = Path(job.result_ref.removeprefix("file:"))
    assert result_path.parent == out.resolve()
    result = cv2.imdecode(np.frombuffer(result_path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert result.shape == hanks.shape
    (face,) = engines[0].detect(hanks)
    x1, y1, x2, y2 = (int(v) for v in face.box)
    diff = np.abs(result.astype(np.int16) - hanks.astype(np.int16)).mean(axis=2)
    inside = diff[y1:y2, x1:x2].mean()
    outside = np.concatenate([diff[:, : max(1, x1 - 40)].ravel(), diff[:, x2 + 40 :].ravel()]).mean()
    assert inside > 8.0  # a different face is there now
    assert outside < 3.0  # far from the face only JPEG noise
    assert (out / f"{ticket.job_id.replace(':', '_')}.txt").read_text() == "Done."
