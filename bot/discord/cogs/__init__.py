"""One cog per feature; each is thin: it reads the interaction, calls a flow in bot/flows, answers.
The list of cogs is ``registry.all_cogs``; the work commands' cooldown is ``limits``."""
