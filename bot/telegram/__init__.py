"""The Telegram bot (aiogram 3): the dispatcher and its middlewares (app.py, middlewares/), one router
per feature (routers/), keyboards; polling and webhook start-up. Flows live in bot/flows, not here."""
