"""/report [reason] as a reply to a result (anyone), and the admins' /reports with its signed confirm /
dismiss / ban buttons. Rules: bot/flows/reports.py."""

from __future__ import annotations

import structlog
from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.flows import reports as flow
from bot.people import Translate
from bot.services import Services
from bot.signing import verify
from bot.telegram.filters import Admin
from bot.telegram.keyboards import ReportAction, report_buttons, report_payload
from db.models import User

log = structlog.get_logger("bot.telegram.reports")

ACTIONS = tuple(action.value for action in flow.Action)


async def report(
    message: Message, command: CommandObject, user: User, services: Services, t: Translate, bot: Bot
) -> None:
    target = message.reply_to_message
    if target is None:
        await message.answer(t("report_usage"))
        return
    made = await flow.report(services, user, str(message.chat.id), str(target.message_id), command.args)
    await message.answer(t(made.code))
    if made.made:
        await tell_admins(bot, services, made)


async def tell_admins(bot: Bot, services: Services, made: flow.Made) -> None:
    """Each Telegram admin gets the report in a message of its own (best effort: an admin who never
    started the bot cannot be written to, and the report stands anyway)."""
    for admin_id, text in await flow.admin_notices(services, "telegram", made):
        try:
            await bot.send_message(int(admin_id), text)
        except Exception as exc:  # the report is recorded; /reports shows it
            log.info("admin not told of a report", admin=admin_id, error=repr(exc))


async def reports(message: Message, user: User, services: Services, t: Translate) -> None:
    listed = await flow.open_reports(services)
    if not listed:
        await message.answer(t("reports_none"))
        return
    for item in listed:
        text = t(
            "reports_item",
            id=item.id,
            job=item.job_id or "-",
            owner=item.owner,
            reporter=item.reporter,
            reason=item.reason or t("report_no_reason"),
            confirmed=item.confirmed,
            threshold=services.config.report_ban_threshold,
        )
        markup = report_buttons(t, services.config.secret_key, user.external_id, item.id, ACTIONS)
        await message.answer(text, reply_markup=markup)


async def decide(
    query: CallbackQuery, callback_data: ReportAction, user: User, services: Services, t: Translate
) -> None:
    payload = report_payload(callback_data.report, callback_data.action)
    signed = verify(services.config.secret_key, user.external_id, payload, callback_data.sig)
    if (
        not signed
        or not services.config.is_admin(user.platform, user.external_id)
        or callback_data.action not in ACTIONS
    ):
        await query.answer(t("admin_only"), show_alert=True)
        return
    decided = await flow.decide(
        services, callback_data.report, flow.Action(callback_data.action), f"telegram:{user.external_id}"
    )
    text = t(
        decided.code, id=decided.report_id, who=decided.who, count=decided.count, threshold=decided.threshold
    )
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text)


def build() -> Router:
    router = Router(name="reports")
    router.message(Command("report"))(report)
    router.message(Command("reports"), Admin())(reports)
    router.callback_query(ReportAction.filter())(decide)
    return router
