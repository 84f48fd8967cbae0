"""Everything swapbot keeps: models, session factory, repositories, migrations runner (no bot/jobs/engine)."""
