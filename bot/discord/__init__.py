"""The Discord bot: discord.py client, cogs, context menus and signed buttons (DESIGN: bot/discord)."""
