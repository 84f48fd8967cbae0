"""Caricatures: a photo, a style (exactly what the workers offer: ``services.config.caricature_styles``)
and a strength, as one paid job over every face of the photo."""

from __future__ import annotations

from bot.flows.base import Answer, OpenStatus, Photo, check_photo, nsfw_param, submit
from bot.services import Services
from db.models import JobKind, User
from jobs.request import JobRequest

# The strengths offered as buttons (jobs.params allows 0 to 3): mild, normal, strong.
STRENGTHS = (0.5, 1.0, 2.0)


def styles(services: Services) -> tuple[str, ...]:
    return services.config.caricature_styles


async def caricature(
    services: Services, user: User, photo: Photo, style: str, strength: float, open_status: OpenStatus
) -> Answer:
    refused = check_photo(services, photo)
    if refused is not None:
        return refused
    if style not in services.config.caricature_styles:
        return Answer("stylizer_unavailable", {"style": style})
    if strength not in STRENGTHS:
        return Answer("bad_strength", {"strengths": ", ".join(f"{s:g}" for s in STRENGTHS)})
    delivery = await open_status()
    request = JobRequest(
        user_id=user.id,
        kind=JobKind.CARICATURE,
        target=photo.ref,
        params={"style": style, "strength": strength, "faces": None, **nsfw_param(photo)},
        cost=services.config.caricature_cost,
        delivery=delivery,
    )
    return await submit(services, request, delivery)
